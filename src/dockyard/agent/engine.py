"""A lean async client for the agent's own Docker engine (no docker-py, no threads).

One short HTTP/1.1 request per connection over the engine's Unix socket (or TCP for
`tcp://` hosts). Enough for what the agent itself asks: `/_ping`, `/info`, the container
list, one-shot stats and the `/events` stream. It also offers the few `DockerEngine`
methods `dockyard.metrics.collector.collect_sample` uses (`base_url`, `info`,
`list_containers`, `stats_one_shot`), so the agent can hand it over as its engine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote, urlsplit

MAX_RESPONSE_HEAD = 64 * 1024
_IO_ERRORS = (
    OSError,
    TimeoutError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ValueError,
)


class AgentEngineError(Exception):
    """The engine could not be reached or answered with an error."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def parse_docker_host(docker_host: str) -> tuple[str, str | None, int | None]:
    """`("unix", path, None)` or `("tcp", host, port)`."""
    parts = urlsplit(docker_host)
    if parts.scheme == "unix":
        path = parts.path or ""
        if not path.startswith("/"):
            raise ValueError(f"invalid Docker host {docker_host!r}: socket path not absolute")
        return "unix", path, None
    if parts.scheme in ("tcp", "http"):
        if not parts.hostname:
            raise ValueError(f"invalid Docker host {docker_host!r}: no host")
        return "tcp", parts.hostname, parts.port or 2375
    raise ValueError(
        f"unsupported Docker host {docker_host!r} (use unix:///path or tcp://host:port)"
    )


class AgentEngine:
    """The agent's engine, over asyncio streams."""

    def __init__(self, docker_host: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = docker_host
        self.kind, self.host, self.port = parse_docker_host(docker_host)
        self.timeout_s = timeout_s

    @property
    def socket_path(self) -> str | None:
        return self.host if self.kind == "unix" else None

    async def open_connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A new raw connection to the engine (the tunnel pipes streams over these)."""
        try:
            if self.kind == "unix":
                assert self.host is not None
                return await asyncio.wait_for(
                    asyncio.open_unix_connection(self.host, limit=1 << 20), self.timeout_s
                )
            return await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=1 << 20), self.timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise AgentEngineError(self._failure("cannot reach", exc)) from exc

    def _failure(self, what: str, exc: BaseException) -> str:
        return f"{what} the Docker engine at {self.base_url}: {_why(exc)}"

    # -- requests -------------------------------------------------------------------------------

    async def _send(
        self, method: str, path: str, body: bytes | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int, dict[str, str]]:
        reader, writer = await self.open_connection()
        try:
            head = f"{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: dockyard-agent\r\n"
            if body is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            writer.write(head.encode() + b"Connection: close\r\n\r\n" + (body or b""))
            await writer.drain()
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.timeout_s)
        except _IO_ERRORS as exc:
            writer.close()
            raise AgentEngineError(self._failure("failed talking to", exc)) from exc
        lines = raw.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError) as exc:
            writer.close()
            raise AgentEngineError("the Docker engine sent an invalid answer") from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        return reader, writer, status, headers

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """`(status, body)` of one request."""
        data = None if body is None else json.dumps(body).encode()
        reader, writer, status, headers = await self._send(method, path, data)
        try:
            chunks = [c async for c in _body(reader, headers, self.timeout_s)]
        except _IO_ERRORS as exc:
            raise AgentEngineError(self._failure("failed talking to", exc)) from exc
        finally:
            writer.close()
        return status, b"".join(chunks)

    async def get_json(self, path: str) -> Any:
        status, body = await self.request("GET", path)
        if status >= 400:
            raise AgentEngineError(_message(body) or f"engine answered {status}", status=status)
        return json.loads(body)

    async def ping(self) -> None:
        status, _ = await self.request("GET", "/_ping")
        if status != 200:
            raise AgentEngineError(f"engine ping answered {status}", status=status)

    async def info(self) -> dict[str, Any]:
        return dict(await self.get_json("/info"))

    async def version(self) -> dict[str, Any]:
        return dict(await self.get_json("/version"))

    async def list_containers(
        self, *, all: bool = True, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        path = f"/containers/json?all={1 if all else 0}"
        if filters:
            path += "&filters=" + quote(json.dumps(filters))
        return list(await self.get_json(path))

    async def stats_one_shot(self, container: str, *, pool_size: int = 16) -> dict[str, Any]:
        del pool_size  # no thread pool here: every request is its own connection
        return dict(
            await self.get_json(
                f"/containers/{quote(container, safe='')}/stats?stream=false&one-shot=true"
            )
        )

    async def events(
        self,
        *,
        since: str | None = None,
        filters: dict[str, Any] | None = None,
        on_connected: Callable[[], None] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Follow `/events` until the engine closes the stream (then the iterator ends)."""
        path = "/events"
        params = []
        if since:
            params.append(f"since={quote(since)}")
        if filters:
            params.append("filters=" + quote(json.dumps(filters)))
        if params:
            path += "?" + "&".join(params)
        reader, writer, status, headers = await self._send("GET", path, None)
        try:
            if status >= 400:
                body = b"".join([c async for c in _body(reader, headers, self.timeout_s)])
                raise AgentEngineError(_message(body) or f"events answered {status}", status=status)
            if on_connected is not None:
                on_connected()
            decoder = json.JSONDecoder()
            pending = ""
            async for chunk in _body(reader, headers, None):
                pending += chunk.decode("utf-8", errors="replace")
                while True:
                    pending = pending.lstrip()
                    if not pending:
                        break
                    try:
                        event, end = decoder.raw_decode(pending)
                    except ValueError:
                        break  # incomplete: wait for more
                    pending = pending[end:]
                    if isinstance(event, dict):
                        yield event
        except _IO_ERRORS as exc:
            raise AgentEngineError(f"the event stream broke: {_why(exc)}") from exc
        finally:
            writer.close()


async def _body(
    reader: asyncio.StreamReader, headers: dict[str, str], timeout_s: float | None
) -> AsyncIterator[bytes]:
    async def read(coro: Any) -> Any:
        return await (coro if timeout_s is None else asyncio.wait_for(coro, timeout_s))

    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = await read(reader.readuntil(b"\r\n"))
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # trailers up to the empty line (or the end: Connection: close)
                while True:
                    trailer = await read(reader.readline())
                    if trailer in (b"\r\n", b"\n", b""):
                        return
            data = await read(reader.readexactly(size + 2))
            yield data[:-2]
    elif "content-length" in headers:
        remaining = int(headers["content-length"])
        while remaining > 0:
            data = await read(reader.read(min(remaining, 65536)))
            if not data:
                raise asyncio.IncompleteReadError(b"", remaining)
            remaining -= len(data)
            yield data
    else:
        while data := await read(reader.read(65536)):
            yield data


def _message(body: bytes) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace")[:300] or None
    if isinstance(doc, dict) and doc.get("message"):
        return str(doc["message"])
    return None


def _why(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the Docker socket does not exist"
    if isinstance(exc, PermissionError):
        return "permission denied on the Docker socket"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, TimeoutError):
        return "the engine did not answer in time"
    return (str(exc).strip() or exc.__class__.__name__)[:300]
