"""ASGI middleware: request ids, access log lines, security headers."""

from __future__ import annotations

import json
import re
import time
import uuid

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.kit.errors import error_body

log = structlog.get_logger("dockyard.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
}
# Sent only on HTTPS responses (the scheme comes from the server, never from a header).
HSTS_HEADER = "max-age=31536000; includeSubDomains"


class RequestContextMiddleware:
    """Give every request an id (or keep a sane incoming one), log it, add security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if scope.get("scheme") == "https":
                    headers.setdefault("Strict-Transport-Security", HSTS_HEADER)
            await send(message)

        try:
            # A WebSocket's messages pass unwrapped: there are no response headers to add,
            # and an event goes out as one frame to every open socket.
            await self.app(scope, receive, send_wrapper if scope["type"] == "http" else send)
        except Exception as exc:
            # Handled here, inside the request context, so the log line and the response
            # both carry the request id; Starlette's outer handler would see neither.
            log.error("unhandled_error", exc_info=exc, path=scope.get("path"))
            if scope["type"] != "http" or status_holder["status"]:
                raise
            body = json.dumps(
                error_body(
                    "internal_error",
                    "Something went wrong on the server. Quote the request id when reporting it.",
                    {"request_id": request_id},
                )
            ).encode()
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_wrapper({"type": "http.response.body", "body": body})
        finally:
            if scope["type"] == "http":
                path = scope.get("path", "")
                if path not in ("/healthz",):
                    log.info(
                        "request",
                        method=scope.get("method"),
                        path=path,
                        status=status_holder["status"],
                        duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    )
            structlog.contextvars.unbind_contextvars("request_id")
