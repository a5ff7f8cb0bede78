"""The agent's engine client and event follower, against a fake engine on a Unix socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from dockyard.agent.client import Agent, AgentOptions
from dockyard.agent.engine import AgentEngine, AgentEngineError, parse_docker_host


def event(n: int, action: str = "start") -> dict[str, object]:
    nano = 1_700_000_000_000_000_000 + n * 1_000
    return {
        "Type": "container",
        "Action": action,
        "id": f"c{n}",
        "time": nano // 10**9,
        "timeNano": nano,
    }


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class FakeEngine:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.events_calls = 0
        self.release = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        target = head.split(b" ")[1].decode()
        self.requests.append(target)
        path = urlsplit(target).path
        try:
            if path == "/events":
                self.events_calls += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                if self.events_calls == 1:
                    for n in (1, 2):
                        writer.write(chunk(json.dumps(event(n)).encode() + b"\n"))
                    await writer.drain()
                    await self.release.wait()
                    return  # the engine "restarts": the stream ends
                # Replay from since= (event 2 again) and a new one, split across chunks.
                data = json.dumps(event(2)).encode() + b"\n" + json.dumps(event(3, "die")).encode()
                writer.write(chunk(data[:17]) + chunk(data[17:] + b"\n"))
                await writer.drain()
                await asyncio.Event().wait()
            elif path == "/containers/json":
                body = json.dumps([{"Id": "c1", "State": "running"}]).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            else:
                body = b'{"message":"page not found"}'
                writer.write(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % len(body) + body
                )
            await writer.drain()
        finally:
            writer.close()


async def wait_journal(agent: Agent, n: int, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while len(agent.journal) < n:
            agent._changed.clear()
            if len(agent.journal) < n:
                await agent._changed.wait()


@pytest.fixture
async def fake_engine(tmp_path: Path) -> AsyncIterator[tuple[FakeEngine, str]]:
    engine = FakeEngine()
    sock = tmp_path / "engine.sock"
    server = await asyncio.start_unix_server(engine.handle, path=str(sock))
    yield engine, f"unix://{sock}"
    server.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server.wait_closed(), 1)


async def test_engine_requests(fake_engine: tuple[FakeEngine, str]) -> None:
    fake, host = fake_engine
    engine = AgentEngine(host)
    assert await engine.list_containers(all=True) == [{"Id": "c1", "State": "running"}]
    assert fake.requests[-1] == "/containers/json?all=1"
    with pytest.raises(AgentEngineError, match="page not found") as info:
        await engine.info()
    assert info.value.status == 404
    missing = AgentEngine("unix:///nonexistent/docker.sock")
    with pytest.raises(AgentEngineError, match="does not exist"):
        await missing.ping()


def test_docker_hosts() -> None:
    assert parse_docker_host("unix:///var/run/docker.sock") == (
        "unix",
        "/var/run/docker.sock",
        None,
    )
    assert parse_docker_host("tcp://10.0.0.5:2376") == ("tcp", "10.0.0.5", 2376)
    with pytest.raises(ValueError, match="unsupported"):
        parse_docker_host("ssh://host")


async def test_events_resume_with_since_and_no_duplicates(
    fake_engine: tuple[FakeEngine, str], tmp_path: Path
) -> None:
    fake, host = fake_engine
    agent = Agent(AgentOptions(data_dir=tmp_path / "data", docker_host=host))
    watcher = asyncio.create_task(agent._watch_engine())
    try:
        await wait_journal(agent, 2, 5)
        assert agent.engine_connected.is_set()
        assert agent.state_generation == 1
        fake.release.set()  # the event stream drops, as when dockerd restarts
        await wait_journal(agent, 3, 10)
        await asyncio.sleep(0.1)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    items = agent.journal.after(0)
    assert [(i.seq, i.event["id"], i.event["Action"]) for i in items] == [
        (1, "c1", "start"),
        (2, "c2", "start"),
        (3, "c3", "die"),
    ]
    events_requests = [r for r in fake.requests if r.startswith("/events")]
    assert len(events_requests) == 2
    first, second = (parse_qs(urlsplit(r).query) for r in events_requests)
    assert json.loads(first["filters"][0]) == {"type": ["container", "image"]}
    since = second["since"][0]
    nano = int(event(2)["timeNano"])  # type: ignore[call-overload]
    assert since == f"{nano // 10**9}.{nano % 10**9:09d}"
    # A fresh state is due after the engine came back.
    assert agent.state_generation == 2
