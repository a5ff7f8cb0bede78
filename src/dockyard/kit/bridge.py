"""`EventBridge`: events published in one Dockyard process reach every other process.

Every process (`serve`, `worker`, `beat`) of one installation runs one bridge. It forwards
each event published locally on its `EventBus` (origin None) to a shared transport, tagged
with this process's runner id, and re-publishes events of other processes on its own bus
with `origin` set, so they reach this process's browsers and alert engine, are never
forwarded again (no loops), and a process ignores its own messages (no echo).

Transports: Redis pub/sub when `DOCKYARD_REDIS_URL` is set (channel
`dockyard:events:<instance id>`), else PostgreSQL LISTEN/NOTIFY when the database is
PostgreSQL (a dedicated asyncpg connection, channel `dockyard_events_<instance id>`), else
none (one process: the in-process bus is enough).

Not forwarded: `container.` and `node.status` events, which every process derives from its
own engine watchers. A NOTIFY payload is limited to 8000 bytes: a larger event is sent as a
reference (its type and scalar fields with `"truncated": true`); clients refetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any, Protocol

import structlog

from dockyard.kit.events import Event, EventBus

log = structlog.get_logger(__name__)

LOCAL_ONLY_PREFIXES = ("container.", "node.status")
MAX_NOTIFY_BYTES = 7900
RECONNECT_DELAY_S = 2.0


def _encode(origin: str, event: Event, limit: int | None) -> str:
    body = {"origin": origin, "type": event.type, "data": event.data, "ts": event.ts.isoformat()}
    text = json.dumps(body, separators=(",", ":"), default=str)
    if limit is None or len(text.encode()) <= limit:
        return text
    small = {
        k: v
        for k, v in event.data.items()
        if isinstance(v, int | float | bool) or (isinstance(v, str) and len(v) <= 200)
    }
    body["data"] = {**small, "truncated": True}
    return json.dumps(body, separators=(",", ":"), default=str)[:limit]


class Transport(Protocol):
    async def open(self, on_message: Any) -> None: ...
    async def send(self, text: str) -> None: ...
    async def close(self) -> None: ...


class RedisTransport:
    """Redis pub/sub on `dockyard:events:<instance id>`."""

    limit: int | None = None

    def __init__(self, url: str, instance_id: str) -> None:
        self.url = url
        self.channel = f"dockyard:events:{instance_id}"
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, on_message: Any) -> None:
        import redis.asyncio as aioredis

        self._client = aioredis.from_url(self.url)
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._listen(on_message, ready), name="bridge-redis")
        await asyncio.wait_for(ready.wait(), timeout=10)

    async def _listen(self, on_message: Any, ready: asyncio.Event) -> None:
        import redis.asyncio as aioredis

        while True:
            client: Any = aioredis.from_url(self.url)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(self.channel)
                ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event_bridge_reconnect", transport="redis", exc_info=True)
                ready.set()
                await asyncio.sleep(RECONNECT_DELAY_S)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def send(self, text: str) -> None:
        await self._client.publish(self.channel, text)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()


def asyncpg_dsn(database_url: str) -> str:
    """`postgresql+asyncpg://...` → `postgresql://...` for a plain asyncpg connection."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", database_url)


class PostgresTransport:
    """LISTEN/NOTIFY on a dedicated asyncpg connection (reconnects when it drops)."""

    limit: int | None = MAX_NOTIFY_BYTES

    def __init__(self, database_url: str, instance_id: str) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.channel = "dockyard_events_" + re.sub(r"[^a-z0-9_]", "", instance_id.lower())[:40]
        self._conn: Any = None
        self._on_message: Any = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def open(self, on_message: Any) -> None:
        self._on_message = on_message
        await self._connect()

    def _listener(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_message(payload)

    async def _connect(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(self.dsn)
        await conn.add_listener(self.channel, self._listener)
        conn.add_termination_listener(lambda _c: self._on_lost())
        self._conn = conn

    def _on_lost(self) -> None:
        if not self._closed:
            log.warning("event_bridge_connection_lost", transport="postgresql")
            asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        async with self._lock:
            while not self._closed and (self._conn is None or self._conn.is_closed()):
                try:
                    await self._connect()
                except Exception:
                    await asyncio.sleep(RECONNECT_DELAY_S)

    async def send(self, text: str) -> None:
        if self._conn is None or self._conn.is_closed():
            await self._reconnect()
        await self._conn.execute("SELECT pg_notify($1, $2)", self.channel, text)

    async def close(self) -> None:
        self._closed = True
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()


class EventBridge:
    """Forward local events to the transport; re-publish other processes' events locally."""

    def __init__(self, bus: EventBus, transport: Transport, origin: str) -> None:
        self.bus = bus
        self.transport = transport
        self.origin = origin
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.forwarded = 0
        self.received = 0

    async def start(self) -> None:
        await self.transport.open(self._on_message)
        self._task = asyncio.create_task(self._forward(), name="event-bridge")
        await asyncio.wait_for(self._ready.wait(), timeout=5)

    def _on_message(self, raw: str | bytes) -> None:
        try:
            body = json.loads(raw)
        except (TypeError, ValueError):
            return
        if not isinstance(body, dict) or body.get("origin") == self.origin:
            return
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(body.get("type"), str):
            return
        self.received += 1
        self.bus.publish(body["type"], data, origin=str(body.get("origin") or "remote"))

    async def _forward(self) -> None:
        limit = getattr(self.transport, "limit", None)
        async with self.bus.subscribe() as subscription:
            self._ready.set()
            while True:
                event = await subscription.get()
                if event.origin is not None or event.type.startswith(LOCAL_ONLY_PREFIXES):
                    continue
                try:
                    await self.transport.send(_encode(self.origin, event, limit))
                    self.forwarded += 1
                except Exception:  # browsers miss a live update; the database has it all
                    log.warning("event_forward_failed", type=event.type, exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            await asyncio.sleep(0.1)  # let just-published events drain
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.transport.close()


def make_bridge(
    bus: EventBus, *, redis_url: str | None, database_url: str, instance_id: str, origin: str
) -> EventBridge | None:
    """Redis when configured, else PostgreSQL notifications, else None (single process)."""
    transport: Transport
    if redis_url:
        transport = RedisTransport(redis_url, instance_id)
    elif database_url.startswith("postgresql"):
        transport = PostgresTransport(database_url, instance_id)
    else:
        return None
    return EventBridge(bus, transport, origin)
