"""EventBridge with an in-memory transport: forwarded once, never echoed, never looped."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from dockyard.kit.bridge import MAX_NOTIFY_BYTES, EventBridge, _encode
from dockyard.kit.events import Event, EventBus


class Hub:
    """A shared channel: every sent message reaches every open transport (like NOTIFY)."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []
        self.sent: list[str] = []


class MemoryTransport:
    limit: int | None = MAX_NOTIFY_BYTES

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def open(self, on_message: Any) -> None:
        self.hub.listeners.append(on_message)

    async def send(self, text: str) -> None:
        self.hub.sent.append(text)
        for listener in list(self.hub.listeners):
            listener(text)

    async def close(self) -> None:
        pass


async def drain(queue: Any) -> list[Event]:
    await asyncio.sleep(0.05)
    items = []
    while not queue.queue.empty():
        items.append(queue.queue.get_nowait())
    return items


async def test_events_reach_the_other_process_once_without_echo() -> None:
    hub = Hub()
    bus_a, bus_b = EventBus(), EventBus()
    a = EventBridge(bus_a, MemoryTransport(hub), "server@a")
    b = EventBridge(bus_b, MemoryTransport(hub), "server@b")
    await a.start()
    await b.start()
    async with bus_a.subscribe() as on_a, bus_b.subscribe() as on_b:
        bus_a.publish("alert.rule", {"rule_id": 1})
        bus_a.publish("container.state", {"id": "x"})  # local-only: not forwarded
        got_b = await drain(on_b)
        got_a = await drain(on_a)
    assert [(e.type, e.data, e.origin) for e in got_b] == [
        ("alert.rule", {"rule_id": 1}, "server@a")
    ]
    assert [e.type for e in got_a] == ["alert.rule", "container.state"]  # once each, local
    assert len(hub.sent) == 1  # b did not forward what it received: no loop
    await a.stop()
    await b.stop()


def test_large_events_become_references_under_the_notify_limit() -> None:
    event = Event("job.progress", {"job_id": "j1", "seq": 3, "message": "x" * 20_000})
    text = _encode("server@a", event, MAX_NOTIFY_BYTES)
    assert len(text.encode()) <= MAX_NOTIFY_BYTES
    body = json.loads(text)
    assert body["data"] == {"job_id": "j1", "seq": 3, "truncated": True}
    assert body["type"] == "job.progress"
    small = json.loads(_encode("server@a", Event("a.b", {"k": "v"}), MAX_NOTIFY_BYTES))
    assert small["data"] == {"k": "v"}
