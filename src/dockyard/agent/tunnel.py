"""Piping one accepted stream to a fresh engine connection, through the guard."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from dockyard.agent.guard import Guard, Output
from dockyard.agent.mux import Stream, StreamClosedError

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
CLIENT_QUEUE_LIMIT = 256 * 1024


class _ClientQueue:
    """Bytes for the server's client, in exactly the order the guard produced them.

    Both pipe directions append synchronously right after asking the guard (so a 403 the
    guard wrote lands between the right engine answers); one task writes them out.
    """

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._closing = False
        self._changed = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()

    def put(self, chunks: list[bytes], *, close: bool = False) -> None:
        for chunk in chunks:
            if chunk:
                self._chunks.append(chunk)
                self._size += len(chunk)
        if close:
            self._closing = True
        if self._chunks or close:
            self._drained.clear()
            self._changed.set()

    async def wait_room(self) -> None:
        while self._size > CLIENT_QUEUE_LIMIT and not self.stream.closed:
            self._changed.clear()
            await self._changed.wait()

    async def run(self) -> None:
        try:
            while True:
                while self._chunks:
                    chunk = self._chunks.popleft()
                    self._size -= len(chunk)
                    self._changed.set()
                    await self.stream.write(chunk)
                self._drained.set()
                if self._closing:
                    return
                self._changed.clear()
                await self._changed.wait()
        except StreamClosedError:
            return


async def pipe(
    stream: Stream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, guard: Guard
) -> None:
    """Run until either side ends; then close both."""
    queue = _ClientQueue(stream)
    sender = asyncio.create_task(queue.run())
    close_requested = asyncio.Event()

    async def apply(out: Output) -> None:
        queue.put(out.to_client, close=out.close)
        for data in out.to_engine:
            writer.write(data)
        if out.to_engine:
            await writer.drain()
        if out.close:
            close_requested.set()

    async def client_to_engine() -> None:
        while (chunk := await stream.read()) is not None:
            await apply(guard.client_data(chunk))
            await queue.wait_room()
        # The server's client is gone: tell the engine we are done writing.
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()

    async def engine_to_client() -> None:
        while data := await reader.read(READ_SIZE):
            await apply(guard.engine_data(data))
            await queue.wait_room()
        queue.put([], close=True)

    tasks = [
        asyncio.create_task(client_to_engine()),
        asyncio.create_task(engine_to_client()),
        asyncio.create_task(close_requested.wait()),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.debug("stream %s pipe ended: %s", stream.id, task.exception())
        if tasks[1] in done or tasks[2] in done:
            # Engine finished (or the guard hung up): deliver what is queued, then close.
            queue.put([], close=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(sender), 30)
        elif tasks[0] in done and not stream.closed:
            # Client half-closed but the stream is open: let the engine finish answering.
            await asyncio.wait([tasks[1]], timeout=None)
            queue.put([], close=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(sender), 30)
    finally:
        for task in (*tasks, sender):
            task.cancel()
        await asyncio.gather(*tasks, sender, return_exceptions=True)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        await stream.close()
