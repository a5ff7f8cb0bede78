"""A minimal in-test agent speaking protocol v1 (hello, heartbeats, streams to an engine).

Only for the server-side tests of the hub (misbehaving peers, the tunnel without the real
agent's guard); the end-to-end tests run the real `dockyard agent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from dockyard.agent.mux import Mux, Stream
from dockyard.agent.protocol import (
    Ack,
    Heartbeat,
    Hello,
    Rotate,
    Rotated,
    encode,
    parse_server_message,
)


def ws_connect(url: str) -> Any:
    return connect(url, proxy=None, open_timeout=5, close_timeout=2, max_size=None)


async def say_hello(ws: ClientConnection, credential: str) -> dict[str, Any]:
    await ws.send(
        encode(Hello(credential=credential, agent_version="fake", docker_host="", hostname="fake"))
    )
    welcome: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return welcome


class FakeAgent:
    """Connects, says hello, sends heartbeats and pipes streams to `engine_path`."""

    def __init__(self, url: str, credential: str, engine_path: str | None = None) -> None:
        self.url = url
        self.credential = credential
        self.engine_path = engine_path
        self.ws: ClientConnection | None = None
        self.welcome: dict[str, Any] = {}
        self.heartbeats = True
        self.rotated: list[str] = []
        self.acks: list[int] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.mux = Mux(self._send_text, self._send_bytes, on_open=self._on_open, first_id=2)
        self.closed = asyncio.Event()

    async def _send_text(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send(text)

    async def _send_bytes(self, data: bytes) -> None:
        assert self.ws is not None
        await self.ws.send(data)

    async def start(self) -> None:
        self.ws = await ws_connect(self.url)
        self.welcome = await say_hello(self.ws, self.credential)
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._beat())]

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(float(self.welcome.get("heartbeat_s", 1)) / 2)
            if self.heartbeats and self.ws is not None:
                with contextlib.suppress(Exception):
                    await self.ws.send(encode(Heartbeat(sent_at=datetime.now(UTC))))

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for frame in self.ws:
                if isinstance(frame, bytes):
                    await self.mux.feed_bytes(frame)
                    continue
                msg = parse_server_message(frame)
                if isinstance(msg, Ack):
                    self.acks.append(msg.seq)
                elif isinstance(msg, Rotate):
                    self.credential = msg.credential
                    self.rotated.append(msg.credential)
                    await self.ws.send(encode(Rotated(request_id=msg.request_id)))
                else:
                    await self.mux.feed_text(msg)  # type: ignore[arg-type]
        except Exception:  # noqa: S110 - the test looks at `closed` and the close code
            pass
        finally:
            await self.mux.close_all()
            self.closed.set()

    async def _on_open(self, stream: Stream) -> None:
        assert self.engine_path is not None
        reader, writer = await asyncio.open_unix_connection(self.engine_path)
        await stream.accept()

        async def up() -> None:
            async for chunk in stream:
                writer.write(chunk)
                await writer.drain()

        async def down() -> None:
            while data := await reader.read(65536):
                await stream.write(data)

        tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            writer.close()

    async def send(self, text: str) -> None:
        await self._send_text(text)

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code if self.ws is not None else None

    @property
    def close_reason(self) -> str | None:
        return self.ws.close_reason if self.ws is not None else None

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.ws is not None:
            await self.ws.close()
