"""Relaying a tunnel stream to the replica that holds the agent's WebSocket.

With several `dockyard serve` replicas an agent is connected to one of them. Every process
listens on its own tunnel sockets (`dockyard.agent.hub`); a Docker client connecting to one
in a process without the agent's session is relayed, one WebSocket per connection, to the
owning replica's `/api/v1/agent/relay/{node_id}`, which opens a stream to the agent and
pipes it. Peers authenticate with a short-lived HMAC of the installation's secret key.

The owner answers `ready` before any byte of the stream, or closes with `CLOSE_OFFLINE`
(the agent is not connected here) or `CLOSE_UNAVAILABLE` (the agent refused the stream),
and the reason, so the relaying process can answer its client with a clear 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ssl
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from dockyard.agent.mux import Stream
from dockyard.agent.protocol import MAX_CHUNK

RELAY_PATH = "/api/v1/agent/relay/"
RELAY_HEADER = "X-Dockyard-Relay"
READY = "ready"
CLOSE_OFFLINE = 4404
CLOSE_UNAVAILABLE = 4503
TOKEN_TTL_S = 60
OPEN_TIMEOUT_S = 5.0


class RelayRefusedError(Exception):
    """No stream through the owning replica, before any byte flowed. `kind`:
    `replica_gone` (it did not answer: dead or unreachable; the agent is likely moving to
    another replica), `offline` (it answered that the agent is not connected there), or
    `unavailable` (the agent refused the stream)."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def relay_token(secret: str, node_id: int, now: float | None = None) -> str:
    """`<expiry>.<hmac>`: lets a peer replica open a stream to node `node_id` for a minute."""
    expires = int((now if now is not None else time.time()) + TOKEN_TTL_S)
    return f"{expires}.{_mac(secret, node_id, expires)}"


def check_relay_token(secret: str, node_id: int, token: str, now: float | None = None) -> bool:
    """True for an unexpired token made with `secret` for this node."""
    expires_text, _, mac = token.partition(".")
    if not expires_text.isdigit() or not mac:
        return False
    expires = int(expires_text)
    if expires < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(mac, _mac(secret, node_id, expires))


def _mac(secret: str, node_id: int, expires: int) -> str:
    message = f"dockyard-relay:{node_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def relay_url(replica_url: str, node_id: int) -> str:
    parts = urlsplit(replica_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + RELAY_PATH + str(node_id)
    return urlunsplit((scheme, parts.netloc, path, "", ""))


async def relay_client(
    replica_url: str,
    node_id: int,
    token: str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Pipe one local tunnel client through the owning replica; `RelayRefusedError` before
    any byte flowed when it cannot (the caller answers the client itself then)."""
    url = relay_url(replica_url, node_id)
    try:
        ws = await connect(
            url,
            additional_headers={RELAY_HEADER: token},
            ssl=ssl_context if url.startswith("wss:") else None,
            open_timeout=OPEN_TIMEOUT_S,
            close_timeout=2,
            max_size=None,
            ping_interval=None,
            compression=None,
            proxy=None,
        )
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise RelayRefusedError(
            f"its server replica {replica_url} did not answer", kind="replica_gone"
        ) from exc
    try:
        try:
            first = await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT_S * 2)
        except ConnectionClosed as exc:
            frame = exc.rcvd
            if frame is None or frame.code not in (CLOSE_OFFLINE, CLOSE_UNAVAILABLE):
                kind = "replica_gone"  # it died between the handshake and its answer
            else:
                kind = "offline" if frame.code == CLOSE_OFFLINE else "unavailable"
            reason = frame.reason if frame is not None and frame.reason else "the replica closed"
            raise RelayRefusedError(reason, kind=kind) from exc
        except TimeoutError as exc:
            raise RelayRefusedError(
                f"its server replica {replica_url} timed out", kind="replica_gone"
            ) from exc
        if first != READY:
            raise RelayRefusedError("the replica answered out of protocol", kind="unavailable")

        async def upstream() -> None:
            while data := await reader.read(MAX_CHUNK):
                await ws.send(data)

        async def downstream() -> None:
            async for message in ws:
                writer.write(message if isinstance(message, bytes) else message.encode())
                await writer.drain()

        await first_done(upstream(), downstream())
    finally:
        with contextlib.suppress(Exception):
            await ws.close()


async def serve_relay(ws: WebSocket, stream: Stream) -> None:
    """The owning replica's side: pipe an accepted relay WebSocket to the agent's stream."""

    async def upstream() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                data = (message.get("text") or "").encode()
            if data:
                await stream.write(data)

    async def downstream() -> None:
        async for chunk in stream:
            await ws.send_bytes(chunk)

    try:
        await ws.send_text(READY)
        await first_done(upstream(), downstream())
    except (WebSocketDisconnect, ConnectionError, RuntimeError):
        pass
    finally:
        await stream.close()
        with contextlib.suppress(Exception):
            await ws.close()


async def first_done(*coros: Coroutine[Any, Any, None]) -> None:
    """Run both directions of a pipe; when one ends (EOF or error) cancel the other."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
