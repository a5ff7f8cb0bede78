"""Event handling of `StateWatcher` against a fake engine: mapping, ordering, coalescing."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import replace as dataclass_replace
from datetime import UTC, datetime
from typing import Any

from dockyard.engine.errors import EngineNotFoundError
from dockyard.kit.events import Event, EventBus
from dockyard.state.cache import NodeStateCache
from dockyard.state.watcher import StateWatcher
from tests.unit.state.test_schemas import CID, inspect_data


class FakeEngine:
    """Answers inspects from `self.containers`; `gate` holds them to simulate a slow engine."""

    def __init__(self) -> None:
        self.containers: dict[str, dict[str, Any]] = {}
        self.inspects = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def call(self, fn: Callable[[Any], Any]) -> Any:
        self.inspects += 1
        # What the engine would answer at the moment the request reaches it.
        answer = copy.deepcopy(self.containers)
        await self.gate.wait()

        class Api:
            @staticmethod
            def inspect_container(cid: str) -> dict[str, Any]:
                if cid not in answer:
                    raise EngineNotFoundError("No such container")
                return answer[cid]

        class Client:
            api = Api()

        return fn(Client())

    async def list_containers(self, *, all: bool = True) -> list[dict[str, Any]]:
        return []

    async def close(self) -> None:
        pass


def make() -> tuple[StateWatcher, FakeEngine, NodeStateCache, EventBus]:
    bus = EventBus()
    cache = NodeStateCache(5)
    watcher = StateWatcher(5, "unix:///unused.sock", cache, bus)
    engine = FakeEngine()
    watcher._engine = engine  # type: ignore[assignment]
    return watcher, engine, cache, bus


def event(action: str, **attributes: str) -> dict[str, Any]:
    return {
        "Type": "container",
        "Action": action,
        "id": CID,
        "Actor": {"ID": CID, "Attributes": attributes},
        "timeNano": 1_714_564_800_123_456_789,
    }


def state(cache: NodeStateCache) -> str | None:
    found = cache.get(CID)
    return found.state if found else None


async def settle(watcher: StateWatcher) -> None:
    while watcher._tasks:
        await asyncio.gather(*list(watcher._tasks), return_exceptions=True)
    await asyncio.sleep(0)


def published(sub_events: list[Event], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in sub_events if e.type == kind]


async def collect(bus: EventBus, body: Callable[[], Any]) -> list[Event]:
    async with bus.subscribe() as sub:
        await body()
        out = []
        while not sub.queue.empty():
            out.append(sub.queue.get_nowait())
        return out


async def test_create_then_die_then_destroy() -> None:
    watcher, engine, cache, bus = make()
    engine.containers[CID] = inspect_data()

    async def scenario() -> None:
        watcher._on_event(event("create"))
        watcher._on_event(event("start"))
        await settle(watcher)
        assert state(cache) == "running"
        engine.containers[CID] = inspect_data(
            Status="exited",
            ExitCode=1,
            Running=False,
            FinishedAt="2024-05-01T12:00:00.150Z",  # a little after the event's time
        )
        watcher._on_event(event("die", exitCode="1"))
        # Applied from the event itself, before any inspect could answer.
        assert state(cache) == "exited"
        await settle(watcher)
        exact = cache.get(CID)
        assert exact is not None
        assert exact.finished_at == datetime(2024, 5, 1, 12, 0, 0, 150000, tzinfo=UTC)
        del engine.containers[CID]
        watcher._on_event(event("destroy"))
        assert cache.get(CID) is None
        await settle(watcher)

    events = await collect(bus, scenario)
    # The inspect confirming `die` moved finished_at by 27 ms: not published again.
    states = [d["state"] for d in published(events, "container.state")]
    assert states == ["running", "exited", "removed"]
    assert cache.version > 0
    assert watcher.last_event_at is not None
    assert watcher._resume_since == "1714564800.123456789"
    assert published(events, "service.status")[-1] == {"node_id": 5, "service_id": 42}
    await watcher.stop()


async def test_a_stale_inspect_cannot_undo_a_newer_event() -> None:
    watcher, engine, cache, _ = make()
    engine.containers[CID] = inspect_data()
    watcher._on_event(event("start"))
    await settle(watcher)

    # `kill` starts an inspect that sees "running" but answers late (the engine holds
    # the container's lock); `die` arrives meanwhile.
    engine.gate.clear()
    watcher._on_event(event("kill"))
    await asyncio.sleep(0)
    engine.containers[CID] = inspect_data(Status="exited", ExitCode=137, Running=False)
    watcher._on_event(event("die", exitCode="137"))
    assert state(cache) == "exited"
    seen: list[str] = []
    version = cache.version
    engine.gate.set()
    while watcher._tasks:
        try:
            version = await cache.wait_changed(version, 0.05)
            seen.append(str(state(cache)))
        except TimeoutError:
            pass
        await asyncio.sleep(0)
    assert "running" not in seen
    assert state(cache) == "exited"
    assert cache.get(CID) is not None
    assert cache.get(CID).exit_code == 137
    await watcher.stop()


async def test_a_burst_of_events_costs_at_most_two_inspects() -> None:
    watcher, engine, _, bus = make()
    engine.containers[CID] = inspect_data()
    engine.gate.clear()

    async def scenario() -> None:
        for _ in range(50):
            watcher._on_event(event("start"))
        await asyncio.sleep(0)
        engine.gate.set()
        await settle(watcher)

    events = await collect(bus, scenario)
    assert engine.inspects <= 2
    assert len(published(events, "container.state")) == 1
    assert len(published(events, "service.status")) == 1
    await watcher.stop()


async def test_irrelevant_events_are_ignored() -> None:
    watcher, engine, _, _ = make()
    engine.containers[CID] = inspect_data()
    for action in ("exec_create: sh", "exec_start: sh", "exec_die", "attach", "resize", "top"):
        watcher._on_event(event(action))
    watcher._on_event({"Type": "network", "Action": "connect", "Actor": {"ID": "n"}})
    await settle(watcher)
    assert engine.inspects == 0
    await watcher.stop()


async def test_resync_asks_about_what_the_list_does_not_show() -> None:
    watcher, engine, cache, _ = make()
    engine.containers[CID] = inspect_data()
    watcher._on_event(event("start"))
    await settle(watcher)
    del engine.containers[CID]  # gone, and the list (empty) agrees
    await watcher.reconcile()
    assert cache.get(CID) is None
    assert cache.synced_at is not None
    await watcher.stop()


async def test_service_status_is_immediate_then_throttled() -> None:
    watcher, engine, cache, bus = make()
    engine.containers[CID] = inspect_data()
    watcher._on_event(event("start"))
    await settle(watcher)
    await asyncio.sleep(0.06)  # let the service's window pass

    async with bus.subscribe() as sub:
        engine.gate.clear()  # the confirming inspect hangs, as while the engine cleans up
        watcher._on_event(event("die", exitCode="0"))
        await asyncio.sleep(0)
        first = [e for e in drain(sub) if e.type == "service.status"]
        assert first == [first[0]]
        assert first[0].data == {"node_id": 5, "service_id": 42}
        # More changes within the window: one trailing signal, not one each.
        for action in ("pause", "unpause", "rename"):
            watcher._apply_state(
                dataclass_replace(cache.get(CID), name=f"n-{action}"),  # type: ignore[arg-type]
                action,
                guessed=True,
            )
        assert [e for e in drain(sub) if e.type == "service.status"] == []
        await asyncio.sleep(0.08)
        assert len([e for e in drain(sub) if e.type == "service.status"]) == 1
        engine.gate.set()
        await settle(watcher)
    await watcher.stop()


def drain(sub: Any) -> list[Event]:
    out = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait())
    return out


async def test_backlog_events_are_only_inspected_not_guessed() -> None:
    watcher, engine, cache, _ = make()
    engine.containers[CID] = inspect_data()
    watcher._on_event(event("start"))
    await settle(watcher)
    # A replayed `die` from before a restart the resync already saw: the inspect decides.
    watcher._on_event(event("die", exitCode="1"), live=False)
    assert state(cache) == "running"
    await settle(watcher)
    assert state(cache) == "running"
    assert engine.inspects == 2
    await watcher.stop()


def timed(action: str, time_nano: int, **attributes: str) -> dict[str, Any]:
    return {**event(action, **attributes), "timeNano": time_nano}


async def test_start_and_die_publish_at_once_even_while_inspects_hang() -> None:
    # Bug: `start` waited for its inspect, and a die before the answer lost `running`;
    # then the next `die` (< 2 s after the previous exit) read as a mere timing change.
    watcher, engine, cache, bus = make()
    engine.containers[CID] = inspect_data(Status="exited", Running=False)
    watcher._on_event(timed("create", 1_714_564_800_000_000_000))
    await settle(watcher)
    assert state(cache) == "exited"
    engine.gate.clear()  # a busy engine: no inspect answers during the cycles

    async def scenario() -> None:
        base = 1_714_564_801_000_000_000
        for cycle in range(3):
            at = base + cycle * 300_000_000  # 0.3 s per cycle, well under any slack
            watcher._on_event(timed("start", at))
            watcher._on_event(timed("die", at + 100_000_000, exitCode="0"))
        engine.containers[CID] = inspect_data(
            Status="exited",
            Running=False,
            StartedAt="2024-05-01T12:00:01.599Z",
            FinishedAt="2024-05-01T12:00:01.690Z",
        )
        await asyncio.sleep(0)
        engine.gate.set()
        await settle(watcher)

    events = await collect(bus, scenario)
    states = [d["state"] for d in published(events, "container.state")]
    # One publication per transition, in order; the late inspects add nothing.
    assert states == ["running", "exited"] * 3
    final = cache.get(CID)
    assert final is not None
    assert final.state == "exited"
    assert final.finished_at == datetime(2024, 5, 1, 12, 0, 1, 690000, tzinfo=UTC)
    await watcher.stop()


async def test_an_inspect_ahead_of_the_event_is_not_published_twice() -> None:
    watcher, engine, _, bus = make()
    engine.containers[CID] = inspect_data(Status="exited", Running=False)
    watcher._on_event(timed("create", 1_714_564_800_000_000_000))
    await settle(watcher)

    async def scenario() -> None:
        # A reconcile sees the container running before its `start` event is read.
        engine.containers[CID] = inspect_data(
            StartedAt="2024-05-01T12:00:01.000Z", Health={"Status": "starting"}
        )
        await watcher.reconcile()
        watcher._on_event(timed("start", 1_714_564_801_020_000_000))
        await settle(watcher)

    events = await collect(bus, scenario)
    assert [d["state"] for d in published(events, "container.state")] == ["running"]
    await watcher.stop()


async def test_periodic_reconciles_are_spread_not_in_step() -> None:
    """Each pause is the interval give or take a quarter, so watchers started together
    (a server start, agents reconnecting) drift apart instead of re-listing together."""
    watcher = StateWatcher(
        1, "unix:///nonexistent.sock", NodeStateCache(1), EventBus(), reconcile_interval_s=40.0
    )
    try:
        pauses = [watcher._reconcile_pause() for _ in range(400)]
    finally:
        await watcher.stop()
    assert all(30.0 <= pause <= 50.0 for pause in pauses)
    assert min(pauses) < 33.0  # the whole range is used
    assert max(pauses) > 47.0
