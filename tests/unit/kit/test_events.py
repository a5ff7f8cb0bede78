"""The in-process event bus: bounded queues and the event's one-time JSON text."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from dockyard.kit.events import Event, EventBus


def test_text_is_the_compact_json_of_to_json_and_encoded_once() -> None:
    event = Event("service.status", {"service_id": 7, "at": datetime(2026, 1, 2, tzinfo=UTC)})
    text = event.text
    assert json.loads(text) == {
        "type": "service.status",
        "data": {"service_id": 7, "at": "2026-01-02 00:00:00+00:00"},
        "ts": event.ts.isoformat(),
    }
    assert ", " not in text
    assert ": " not in text
    assert event.text is text  # cached: a thousand sockets share one string


async def test_a_full_queue_drops_its_oldest_event_and_counts_it() -> None:
    bus = EventBus(queue_size=2)
    async with bus.subscribe() as subscription:
        for n in range(3):
            bus.publish("job.progress", {"n": n})
        assert subscription.overflowed == 1
        assert [(await subscription.get()).data["n"] for _ in range(2)] == [1, 2]
    assert bus.subscriber_count == 0
