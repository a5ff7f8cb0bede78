"""A transport-agnostic stream multiplexer, used by both ends of an agent's WebSocket.

The owner of the socket builds a `Mux` with two coroutines that send a text and a binary
frame, feeds it every stream control message (`feed_text`) and every binary frame
(`feed_bytes`), and calls `close_all` when the socket dies.

- The server opens streams: `stream = await mux.open_stream()` sends `stream_open` and
  waits for `stream_opened` (or raises `StreamOpenError` on `stream_error`).
- The agent accepts them: `on_open(stream)` runs in its own task for the stream's lifetime;
  it calls `await stream.accept()` once its engine connection is up, or raises to refuse
  (the message becomes `stream_error`). When it returns the stream is closed.

Flow control: every stream direction starts with `window` bytes of credit; a write takes
credit and blocks when there is none (backpressure), and the reader hands credit back
with `stream_credit` as it consumes data. Feeding never blocks, so one slow stream never
holds up the socket's reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

from dockyard.agent.protocol import (
    MAX_CHUNK,
    MAX_STREAM_ID,
    STREAM_WINDOW,
    ProtocolError,
    StreamClose,
    StreamCredit,
    StreamError,
    StreamMessage,
    StreamOpen,
    StreamOpened,
    encode,
    pack_data,
    parse_message,
    unpack_data,
)

log = logging.getLogger(__name__)

SendText = Callable[[str], Awaitable[None]]
SendBytes = Callable[[bytes], Awaitable[None]]
OnOpen = Callable[["Stream"], Awaitable[None]]


class StreamClosedError(ConnectionError):
    """The stream is closed (by either side or because the socket died)."""


class StreamOpenError(ConnectionError):
    """The peer refused to open the stream (`stream_error`) or did not answer in time."""


class StreamRefusedError(Exception):
    """Raised by an `on_open` handler to refuse a stream with a message for the peer."""


class Stream:
    """One bidirectional byte stream of a `Mux`."""

    def __init__(self, mux: Mux, stream_id: int, op: str) -> None:
        self.mux = mux
        self.id = stream_id
        self.op = op
        self.closed = False
        self.close_reason: str | None = None
        self.closed_by_peer = False
        self.accepted = False
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._readable = asyncio.Event()
        self._send_credit = mux.window
        self._credit_changed = asyncio.Event()
        self._recv_outstanding = 0  # received and not yet credited back
        self._pending_credit = 0  # consumed and not yet credited back
        self._write_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<Stream {self.id} op={self.op} closed={self.closed}>"

    @property
    def send_credit(self) -> int:
        """Bytes this side may still send before the peer grants more."""
        return self._send_credit

    @property
    def buffered(self) -> int:
        """Bytes received and not yet read."""
        return self._buffered

    async def accept(self) -> None:
        """Agent side: confirm the stream (`stream_opened`); call once the engine answers."""
        if self.accepted:
            return
        if self.closed:
            raise StreamClosedError(self.close_reason or "stream closed")
        self.accepted = True
        await self.mux._send_text(encode(StreamOpened(id=self.id)))

    async def read(self) -> bytes | None:
        """The next chunk of data, or None once the stream is closed and drained."""
        while not self._buffer:
            if self.closed:
                return None
            self._readable.clear()
            await self._readable.wait()
        chunk = self._buffer.popleft()
        self._buffered -= len(chunk)
        if not self.closed:
            self._pending_credit += len(chunk)
            if self._pending_credit >= self.mux.credit_threshold:
                grant, self._pending_credit = self._pending_credit, 0
                self._recv_outstanding -= grant
                try:
                    await self.mux._send_text(encode(StreamCredit(id=self.id, bytes=grant)))
                except Exception as exc:  # the socket died; close_all follows
                    log.debug("stream %s: credit not sent: %s", self.id, exc)
        return chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.read()
            if chunk is None:
                return
            yield chunk

    async def write(self, data: bytes) -> None:
        """Send `data`, in chunks, waiting for credit (backpressure); raises if closed."""
        view = memoryview(data)
        async with self._write_lock:
            while view:
                while self._send_credit <= 0 and not self.closed:
                    self._credit_changed.clear()
                    await self._credit_changed.wait()
                if self.closed:
                    raise StreamClosedError(self.close_reason or "stream closed")
                n = min(len(view), self._send_credit, self.mux.chunk)
                self._send_credit -= n
                await self.mux._send_bytes(pack_data(self.id, bytes(view[:n])))
                view = view[n:]

    async def close(self, reason: str | None = None) -> None:
        """End the stream (both directions) and tell the peer; idempotent."""
        if self.closed:
            return
        self._mark_closed(reason, by_peer=False)
        self.mux._forget(self)
        with contextlib.suppress(Exception):
            await self.mux._send_text(encode(StreamClose(id=self.id, reason=reason)))

    # -- called by the mux ------------------------------------------------------------------

    def _mark_closed(self, reason: str | None, *, by_peer: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.closed_by_peer = by_peer
        self.close_reason = reason
        self._readable.set()
        self._credit_changed.set()

    def _feed(self, payload: bytes) -> None:
        if self.closed or not payload:
            return
        if self._recv_outstanding + len(payload) > self.mux.window:
            raise ProtocolError(f"stream {self.id}: the peer sent more than its credit")
        self._recv_outstanding += len(payload)
        self._buffer.append(payload)
        self._buffered += len(payload)
        self._readable.set()

    def _grant(self, n: int) -> None:
        self._send_credit += n
        if self._send_credit > self.mux.window:
            raise ProtocolError(f"stream {self.id}: credit beyond the window")
        self._credit_changed.set()


class Mux:
    """Streams over one socket. Not thread-safe: use it from the socket's event loop."""

    def __init__(
        self,
        send_text: SendText,
        send_bytes: SendBytes,
        *,
        on_open: OnOpen | None = None,
        window: int = STREAM_WINDOW,
        chunk: int = MAX_CHUNK,
        first_id: int = 1,
        open_timeout_s: float = 10.0,
    ) -> None:
        if not 0 < chunk <= MAX_CHUNK:
            raise ValueError("chunk must be 1..MAX_CHUNK")
        if window < chunk:
            raise ValueError("window must be at least one chunk")
        self._send_text = send_text
        self._send_bytes = send_bytes
        self.on_open = on_open
        self.window = window
        self.chunk = chunk
        # Credit goes back once a quarter of the window is consumed (never smaller than a
        # chunk would make it chatty; never larger than the window could deadlock).
        self.credit_threshold = max(1, window // 4)
        self.open_timeout_s = open_timeout_s
        self._next_id = first_id
        self._streams: dict[int, Stream] = {}
        self._opening: dict[int, asyncio.Future[None]] = {}
        self._handlers: dict[int, asyncio.Task[None]] = {}
        self.closed = False
        self.close_reason: str | None = None

    @property
    def streams(self) -> dict[int, Stream]:
        """Open streams by id (read-only view by convention)."""
        return self._streams

    def _forget(self, stream: Stream) -> None:
        if self._streams.get(stream.id) is stream:
            del self._streams[stream.id]
        fut = self._opening.pop(stream.id, None)
        if fut is not None and not fut.done():
            _fail(fut, StreamOpenError(stream.close_reason or "stream closed"))

    def _allocate_id(self) -> int:
        for _ in range(len(self._streams) + self._next_id + 2):
            sid = self._next_id
            self._next_id += 2
            if self._next_id > MAX_STREAM_ID:
                self._next_id = 1 if self._next_id % 2 else 2
            if sid not in self._streams:
                return sid
        raise RuntimeError("no free stream id")  # pragma: no cover - 2**31 open streams

    # -- opening ----------------------------------------------------------------------------

    async def open_stream(self, op: str | None = None, *, timeout_s: float | None = None) -> Stream:
        """Open a stream to the peer (server side); raises `StreamOpenError` if refused."""
        if self.closed:
            raise StreamOpenError(self.close_reason or "connection closed")
        stream = Stream(self, self._allocate_id(), op or str(uuid.uuid4()))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._streams[stream.id] = stream
        self._opening[stream.id] = fut
        try:
            await self._send_text(encode(StreamOpen(id=stream.id, op=stream.op)))
            await asyncio.wait_for(
                asyncio.shield(fut),
                timeout=self.open_timeout_s if timeout_s is None else timeout_s,
            )
        except TimeoutError:
            await stream.close("open timed out")
            raise StreamOpenError("the agent did not open the stream in time") from None
        except StreamOpenError:
            stream._mark_closed(stream.close_reason, by_peer=True)
            self._forget(stream)
            raise
        except BaseException:
            await stream.close("open cancelled")
            raise
        finally:
            self._opening.pop(stream.id, None)
        stream.accepted = True
        return stream

    async def _accept_remote(self, msg: StreamOpen) -> None:
        if msg.id in self._streams:
            raise ProtocolError(f"stream id {msg.id} is already open")
        if self.on_open is None or self.closed:
            with contextlib.suppress(Exception):
                await self._send_text(
                    encode(StreamError(id=msg.id, message="this side does not accept streams"))
                )
            return
        stream = Stream(self, msg.id, msg.op)
        self._streams[msg.id] = stream
        task = asyncio.create_task(self._run_handler(stream), name=f"mux-stream-{msg.id}")
        self._handlers[msg.id] = task

    async def _run_handler(self, stream: Stream) -> None:
        assert self.on_open is not None
        reason: str | None = None
        try:
            await self.on_open(stream)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            reason = _describe(exc)
            if not stream.accepted and not stream.closed:
                stream._mark_closed(reason, by_peer=False)
                self._forget(stream)
                with contextlib.suppress(Exception):
                    await self._send_text(encode(StreamError(id=stream.id, message=reason)))
            else:
                log.debug("stream %s handler failed: %s", stream.id, exc)
        finally:
            self._handlers.pop(stream.id, None)
        if not stream.closed:
            if stream.accepted:
                await stream.close(reason)
            else:
                stream._mark_closed("refused", by_peer=False)
                self._forget(stream)
                with contextlib.suppress(Exception):
                    await self._send_text(encode(StreamError(id=stream.id, message="refused")))

    # -- feeding ------------------------------------------------------------------------------

    async def feed_text(self, msg: StreamMessage | str) -> bool:
        """Handle a stream control message; False when `msg` is not one (the caller's)."""
        if isinstance(msg, str):
            parsed = parse_message(msg)
            if not isinstance(
                parsed, StreamOpen | StreamOpened | StreamError | StreamCredit | StreamClose
            ):
                return False
            msg = parsed
        if isinstance(msg, StreamOpen):
            await self._accept_remote(msg)
        elif isinstance(msg, StreamOpened):
            fut = self._opening.get(msg.id)
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif isinstance(msg, StreamError):
            stream = self._streams.get(msg.id)
            fut = self._opening.get(msg.id)
            if stream is not None:
                stream._mark_closed(msg.message, by_peer=True)
            if fut is not None and not fut.done():
                _fail(fut, StreamOpenError(msg.message))
            if stream is not None:
                self._forget(stream)
        elif isinstance(msg, StreamCredit):
            stream = self._streams.get(msg.id)
            if stream is not None:
                stream._grant(msg.bytes)
        elif isinstance(msg, StreamClose):
            stream = self._streams.get(msg.id)
            if stream is not None:
                stream._mark_closed(msg.reason, by_peer=True)
                self._forget(stream)
        else:
            return False
        return True

    async def feed_bytes(self, frame: bytes) -> None:
        """Handle a binary data frame; data for an unknown (closed) stream is dropped."""
        stream_id, payload = unpack_data(frame)
        stream = self._streams.get(stream_id)
        if stream is not None:
            stream._feed(payload)

    # -- teardown ---------------------------------------------------------------------------

    async def close_all(self, reason: str = "connection closed") -> None:
        """The socket is gone: every stream ends, pending opens fail, handlers stop."""
        self.closed = True
        self.close_reason = reason
        for stream in list(self._streams.values()):
            stream._mark_closed(reason, by_peer=True)
            self._forget(stream)
        for fut in list(self._opening.values()):
            if not fut.done():
                _fail(fut, StreamOpenError(reason))
        self._opening.clear()
        tasks = list(self._handlers.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _fail(fut: asyncio.Future[None], exc: BaseException) -> None:
    fut.set_exception(exc)
    fut.exception()  # retrieved: no "never retrieved" warning when nobody awaits it


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text or exc.__class__.__name__)[:500]
