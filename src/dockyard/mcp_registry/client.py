"""Probe an MCP server with the official `mcp` SDK client: connect, initialize, list tools.

`check_mcp_server` never raises for a failing server: it returns an `McpCheckResult` with
`healthy=False` and an `error` message. It is used by the MCP registry and by health checks
of kind `mcp`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import httpx2
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

Transport = Literal["streamable_http", "sse"]
_MAX_TOOL_PAGES = 50
_MAX_ERROR = 500


@dataclass(frozen=True)
class McpTool:
    """One tool a server lists."""

    name: str
    description: str | None = None
    input_schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class McpCheckResult:
    """The outcome of one probe; `error` is set when `healthy` is false."""

    healthy: bool
    latency_ms: float
    server_name: str | None = None
    server_version: str | None = None
    protocol_version: str | None = None
    tools: list[McpTool] = field(default_factory=list)
    error: str | None = None

    @property
    def tool_count(self) -> int:
        return len(self.tools)


def _describe(exc: BaseException) -> str:
    """A short, secret-free message for `exc` (unwrapping exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip() or exc.__class__.__name__
    if not text.startswith(exc.__class__.__name__):
        text = f"{exc.__class__.__name__}: {text}"
    return text[:_MAX_ERROR]


async def _probe(
    url: str, transport: Transport, headers: dict[str, str], timeout_s: float
) -> McpCheckResult:
    started = time.perf_counter()
    connector: Any
    if transport == "sse":
        connector = sse_client(url, headers=headers, timeout=timeout_s, sse_read_timeout=timeout_s)
    else:
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(timeout_s))
        connector = streamable_http_client(url, http_client=http)
    tools: list[McpTool] = []
    try:
        async with Client(connector, read_timeout_seconds=timeout_s, cache=None) as client:
            info = client.server_info
            protocol = client.protocol_version
            cursor: str | None = None
            for _ in range(_MAX_TOOL_PAGES):
                page = await client.list_tools(cursor=cursor)
                tools.extend(
                    McpTool(
                        name=tool.name,
                        description=tool.description,
                        input_schema=dict(tool.input_schema or {}),
                    )
                    for tool in page.tools
                )
                cursor = page.next_cursor
                if not cursor:
                    break
    finally:
        if transport != "sse":
            await http.aclose()
    latency = (time.perf_counter() - started) * 1000.0
    return McpCheckResult(
        healthy=True,
        latency_ms=round(latency, 2),
        server_name=info.name if info is not None else None,
        server_version=info.version if info is not None else None,
        protocol_version=protocol,
        tools=tools,
    )


async def check_mcp_server(
    url: str,
    transport: str = "streamable_http",
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
) -> McpCheckResult:
    """Initialize a session with the server at `url`, then list its tools, within `timeout_s`."""
    started = time.perf_counter()
    if transport not in ("streamable_http", "sse"):
        return McpCheckResult(healthy=False, latency_ms=0.0, error=f"unknown transport {transport}")
    try:
        with anyio.fail_after(timeout_s):
            return await _probe(url, transport, dict(headers or {}), timeout_s)  # type: ignore[arg-type]
    except TimeoutError:
        error = f"timed out after {timeout_s:g} s"
    except Exception as exc:  # any failure means unhealthy
        error = _describe(exc)
    latency = (time.perf_counter() - started) * 1000.0
    return McpCheckResult(healthy=False, latency_ms=round(latency, 2), error=error)
