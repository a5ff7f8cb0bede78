"""A real MCP server (the `mcp` SDK's MCPServer under uvicorn) in a subprocess on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveApp, running_app

SCRIPT = Path(__file__).with_name("fixture_server.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FixtureServer:
    """Start/stop the fixture server on a fixed port; `extra_tool` adds a third tool."""

    def __init__(self, transport: str = "streamable_http") -> None:
        self.port = free_port()
        self.transport = transport
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        path = "/sse" if self.transport == "sse" else "/mcp"
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, *, extra_tool: bool = False) -> None:
        args = [sys.executable, str(SCRIPT), str(self.port), self.transport]
        if extra_tool:
            args.append("--extra-tool")
        self.process = subprocess.Popen(args)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("the MCP fixture server exited") from None
                time.sleep(0.1)
        raise RuntimeError("the MCP fixture server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


@pytest.fixture
def mcp_server() -> Iterator[FixtureServer]:
    server = FixtureServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sse_server() -> Iterator[FixtureServer]:
    server = FixtureServer("sse")
    server.start()
    try:
        yield server
    finally:
        server.stop()


__all__ = ["FixtureServer", "free_port", "httpx"]


@pytest.fixture
async def api(db_url: str, app_settings: Any) -> AsyncIterator[LiveApp]:
    """The app without its embedded scheduler: the tests run the periodic tick themselves,
    so a background check never adds to the history they count."""
    async with running_app(app_settings(db_url, run_scheduler=False)) as test_app:
        yield test_app


@pytest.fixture
async def sqlite_url(database_factory: Any) -> str:
    url: str = await database_factory.new("sqlite")
    return url
