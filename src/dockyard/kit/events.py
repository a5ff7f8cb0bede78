"""In-process publish/subscribe for real-time events (jobs, container state, audit).

Publishing never blocks: each subscriber has a bounded queue, and a subscriber that falls
behind loses its oldest events and is told so (`overflowed`), so one slow browser cannot
slow the server. Scale-out replaces the transport (Redis or PostgreSQL notifications),
not this interface.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from dockyard.kit.clock import utcnow


@dataclass(frozen=True)
class Event:
    """One event: a dotted type (`job.progress`) and a JSON-serializable payload."""

    type: str
    data: dict[str, Any]
    ts: datetime = field(default_factory=utcnow)
    # None when published in this process; the publishing process's id when the event
    # arrived from another process over the event bridge (see kit/bridge.py).
    origin: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data, "ts": self.ts.isoformat()}

    @cached_property
    def text(self) -> str:
        """`to_json()` as compact JSON text, encoded once however many sockets send it."""
        return json.dumps(self.to_json(), separators=(",", ":"), default=str)


class Subscription:
    """A subscriber's bounded queue."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.overflowed = 0

    def offer(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.overflowed += 1
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()


class EventBus:
    """Fan-out of events to every current subscriber in this process."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size

    def publish(self, type: str, data: dict[str, Any], *, origin: str | None = None) -> Event:
        """Deliver to every subscriber without waiting; safe from any coroutine.

        `origin` marks an event re-published from another process (never forwarded again).
        """
        event = Event(type, data, origin=origin)
        for subscription in tuple(self._subscribers):
            subscription.offer(event)
        return event

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription(self._queue_size)
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
