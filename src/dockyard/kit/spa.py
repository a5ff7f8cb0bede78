"""Serve the built single-page app with history fallback."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from dockyard.kit.errors import NotFoundError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

_MISSING_UI = """<!doctype html><html><head><meta charset="utf-8"><title>Dockyard</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto;">
<h1>Dockyard</h1><p>The API is running, but the web UI has not been built.
Run <code>make build-ui</code> (or <code>make run</code>) and reload.</p>
<p>API documentation: <a href="/api/docs">/api/docs</a></p></body></html>"""


def mount_spa(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Files under `static_dir` by path; any other non-API GET gets `index.html`."""
    root = static_dir.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def spa(path: str, request: Request) -> Response:
        if path.startswith("api/") or path == "api":
            raise NotFoundError(f"No API route {request.url.path}.")
        index = root / "index.html"
        if path:
            candidate = (root / path).resolve()
            # Resolve and re-check: `..` or symlinks must not leave the static folder.
            if candidate.is_relative_to(root) and candidate.is_file():
                cache = (
                    "public, max-age=31536000, immutable"
                    if candidate.parent.name == "assets"
                    else "no-cache"
                )
                return FileResponse(candidate, headers={"Cache-Control": cache})
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(_MISSING_UI, status_code=200)
