"""Docker event and log streams bridged to asyncio, against the real engine."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from dockyard.engine.errors import EngineNotFoundError, EngineUnavailableError
from dockyard.engine.streams import (
    MAX_IDLE_CLIENTS,
    MAX_LINE_BYTES,
    _clients,
    fetch_logs,
    iter_events,
    iter_logs,
    open_event_stream,
    open_log_stream,
)
from tests.integration.state.docker_helpers import Containers, containers

MISSING_SOCKET = "unix:///nonexistent/docker.sock"


@pytest.fixture(scope="module")
def made(docker_host: str, test_image: str) -> Iterator[Containers]:
    with containers(docker_host, test_image) as made:
        yield made


def stream_threads() -> list[threading.Thread]:
    # Stream threads only (engine call pools are named `docker-engine_N`).
    return [
        t for t in threading.enumerate() if t.name.startswith(("docker-events", "docker-logs-"))
    ]


async def wait_exited(made: Containers, cid: str) -> None:
    await asyncio.to_thread(made.client.wait, cid, timeout=30)


async def test_an_unreachable_engine_raises_a_clear_error() -> None:
    with pytest.raises(EngineUnavailableError, match="socket does not exist"):
        await open_event_stream(MISSING_SOCKET)
    with pytest.raises(EngineUnavailableError, match=MISSING_SOCKET):
        async for _ in iter_events(MISSING_SOCKET, since=None):
            pass
    with pytest.raises(EngineUnavailableError):
        await fetch_logs(MISSING_SOCKET, "abc")


async def test_events_arrive_and_closing_stops_the_thread(
    docker_host: str, made: Containers
) -> None:
    before = len(stream_threads())
    stream = await open_event_stream(docker_host)
    assert stream.thread_alive
    assert stream.server_date is not None
    cid = await asyncio.to_thread(made.run, ["true"])
    seen: list[str] = []
    async with stream:
        async for event in stream:
            if event.get("id") == cid:
                seen.append(event["Action"])
                if event["Action"] == "die":
                    break
    assert seen[:3] == ["create", "start", "die"]
    assert not stream.thread_alive
    assert len(stream_threads()) == before


async def test_since_replays_buffered_events(docker_host: str, made: Containers) -> None:
    since = time.time() - 0.5
    cid = await asyncio.to_thread(made.run, ["true"])
    await wait_exited(made, cid)
    actions: list[str] = []
    async with await open_event_stream(docker_host, since=since) as stream:
        async for event in stream:
            if event.get("id") == cid:
                actions.append(event["Action"])
                if event["Action"] == "die":
                    break
    assert actions[:3] == ["create", "start", "die"]


async def test_cancelling_the_consumer_stops_the_stream(docker_host: str) -> None:
    before = len(stream_threads())
    started = asyncio.Event()

    async def consume() -> None:
        stream = iter_events(docker_host, since=None)
        started.set()
        async for _ in stream:
            pass

    task = asyncio.create_task(consume())
    await started.wait()
    await asyncio.sleep(0.2)
    assert len(stream_threads()) == before + 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Cancellation runs the generator's cleanup, which waits for the thread.
    for _ in range(50):
        if len(stream_threads()) == before:
            break
        await asyncio.sleep(0.02)
    assert len(stream_threads()) == before


async def test_fetch_logs_keeps_streams_and_timestamps(docker_host: str, made: Containers) -> None:
    script = "echo out1; echo err1 >&2; echo out2; sleep 0.05; echo err2 >&2; printf last"
    cid = await asyncio.to_thread(made.run, ["sh", "-c", script])
    await wait_exited(made, cid)
    lines = await fetch_logs(docker_host, cid, tail=100)
    by_stream = {
        "stdout": [line.message for line in lines if line.stream == "stdout"],
        "stderr": [line.message for line in lines if line.stream == "stderr"],
    }
    assert by_stream == {"stdout": ["out1", "out2", "last"], "stderr": ["err1", "err2"]}
    assert all(line.ts and line.ts.startswith("20") and line.ts.endswith("Z") for line in lines)
    assert [line.message for line in await fetch_logs(docker_host, cid, tail=1)] == ["last"]
    plain = await fetch_logs(docker_host, cid, tail=2, timestamps=False)
    assert all(line.ts is None for line in plain)
    assert await fetch_logs(docker_host, cid, tail=0) == []


async def test_fetch_logs_tail_10000_is_quick(docker_host: str, made: Containers) -> None:
    script = "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done"
    cid = await asyncio.to_thread(made.run, ["sh", "-c", script])
    await wait_exited(made, cid)
    started = time.monotonic()
    lines = await fetch_logs(docker_host, cid, tail=10_000)
    elapsed = time.monotonic() - started
    assert len(lines) == 10_000
    assert lines[0].message == "line 10000"
    assert lines[-1].message == "line 19999"
    assert elapsed < 3, f"tail=10000 took {elapsed:.2f}s"


async def test_tty_logs_are_one_stream(docker_host: str, made: Containers) -> None:
    cid = await asyncio.to_thread(made.run, ["sh", "-c", "echo one; echo two >&2"], tty=True)
    await wait_exited(made, cid)
    lines = await fetch_logs(docker_host, cid, tail=10)
    assert [(line.stream, line.message) for line in lines] == [
        ("stdout", "one"),
        ("stdout", "two"),
    ]


async def test_tty_is_found_out_or_taken_from_the_caller(
    docker_host: str, made: Containers
) -> None:
    tty = await asyncio.to_thread(made.run, ["sh", "-c", "echo one; echo two >&2"], tty=True)
    plain = await asyncio.to_thread(made.run, ["sh", "-c", "echo one; echo two >&2"])
    await wait_exited(made, tty)
    await wait_exited(made, plain)
    # Without timestamps the TTY flag comes from an inspect, with them from the first byte.
    untimed = await fetch_logs(docker_host, tty, tail=10, timestamps=False)
    assert [(line.stream, line.ts, line.message) for line in untimed] == [
        ("stdout", None, "one"),
        ("stdout", None, "two"),
    ]
    told = await fetch_logs(docker_host, plain, tail=10, tty=False, timestamps=False)
    assert sorted((line.stream, line.message) for line in told) == [
        ("stderr", "two"),
        ("stdout", "one"),
    ]
    assert [line.message for line in await fetch_logs(docker_host, tty, tail=10, tty=True)] == [
        "one",
        "two",
    ]


async def test_fetch_logs_of_an_empty_log(docker_host: str, made: Containers) -> None:
    cid = await asyncio.to_thread(made.run, ["true"])
    await wait_exited(made, cid)
    assert await fetch_logs(docker_host, cid, tail=10) == []


async def test_a_long_line_is_cut_and_nothing_is_lost(docker_host: str, made: Containers) -> None:
    # 150,000 characters: the engine sends 16 KiB partial messages, read in 64 KiB blocks.
    script = "printf 'a%.0s' $(seq 1 150000); echo; echo after"
    cid = await asyncio.to_thread(made.run, ["sh", "-c", script])
    await wait_exited(made, cid)
    # The engine's tail counts each partial message as a line.
    lines = await fetch_logs(docker_host, cid, tail=100)
    assert lines[-1].message == "after"
    pieces = [line.message for line in lines[:-1]]
    assert "".join(pieces) == "a" * 150_000
    assert len(pieces) > 1
    assert all(len(piece) <= MAX_LINE_BYTES + 16 * 1024 for piece in pieces)


async def test_fetches_reuse_a_few_clients(docker_host: str, made: Containers) -> None:
    cid = await asyncio.to_thread(made.run, ["sh", "-c", "echo hi"])
    await wait_exited(made, cid)
    for _ in range(3):
        assert [line.message for line in await fetch_logs(docker_host, cid)] == ["hi"]
    assert _clients.idle(docker_host) >= 1
    results = await asyncio.gather(*(fetch_logs(docker_host, cid) for _ in range(8)))
    assert all([line.message for line in lines] == ["hi"] for lines in results)
    assert 1 <= _clients.idle(docker_host) <= MAX_IDLE_CLIENTS
    # A refused request leaves a usable client behind.
    with pytest.raises(EngineNotFoundError):
        await fetch_logs(docker_host, "dockyard-no-such-container")
    assert [line.message for line in await fetch_logs(docker_host, cid)] == ["hi"]


async def test_follow_streams_live_lines_until_closed(docker_host: str, made: Containers) -> None:
    script = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"
    cid = await asyncio.to_thread(made.run, ["sh", "-c", script])
    before = len(stream_threads())
    got: list[str] = []
    async for line in iter_logs(docker_host, cid, follow=True, tail=0):
        got.append(line.message)
        if len(got) == 5:
            break
    assert got[0].startswith("tick ")
    numbers = [int(m.split()[1]) for m in got]
    assert numbers == sorted(numbers)
    # Breaking out of `async for` closes the generator at once on CPython.
    for _ in range(50):
        if len(stream_threads()) <= before:
            break
        await asyncio.sleep(0.02)
    assert len(stream_threads()) <= before

    stream = await open_log_stream(docker_host, cid, follow=True, tail=2)
    first = await stream.__anext__()
    assert first
    await stream.aclose()
    assert not stream.thread_alive
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_a_follow_ends_when_the_container_stops(docker_host: str, made: Containers) -> None:
    cid = await asyncio.to_thread(made.run, ["sh", "-c", "echo a; sleep 0.3; echo b"])
    lines = [line.message async for line in iter_logs(docker_host, cid, follow=True)]
    assert lines == ["a", "b"]


async def test_unknown_container_is_not_found(docker_host: str) -> None:
    with pytest.raises(EngineNotFoundError):
        await fetch_logs(docker_host, "dockyard-no-such-container")
    with pytest.raises(EngineNotFoundError):
        await open_log_stream(docker_host, "dockyard-no-such-container", follow=True)
