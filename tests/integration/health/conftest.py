"""Fixtures for health check tests: a tiny loopback HTTP server with programmable answers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

# path -> (status, headers, body)
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class LoopbackServer:
    host: str
    port: int
    routes: dict[str, Answer] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    # The Authorization header of each request (None when absent), in order.
    authorizations: list[str | None] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"


def _serve(host: str) -> tuple[LoopbackServer, ThreadingHTTPServer]:
    state = LoopbackServer(host=host, port=0)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            state.hits.append(self.path)
            state.authorizations.append(self.headers.get("Authorization"))
            status, headers, body = state.routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = _answer  # noqa: N815
        do_HEAD = _answer  # noqa: N815
        do_POST = _answer  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    state.port = int(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server


@pytest.fixture
def loopback_server() -> Iterator[Callable[[str], LoopbackServer]]:
    """`loopback_server("127.0.0.1")`: a started server on that address, stopped after."""
    servers: list[ThreadingHTTPServer] = []

    def start(host: str = "127.0.0.1") -> LoopbackServer:
        state, server = _serve(host)
        servers.append(server)
        return state

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
