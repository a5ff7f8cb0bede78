"""A tiny real MCP server for tests: `python fixture_server.py PORT TRANSPORT [--extra-tool]`.

Serves streamable HTTP at /mcp or SSE at /sse on 127.0.0.1:PORT with the tools `add` and
`echo` (and `shout` with --extra-tool).
"""

from __future__ import annotations

import sys

import uvicorn
from mcp.server.mcpserver import MCPServer


def build(extra_tool: bool) -> MCPServer:
    server = MCPServer(name="fixture-mcp", version="1.2.3")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Echo a message back.")
    def echo(message: str) -> str:
        return message

    if extra_tool:

        @server.tool(description="Upper-case a message.")
        def shout(message: str) -> str:
            return message.upper()

    return server


def main() -> None:
    port = int(sys.argv[1])
    transport = sys.argv[2]
    server = build("--extra-tool" in sys.argv)
    app = server.sse_app() if transport == "sse" else server.streamable_http_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
