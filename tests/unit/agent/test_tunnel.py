"""A stream piped to a fake engine through the guard (`Agent.handle_stream`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.agent.client import Agent, AgentOptions
from dockyard.agent.mux import Mux, Stream, StreamOpenError
from tests.unit.agent.test_mux import Wire, _pump


class SlowEngine:
    """Answers each request after `delay_s`, keeping the connection open."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.seen: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.seen.append(head.split(b"\r\n", 1)[0])
                await asyncio.sleep(self.delay_s)
                body = b'{"ok":true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[tuple[Mux, SlowEngine, Agent]]:
    engine = SlowEngine(0.2)
    sock = tmp_path / "engine.sock"
    server = await asyncio.start_unix_server(engine.handle, path=str(sock))
    agent = Agent(AgentOptions(data_dir=tmp_path / "data", docker_host=f"unix://{sock}"))
    to_agent, to_server = Wire(), Wire()
    server_mux = Mux(to_agent.send_text, to_agent.send_bytes)
    agent_mux = Mux(to_server.send_text, to_server.send_bytes, on_open=agent.handle_stream)
    pumps = [
        asyncio.create_task(_pump(to_agent, agent_mux)),
        asyncio.create_task(_pump(to_server, server_mux)),
    ]
    yield server_mux, engine, agent
    await server_mux.close_all("done")
    await agent_mux.close_all("done")
    for task in pumps:
        task.cancel()
    await asyncio.gather(*pumps, return_exceptions=True)
    server.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server.wait_closed(), 1)


async def read_until(stream: Stream, marker: bytes, count: int) -> bytes:
    out = b""
    async with asyncio.timeout(10):
        while out.count(marker) < count:
            chunk = await stream.read()
            assert chunk is not None, out
            out += chunk
    return out


async def test_refusals_wait_their_turn_behind_engine_answers(
    wired: tuple[Mux, SlowEngine, Agent],
) -> None:
    server_mux, engine, _ = wired
    stream = await server_mux.open_stream()
    await stream.write(
        b"GET /containers/json HTTP/1.1\r\nHost: d\r\n\r\n"
        b"GET /swarm HTTP/1.1\r\nHost: d\r\n\r\n"
        b"GET /info HTTP/1.1\r\nHost: d\r\n\r\n"
    )
    out = await read_until(stream, b"HTTP/1.1 ", 3)
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", out) == [b"200", b"403", b"200"]
    # The engine saw only the allowed two, in order.
    assert engine.seen == [b"GET /containers/json HTTP/1.1", b"GET /info HTTP/1.1"]
    assert b"swarm is disabled" in out
    await stream.close()


async def test_unreachable_engine_and_repeated_op_are_stream_errors(
    wired: tuple[Mux, SlowEngine, Agent], tmp_path: Path
) -> None:
    server_mux, _, agent = wired
    first = await server_mux.open_stream(op="op-1")
    await first.close()
    with pytest.raises(StreamOpenError, match="operation already ran"):
        await server_mux.open_stream(op="op-1")
    agent.engine.host = str(tmp_path / "gone.sock")
    with pytest.raises(StreamOpenError, match="Docker socket does not exist"):
        await server_mux.open_stream()


async def test_bad_http_gets_400_and_the_stream_ends(
    wired: tuple[Mux, SlowEngine, Agent],
) -> None:
    server_mux, engine, _ = wired
    stream = await server_mux.open_stream()
    await stream.write(b"BOGUS\r\n\r\n")
    out = b""
    async with asyncio.timeout(10):
        while (chunk := await stream.read()) is not None:
            out += chunk
    assert out.startswith(b"HTTP/1.1 400 ")
    assert json.loads(out.split(b"\r\n\r\n", 1)[1])["message"]
    assert engine.seen == []
