"""Serve the built single-page app with history fallback.

There is no catch-all route: a catch-all GET route would turn `POST /api/unknown` into a
405. Instead the 404 handler serves static files and `index.html` for non-API GETs, so
Starlette's own routing answers 404 and 405 correctly for the API.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
NOT_SPA_PREFIXES = ("/api/", "/healthz", "/readyz")

_MISSING_UI = """<!doctype html><html><head><meta charset="utf-8"><title>Dockyard</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto;">
<h1>Dockyard</h1><p>The API is running, but the web UI has not been built.
Run <code>make build-ui</code> (or <code>make run</code>) and reload.</p>
<p>API documentation: <a href="/api/docs">/api/docs</a></p></body></html>"""


def spa_response(root: Path, path: str) -> Response:
    """A file under `root` by path, else `index.html` (the client-side router decides)."""
    relative = path.lstrip("/")
    if relative:
        candidate = (root / relative).resolve()
        # Resolve and re-check: `..` or symlinks must not leave the static folder.
        if candidate.is_relative_to(root) and candidate.is_file():
            cache = (
                "public, max-age=31536000, immutable"
                if candidate.parent.name == "assets"
                else "no-cache"
            )
            return FileResponse(candidate, headers={"Cache-Control": cache})
    index = root / "index.html"
    if index.is_file():
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
    return HTMLResponse(_MISSING_UI, status_code=200)


def mount_spa(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Wrap the 404 handler so non-API GETs get the UI."""
    root = static_dir.resolve()
    api_not_found = app.exception_handlers[StarletteHTTPException]

    async def not_found_or_spa(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        path = request.url.path
        if (
            exc.status_code == 404
            and request.method in ("GET", "HEAD")
            and not path.startswith(NOT_SPA_PREFIXES)
            and path != "/api"
        ):
            return spa_response(root, path)
        response = api_not_found(request, exc)
        return await response if inspect.isawaitable(response) else response

    app.add_exception_handler(StarletteHTTPException, not_found_or_spa)
