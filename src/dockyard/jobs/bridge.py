"""A small Redis bridge so events of jobs run elsewhere reach this server's browsers.

In scale-out mode jobs run on `dockyard worker` processes (and schedules fire in
`dockyard beat`). They store progress in the database as always, and their in-process event
bus is forwarded to the Redis channel `dockyard:events:<instance id>` as JSON
`{"origin": runner_id, "type": ..., "data": {...}}`. Every `dockyard serve` in Redis mode
subscribes and re-publishes those events on its own bus, where the realtime hub picks them up.
Publishers are workers and beat; servers only subscribe, so nothing loops. Only
database-driven types are forwarded (`job.`, `service.`, `audit.`); container and node state
come from each server's own engine watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog

from dockyard.kit.events import EventBus

log = structlog.get_logger(__name__)

CHANNEL = "dockyard:events"


def channel_name(instance_id: str) -> str:
    """Per installation (pub/sub ignores Redis database numbers)."""
    return f"{CHANNEL}:{instance_id}"


FORWARDED_PREFIXES = ("job.", "service.", "audit.")


class RedisEventPublisher:
    """Forward this process's job/service/audit events to Redis."""

    def __init__(self, bus: EventBus, redis_url: str, origin: str, instance_id: str) -> None:
        self.bus = bus
        self.redis_url = redis_url
        self.origin = origin
        self.channel = channel_name(instance_id)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-event-publisher")
        await asyncio.wait_for(self._ready.wait(), timeout=5)

    async def _run(self) -> None:
        import redis.asyncio as aioredis

        client: Any = aioredis.from_url(self.redis_url)
        try:
            async with self.bus.subscribe() as subscription:
                self._ready.set()
                while True:
                    event = await subscription.get()
                    if not event.type.startswith(FORWARDED_PREFIXES):
                        continue
                    payload = json.dumps(
                        {"origin": self.origin, "type": event.type, "data": event.data},
                        default=str,
                    )
                    try:
                        await client.publish(self.channel, payload)
                    except Exception:  # browsers miss a live update; the DB has it all
                        log.warning("event_forward_failed", type=event.type, exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def stop(self) -> None:
        if self._task is not None:
            # Let already-published events drain briefly before stopping.
            await asyncio.sleep(0.2)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class RedisEventSubscriber:
    """Re-publish events forwarded by workers and beat on this server's bus."""

    def __init__(self, bus: EventBus, redis_url: str, origin: str, instance_id: str) -> None:
        self.bus = bus
        self.redis_url = redis_url
        self.origin = origin
        self.channel = channel_name(instance_id)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-event-subscriber")

    async def _run(self) -> None:
        import redis.asyncio as aioredis

        while True:
            client: Any = aioredis.from_url(self.redis_url)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        body = json.loads(message["data"])
                    except (TypeError, ValueError):
                        continue
                    if body.get("origin") == self.origin or not isinstance(body.get("data"), dict):
                        continue
                    self.bus.publish(str(body.get("type")), body["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event_bridge_reconnect", exc_info=True)
                await asyncio.sleep(2)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
