"""The state watcher against the real engine: events, latency, health, reconnect, drift."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.kit.events import Event, EventBus, Subscription
from dockyard.state.cache import NodeStateCache
from dockyard.state.service import StateService
from dockyard.state.watcher import StateWatcher
from tests.conftest import require_env
from tests.integration.state.docker_helpers import Containers, containers, socket_proxy

# Random, so concurrent runs on one engine do not see each other's containers.
SERVICE_ID = 900_000 + secrets.randbelow(99_999)
MISSING_SOCKET = "unix:///nonexistent/docker.sock"


@dataclass
class Watched:
    watcher: StateWatcher
    cache: NodeStateCache
    sub: Subscription


@pytest.fixture(scope="module")
def made(docker_host: str, test_image: str) -> Iterator[Containers]:
    with containers(docker_host, test_image) as made:
        yield made


@pytest.fixture(scope="module")
async def watched(docker_host: str) -> AsyncIterator[Watched]:
    bus = EventBus(queue_size=10_000)
    cache = NodeStateCache(1)
    watcher = StateWatcher(1, docker_host, cache, bus, reconcile_interval_s=3600)
    async with bus.subscribe() as sub:
        await watcher.start()
        await watcher.wait_connected(10)
        yield Watched(watcher, cache, sub)
    await watcher.stop()


def drain(sub: Subscription) -> list[Event]:
    events = []
    while not sub.queue.empty():
        events.append(sub.queue.get_nowait())
    return events


async def next_event(
    sub: Subscription, predicate: Callable[[Event], bool], timeout_s: float = 5.0
) -> Event:
    async def find() -> Event:
        while True:
            event = await sub.get()
            if predicate(event):
                return event

    return await asyncio.wait_for(find(), timeout_s)


def state_of(cache: NodeStateCache, cid: str) -> str | None:
    found = cache.get(cid)
    return found.state if found else None


def name_of(cache: NodeStateCache, cid: str) -> str | None:
    found = cache.get(cid)
    return found.name if found else None


def started_of(cache: NodeStateCache, cid: str) -> datetime | None:
    found = cache.get(cid)
    return found.started_at if found else None


async def run(made: Containers, command: list[str], **kwargs: Any) -> str:
    # Off the loop: the watcher shares it, and a blocked loop would distort latencies.
    return await asyncio.to_thread(made.run, command, **kwargs)


async def docker(made: Containers, method: str, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(getattr(made.client, method), *args, **kwargs)


async def test_a_killed_container_shows_exited_within_two_seconds(
    watched: Watched, made: Containers
) -> None:
    cid = await run(made, ["sleep", "300"], labels={"io.dockyard.service-id": str(SERVICE_ID)})
    await watched.cache.wait_for(lambda c: state_of(c, cid) == "running", 10)
    running = watched.cache.get(cid)
    assert running is not None
    assert running.service_id == SERVICE_ID
    assert running.started_at is not None
    assert watched.cache.for_service(SERVICE_ID) == [running]
    drain(watched.sub)

    seen_at: list[datetime] = []
    started_wall = datetime.now(UTC)

    def exited(cache: NodeStateCache) -> bool:
        if state_of(cache, cid) == "exited":
            seen_at.append(datetime.now(UTC))
            return True
        return False

    # Watch before killing: the kill call itself returns only once the engine is done.
    waiter = asyncio.create_task(watched.cache.wait_for(exited, 2.0))
    await docker(made, "kill", cid)  # SIGKILL outside Dockyard, as `docker kill` does
    await waiter
    from_kill_call = (seen_at[0] - started_wall).total_seconds()
    after = watched.cache.get(cid)
    assert after is not None
    assert after.exit_code == 137
    assert after.finished_at is not None
    # The engine's own record of the exit, against the moment the cache showed it.
    event_to_cache = (seen_at[0] - after.finished_at).total_seconds()
    print(
        f"\nkill -> cache: {from_kill_call * 1000:.0f} ms from the kill call, "
        f"{event_to_cache * 1000:.0f} ms after the engine recorded the exit"
    )
    assert from_kill_call < 2.0
    assert event_to_cache < 0.5

    state_event = await next_event(
        watched.sub,
        lambda e: e.type == "container.state" and e.data["container_id"] == cid,
        2.0,
    )
    assert state_event.data["state"] == "exited"
    assert state_event.data["service_id"] == SERVICE_ID
    assert state_event.data["node_id"] == 1
    status_event = await next_event(
        watched.sub,
        lambda e: e.type == "service.status" and e.data["service_id"] == SERVICE_ID,
        2.0,
    )
    assert status_event.data == {"node_id": 1, "service_id": SERVICE_ID}


async def test_health_transitions_follow_the_healthcheck(
    watched: Watched, made: Containers
) -> None:
    healthcheck = {
        "test": ["CMD-SHELL", "test -f /tmp/ok"],
        "interval": 200_000_000,
        "timeout": 2_000_000_000,
        "retries": 1,
    }
    drain(watched.sub)
    cid = await run(made, ["sh", "-c", "touch /tmp/ok; exec sleep 300"], healthcheck=healthcheck)

    def health(cache: NodeStateCache) -> str | None:
        found = cache.get(cid)
        return found.health if found else None

    await watched.cache.wait_for(lambda c: health(c) == "healthy", 10)
    exec_id = await docker(made, "exec_create", cid, ["rm", "/tmp/ok"])
    await docker(made, "exec_start", exec_id)
    await watched.cache.wait_for(lambda c: health(c) == "unhealthy", 10)
    unhealthy = watched.cache.get(cid)
    assert unhealthy is not None
    assert unhealthy.state == "running"
    assert unhealthy.status == "Up (unhealthy)"
    exec_id = await docker(made, "exec_create", cid, ["touch", "/tmp/ok"])
    await docker(made, "exec_start", exec_id)
    await watched.cache.wait_for(lambda c: health(c) == "healthy", 10)

    seen = [
        e.data["health"]
        for e in drain(watched.sub)
        if e.type == "container.state" and e.data["container_id"] == cid
    ]
    collapsed = [h for i, h in enumerate(seen) if i == 0 or seen[i - 1] != h]
    assert collapsed[-3:] == ["healthy", "unhealthy", "healthy"], seen
    await docker(made, "remove_container", cid, force=True)


async def test_pause_rename_and_destroy(watched: Watched, made: Containers) -> None:
    cid = await run(made, ["sleep", "300"], labels={"io.dockyard.service-id": str(SERVICE_ID)})
    await watched.cache.wait_for(lambda c: state_of(c, cid) == "running", 10)
    await docker(made, "pause", cid)
    await watched.cache.wait_for(lambda c: state_of(c, cid) == "paused", 2)
    await docker(made, "unpause", cid)
    await watched.cache.wait_for(lambda c: state_of(c, cid) == "running", 2)

    new_name = f"dockyard-test-renamed-{cid[:8]}"
    await docker(made, "rename", cid, new_name)
    await watched.cache.wait_for(lambda c: name_of(c, cid) == new_name, 2)
    assert watched.cache.find(new_name) is watched.cache.get(cid)

    drain(watched.sub)
    await docker(made, "remove_container", cid, force=True)
    await watched.cache.wait_for(lambda c: c.get(cid) is None, 2)
    assert cid not in {c.id for c in watched.cache.for_service(SERVICE_ID)}
    removed = await next_event(
        watched.sub,
        lambda e: (
            e.type == "container.state" and e.data["container_id"] == cid and e.data["removed"]
        ),
        2.0,
    )
    assert removed.data["state"] == "removed"


async def test_every_start_and_die_of_a_short_lived_container_is_published(
    watched: Watched, made: Containers
) -> None:
    # Bug: `running` waited for an inspect the exit outran, and the next `die` (< 2 s
    # after the previous exit) was then taken for a timing change: cycles went unseen.
    cycles = 15
    cid = await run(made, ["sh", "-c", "exit 0"], start=False)
    await watched.cache.wait_for(lambda c: state_of(c, cid) == "created", 10)
    drain(watched.sub)
    # The engine's own events, read live (its replay buffer is short on a busy engine).
    engine_events = made.client.events(
        filters={"container": cid, "event": ["start", "die"]}, decode=True
    )
    actions: list[str] = []

    def read_engine() -> None:
        for e in engine_events:
            actions.append(e["Action"])
            if len(actions) == 2 * cycles:
                return

    reader = asyncio.create_task(asyncio.to_thread(read_engine))
    try:
        for _ in range(cycles):
            await docker(made, "start", cid)
            await docker(made, "wait", cid, timeout=10)
            await asyncio.sleep(0.3)
        await asyncio.wait_for(asyncio.shield(reader), 5)
    finally:
        engine_events.close()
    # Exactly one `start` and one `die` per cycle, as the engine saw it.
    assert actions == ["start", "die"] * cycles

    await watched.cache.wait_for(lambda c: state_of(c, cid) == "exited", 5)
    await asyncio.sleep(1.0)  # late inspects must add no publication of their own
    frames = [
        e.data
        for e in drain(watched.sub)
        if e.type == "container.state" and e.data["container_id"] == cid
    ]
    states = [f["state"] for f in frames]
    assert states == ["running", "exited"] * cycles, frames
    await docker(made, "remove_container", cid, force=True)


async def test_reconcile_repairs_a_corrupted_cache(watched: Watched, made: Containers) -> None:
    cid = await run(made, ["sleep", "300"])
    await watched.cache.wait_for(lambda c: state_of(c, cid) == "running", 10)
    # `running` shows from the event first; the inspect then brings the exact start time.
    await watched.watcher.request_refresh(cid, "test")
    truth = watched.cache.get(cid)
    assert truth is not None
    watched.cache.put(dataclasses.replace(truth, state="exited", exit_code=1, status="Exited (1)"))
    ghost = dataclasses.replace(truth, id="f" * 64, name="ghost")
    watched.cache.put(ghost)
    missing = [c for c in watched.cache.containers() if c.id not in (cid, ghost.id)][:1]
    for gone in missing:
        watched.cache.remove(gone.id)

    await watched.watcher.reconcile()
    assert watched.cache.get(cid) == truth
    assert watched.cache.get(ghost.id) is None
    for gone in missing:
        assert watched.cache.get(gone.id) is not None


async def test_the_periodic_reconcile_runs_by_itself(docker_host: str, made: Containers) -> None:
    bus = EventBus()
    cache = NodeStateCache(7)
    watcher = StateWatcher(7, docker_host, cache, bus, reconcile_interval_s=0.3)
    await watcher.start()
    try:
        await watcher.wait_connected(10)
        cid = await run(made, ["sleep", "300"])
        await cache.wait_for(lambda c: state_of(c, cid) == "running", 5)
        truth = cache.get(cid)
        assert truth is not None
        ghost = dataclasses.replace(truth, id="e" * 64, name="ghost")
        cache.put(ghost)
        cache.put(dataclasses.replace(truth, state="dead"))

        def repaired(c: NodeStateCache) -> bool:
            current = c.get(cid)
            return c.get(ghost.id) is None and current is not None and current.state == "running"

        # Generous bound: a loaded 2-core CI machine may delay the 0.3 s reconcile.
        await cache.wait_for(repaired, 15)
    finally:
        await watcher.stop()


async def test_a_container_stopped_while_disconnected_shows_stopped_after_reconnect(
    docker_host: str, made: Containers
) -> None:
    bus = EventBus(queue_size=10_000)
    cache = NodeStateCache(2)
    async with socket_proxy(docker_host) as proxy, bus.subscribe() as sub:
        watcher = StateWatcher(
            2,
            proxy.url,
            cache,
            bus,
            reconcile_interval_s=3600,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        )
        await watcher.start()
        try:
            await watcher.wait_connected(10)
            assert cache.reachable is True
            killed = await run(made, ["sleep", "300"])
            restarted = await run(made, ["sleep", "300"])
            await cache.wait_for(
                lambda c: state_of(c, killed) == "running" and state_of(c, restarted) == "running",
                10,
            )
            started_before = started_of(cache, restarted)
            assert watcher.last_event_at is not None

            drain(sub)
            await proxy.cut()  # the engine "goes away"
            await cache.wait_for(lambda c: c.reachable is False, 5)
            assert not watcher.connected
            offline = await next_event(sub, lambda e: e.type == "node.status", 2)
            assert offline.data["reachable"] is False

            await docker(made, "kill", killed)
            # A restart keeps the list's "running": only the replayed events reveal it.
            await docker(made, "restart", restarted, timeout=0)
            await asyncio.sleep(0.3)
            assert state_of(cache, killed) == "running"  # nobody told the cache yet

            await proxy.resume()
            await watcher.wait_connected(5)
            await cache.wait_for(
                lambda c: (
                    state_of(c, killed) == "exited" and started_of(c, restarted) != started_before
                ),
                2,
            )
            assert cache.reachable is True
            online = await next_event(sub, lambda e: e.type == "node.status", 2)
            assert online.data["reachable"] is True
            assert watcher.connects == 2

            # The same after a dropped stream with the engine still there.
            drain(sub)
            await watcher.drop_connection()
            again = await next_event(
                sub, lambda e: e.type == "node.status" and e.data["reachable"], 5
            )
            assert again.data["node_id"] == 2
            assert watcher.connected
            assert watcher.connects == 3
        finally:
            await watcher.stop()


async def test_an_unreachable_engine_is_reported_and_retried(docker_host: str) -> None:
    bus = EventBus()
    cache = NodeStateCache(3)
    async with bus.subscribe() as sub:
        watcher = StateWatcher(3, MISSING_SOCKET, cache, bus, backoff_initial_s=0.05)
        await watcher.start()
        try:
            event = await next_event(sub, lambda e: e.type == "node.status", 5)
            assert event.data["reachable"] is False
            assert "does not exist" in event.data["error"]
            assert cache.reachable is False
            assert not watcher.connected
            assert "does not exist" in (watcher.last_error or "")
        finally:
            started = time.monotonic()
            await watcher.stop()
            assert time.monotonic() - started < 2


def cache_of(service: StateService, node_id: int) -> NodeStateCache:
    cache = service.cache(node_id)
    assert cache is not None
    return cache


async def test_state_service_watches_each_node(docker_host: str) -> None:
    node2 = require_env("DOCKYARD_TEST_NODE2_DOCKER_HOST")
    nodes = [
        SimpleNamespace(id=1, docker_host=docker_host),
        SimpleNamespace(id=2, docker_host=node2),
        SimpleNamespace(id=3, docker_host=MISSING_SOCKET),
    ]
    service = StateService(EventBus(), reconcile_interval_s=3600, backoff_initial_s=0.05)
    await service.start(nodes)
    try:
        for node_id in (1, 2):
            watcher = service.watcher(node_id)
            assert watcher is not None
            await watcher.wait_connected(10)
            assert cache_of(service, node_id).reachable is True
        await cache_of(service, 3).wait_for(lambda c: c.reachable is False, 5)
        assert service.base_url_for(2) == node2
        assert service.reachable(1) is True
        assert service.reachable(99) is None
        assert service.containers_for_service(99, 1) == []
        assert service.containers_for_service(1, 123456789) == []
        assert service.cache(99) is None
        assert service.node_ids() == [1, 2, 3]
        await service.remove_node(3)
        assert service.cache(3) is None
    finally:
        await service.stop()
