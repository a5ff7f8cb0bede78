"""The stream multiplexer, two of them wired back to back in memory."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from dockyard.agent.mux import Mux, Stream, StreamClosedError, StreamOpenError, StreamRefusedError
from dockyard.agent.protocol import (
    STREAM_WINDOW,
    ProtocolError,
    StreamClose,
    StreamCredit,
    encode,
    pack_data,
    parse_message,
)


@dataclass
class Wire:
    """One direction of a socket: frames in order, delivered by a pump task."""

    queue: asyncio.Queue[str | bytes] = field(default_factory=asyncio.Queue)
    texts: list[str] = field(default_factory=list)
    data_bytes: int = 0

    async def send_text(self, text: str) -> None:
        self.texts.append(text)
        await self.queue.put(text)

    async def send_bytes(self, frame: bytes) -> None:
        self.data_bytes += len(frame) - 4
        await self.queue.put(frame)


async def _pump(wire: Wire, target: Mux) -> None:
    while True:
        frame = await wire.queue.get()
        if isinstance(frame, bytes):
            await target.feed_bytes(frame)
        else:
            assert await target.feed_text(parse_message(frame))  # type: ignore[arg-type]


@dataclass
class Pair:
    server: Mux
    agent: Mux
    to_agent: Wire
    to_server: Wire


Handler = Callable[[Stream], Awaitable[None]]


@pytest.fixture
async def make_pair() -> AsyncIterator[Callable[..., Pair]]:
    tasks: list[asyncio.Task[None]] = []
    muxes: list[Mux] = []

    def make(handler: Handler, **kwargs: int) -> Pair:
        to_agent, to_server = Wire(), Wire()
        server = Mux(to_agent.send_text, to_agent.send_bytes, **kwargs)  # type: ignore[arg-type]
        agent = Mux(to_server.send_text, to_server.send_bytes, on_open=handler, **kwargs)  # type: ignore[arg-type]
        tasks.append(asyncio.create_task(_pump(to_agent, agent)))
        tasks.append(asyncio.create_task(_pump(to_server, server)))
        muxes.extend([server, agent])
        return Pair(server, agent, to_agent, to_server)

    yield make
    for mux in muxes:
        await mux.close_all("test over")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _echo(stream: Stream) -> None:
    await stream.accept()
    while (chunk := await stream.read()) is not None:
        await stream.write(chunk)


async def _read_exactly(stream: Stream, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = await asyncio.wait_for(stream.read(), 5)
        assert chunk is not None, f"stream ended after {len(out)} of {n} bytes"
        out += chunk
    return bytes(out)


async def test_echo_keeps_order_across_many_writes(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(_echo)
    stream = await pair.server.open_stream()
    rng = random.Random(5)
    payload = os.urandom(1_500_000)
    sent = 0

    async def writer() -> None:
        nonlocal sent
        while sent < len(payload):
            n = rng.randint(1, 150_000)
            await stream.write(payload[sent : sent + n])
            sent += n

    task = asyncio.create_task(writer())
    got = await _read_exactly(stream, len(payload))
    await task
    assert got == payload
    assert stream.id % 2 == 1


async def test_streams_are_independent_and_get_odd_ids(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(_echo)
    streams = [await pair.server.open_stream() for _ in range(5)]
    assert [s.id for s in streams] == [1, 3, 5, 7, 9]
    for i, s in enumerate(streams):
        await s.write(f"stream {i}".encode())
    for i, s in reversed(list(enumerate(streams))):
        assert await _read_exactly(s, len(f"stream {i}")) == f"stream {i}".encode()


async def test_backpressure_blocks_the_writer_until_the_reader_consumes(
    make_pair: Callable[..., Pair],
) -> None:
    accepted: asyncio.Queue[Stream] = asyncio.Queue()

    async def lazy(stream: Stream) -> None:
        await stream.accept()
        await accepted.put(stream)
        await asyncio.Event().wait()  # holds the stream open without reading

    pair = make_pair(lazy)
    stream = await pair.server.open_stream()
    remote = await asyncio.wait_for(accepted.get(), 5)
    payload = os.urandom(STREAM_WINDOW * 3)
    write = asyncio.create_task(stream.write(payload))
    for _ in range(500):  # until one window is delivered (fast; generous on a busy box)
        if remote.buffered == STREAM_WINDOW:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # ... and the writer had every chance to send more
    # Exactly one window went out; the writer is stuck waiting for credit.
    assert not write.done()
    assert stream.send_credit == 0
    assert pair.to_agent.data_bytes == STREAM_WINDOW
    assert remote.buffered == STREAM_WINDOW
    # The reader consumes: credit flows back and the writer finishes.
    got = await _read_exactly(remote, len(payload))
    await asyncio.wait_for(write, 5)
    assert got == payload
    credits = [m for m in map(parse_message, pair.to_server.texts) if isinstance(m, StreamCredit)]
    assert credits
    assert all(c.id == stream.id for c in credits)
    # Never more than the window in flight: the receiver never buffered more than it.
    assert remote.buffered == 0


async def test_receiver_rejects_data_beyond_its_credit(make_pair: Callable[..., Pair]) -> None:
    accepted: asyncio.Queue[Stream] = asyncio.Queue()

    async def lazy(stream: Stream) -> None:
        await stream.accept()
        await accepted.put(stream)
        await asyncio.Event().wait()

    pair = make_pair(lazy)
    stream = await pair.server.open_stream()
    await asyncio.wait_for(accepted.get(), 5)
    chunk = b"x" * 65536
    for _ in range(STREAM_WINDOW // len(chunk)):
        await pair.agent.feed_bytes(pack_data(stream.id, chunk))
    with pytest.raises(ProtocolError, match="more than its credit"):
        await pair.agent.feed_bytes(pack_data(stream.id, b"y"))


async def test_close_from_the_server_ends_both_directions(make_pair: Callable[..., Pair]) -> None:
    seen: asyncio.Queue[tuple[bytes | None, str | None]] = asyncio.Queue()

    async def reader(stream: Stream) -> None:
        await stream.accept()
        data = b""
        while (chunk := await stream.read()) is not None:
            data += chunk
        await seen.put((data, stream.close_reason))
        with pytest.raises(StreamClosedError):
            await stream.write(b"late")

    pair = make_pair(reader)
    stream = await pair.server.open_stream()
    await stream.write(b"hello ")
    await stream.write(b"world")
    await stream.close("client went away")
    data, reason = await asyncio.wait_for(seen.get(), 5)
    # Data sent before the close is still delivered, then EOF.
    assert data == b"hello world"
    assert reason == "client went away"
    assert await stream.read() is None
    with pytest.raises(StreamClosedError):
        await stream.write(b"x")
    await asyncio.sleep(0.05)
    assert pair.server.streams == {}
    assert pair.agent.streams == {}


async def test_handler_returning_closes_the_stream_for_the_server(
    make_pair: Callable[..., Pair],
) -> None:
    async def one_answer(stream: Stream) -> None:
        await stream.accept()
        await stream.write(b"HTTP/1.1 200 OK\r\n\r\n")

    pair = make_pair(one_answer)
    stream = await pair.server.open_stream()
    assert await _read_exactly(stream, 19) == b"HTTP/1.1 200 OK\r\n\r\n"
    assert await asyncio.wait_for(stream.read(), 5) is None
    assert stream.closed_by_peer
    closes = [m for m in map(parse_message, pair.to_server.texts) if isinstance(m, StreamClose)]
    assert [c.id for c in closes] == [stream.id]


async def test_refused_open_raises_with_the_agents_message(
    make_pair: Callable[..., Pair],
) -> None:
    async def refuse(stream: Stream) -> None:
        raise StreamRefusedError("operation already ran")

    pair = make_pair(refuse)
    with pytest.raises(StreamOpenError, match="operation already ran"):
        await pair.server.open_stream(op="0b8e6a5e-9a47-4a41-9a3f-5b1e1f0f2a11")
    assert pair.server.streams == {}
    assert pair.agent.streams == {}


async def test_handler_failure_before_accept_is_a_stream_error(
    make_pair: Callable[..., Pair],
) -> None:
    async def broken(stream: Stream) -> None:
        raise FileNotFoundError("no such socket /nope.sock")

    pair = make_pair(broken)
    with pytest.raises(StreamOpenError, match="no such socket"):
        await pair.server.open_stream()


async def test_open_times_out_when_the_agent_never_answers(
    make_pair: Callable[..., Pair],
) -> None:
    async def silent(stream: Stream) -> None:
        await asyncio.Event().wait()

    pair = make_pair(silent)
    with pytest.raises(StreamOpenError, match="in time"):
        await pair.server.open_stream(timeout_s=0.2)
    await asyncio.sleep(0.05)
    # The timed-out open was closed on both sides; the agent's handler was stopped.
    assert pair.server.streams == {}
    assert pair.agent.streams == {}


async def test_close_all_ends_reads_writes_and_opens(make_pair: Callable[..., Pair]) -> None:
    stopped = asyncio.Event()

    async def hold(stream: Stream) -> None:
        await stream.accept()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    pair = make_pair(hold)
    stream = await pair.server.open_stream()
    blocked_read = asyncio.create_task(stream.read())
    blocked_write = asyncio.create_task(stream.write(os.urandom(STREAM_WINDOW * 2)))
    await asyncio.sleep(0.1)
    await pair.server.close_all("socket died")
    await pair.agent.close_all("socket died")
    assert await asyncio.wait_for(blocked_read, 5) is None
    with pytest.raises(StreamClosedError, match="socket died"):
        await asyncio.wait_for(blocked_write, 5)
    assert stopped.is_set()
    with pytest.raises(StreamOpenError, match="socket died"):
        await pair.server.open_stream()


async def test_mux_without_handler_refuses_opens() -> None:
    sent: list[str] = []

    async def send_text(text: str) -> None:
        sent.append(text)

    async def send_bytes(frame: bytes) -> None:
        raise AssertionError("no data expected")

    mux = Mux(send_text, send_bytes)
    assert await mux.feed_text('{"v":1,"type":"stream_open","id":2,"op":"k"}')
    assert "stream_error" in sent[0]
    # Credit for a stream that does not exist (closed meanwhile) is ignored.
    assert await mux.feed_text(encode(StreamCredit(id=1, bytes=5)))
    # Not a stream message: the caller handles it.
    assert await mux.feed_text('{"v":1,"type":"ack","seq":3}') is False
    # Frames for unknown streams are dropped, malformed ones raise.
    await mux.feed_bytes(pack_data(7, b"late data"))
    with pytest.raises(ProtocolError):
        await mux.feed_bytes(b"\x00\x01")


async def test_reusing_an_open_stream_id_is_a_protocol_error(
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair(_echo)
    stream = await pair.server.open_stream()
    with pytest.raises(ProtocolError, match="already open"):
        await pair.agent.feed_text(f'{{"v":1,"type":"stream_open","id":{stream.id},"op":"k2"}}')
