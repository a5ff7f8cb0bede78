"""`StateWatcher`: keeps one node's `NodeStateCache` current from the engine's events.

Start: subscribe to `/events`, then list every container and inspect the ones the cache
does not already know as they are (inspect runs off the loop, a few at a time). Then each
container event publishes what it says itself (`start`, `die`, `pause`, health, ...) at
once, and re-inspects that one container for the rest (exact times, ports). A broken
stream (engine restarted, socket gone) marks the node unreachable, reconnects with
jittered exponential backoff and replays events since the last one seen, so a `die` in the
gap is still reported; a full re-list follows every (re)connect and runs periodically
(every `reconcile_interval_s`, jittered by a quarter so many watchers do not re-list in
step) to repair any drift.

Work per container is serialized (one inspect in flight, at most one queued; events that
arrive meanwhile share the queued one), so a burst of events costs a couple of inspects
and results always apply in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from dockyard.engine.adapter import DockerEngine
from dockyard.engine.errors import EngineNotFoundError, EngineUnavailableError
from dockyard.engine.streams import DockerStream, open_event_stream
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import DockyardError
from dockyard.kit.events import EventBus
from dockyard.state.cache import NodeStateCache
from dockyard.state.schemas import ContainerState, apply_event, summary_matches

log = structlog.get_logger(__name__)

CONTAINER_STATE = "container.state"
SERVICE_STATUS = "service.status"
NODE_STATUS = "node.status"

# Container actions that can change what the cache holds; the rest (exec_*, attach,
# resize, top, ...) cannot. `health_status: healthy` is matched on its first word.
STATE_ACTIONS = frozenset(
    {
        "create",
        "start",
        "die",
        "stop",
        "kill",
        "pause",
        "unpause",
        "restart",
        "destroy",
        "health_status",
        "rename",
        "oom",
        "update",
    }
)
# `service.status` is sent at once for a quiet service; a burst (a compose project
# starting) adds at most one more per service and window.
SERVICE_FLUSH_S = 0.05


def _event_action(event: Mapping[str, Any]) -> str:
    action = str(event.get("Action") or event.get("status") or "")
    return action.split(":", 1)[0].strip()


def _event_container_id(event: Mapping[str, Any]) -> str | None:
    actor = event.get("Actor") or {}
    cid = actor.get("ID") or event.get("id")
    return str(cid) if cid else None


class _Pending:
    __slots__ = ("future", "reason")

    def __init__(self, future: asyncio.Future[BaseException | None], reason: str) -> None:
        self.future = future
        self.reason = reason


class StateWatcher:
    """Follows one engine and keeps `cache` current; publishes changes on `bus`."""

    def __init__(
        self,
        node_id: int,
        base_url: str,
        cache: NodeStateCache,
        bus: EventBus,
        *,
        reconcile_interval_s: float = 30.0,
        inspect_concurrency: int = 4,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        call_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        push: bool = False,
    ) -> None:
        self.node_id = node_id
        # Push mode (agent nodes): the agent sends its container list and engine events
        # (`apply_state`, `apply_events`); inspects and reconciles still go to `base_url`.
        self.push = push
        self._state_at: float | None = None
        self.base_url = base_url
        self.cache = cache
        self.bus = bus
        self.reconcile_interval_s = reconcile_interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.connect_timeout_s = connect_timeout_s
        # Its own engine (threads, connections): request traffic cannot starve it.
        self._engine = DockerEngine(
            base_url, timeout_s=call_timeout_s, max_workers=inspect_concurrency
        )
        self._inspect_slots = asyncio.Semaphore(inspect_concurrency)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._waiting: dict[str, _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._service_sent: dict[int, float] = {}
        self._seq = 0
        self._marks: dict[str, int] = {}
        # Containers whose cached state came from an event, not yet confirmed by inspect.
        self._guessed: set[str] = set()
        self._dirty_services: set[int] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._stream: DockerStream[dict[str, Any]] | None = None
        self._connected = asyncio.Event()
        self._stopping = False
        # Docker's `since` for a replay: the last event's time, `seconds.nanoseconds`.
        self._resume_since: str | None = None
        self.last_event_at: datetime | None = None
        self.last_error: str | None = None
        self.connects = 0

    # ---------------------------------------------------------------- lifecycle

    @property
    def connected(self) -> bool:
        """Following the engine's events with a synced cache."""
        return self._connected.is_set()

    async def start(self) -> None:
        """Start following in the background; returns at once (see `wait_connected`)."""
        if self._run_task is None:
            self._stopping = False
            self._run_task = asyncio.create_task(self._run(), name=f"state-watcher-{self.node_id}")

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until the cache is synced and events are followed; `TimeoutError` if not."""
        await asyncio.wait_for(self._connected.wait(), timeout_s)

    async def stop(self) -> None:
        """Stop following, cancel in-flight work and release the engine's threads."""
        self._stopping = True
        task, self._run_task = self._run_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pending in list(self._tasks):
            pending.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        # Nobody follows the engine any more: the cache may go stale from here on.
        self._set_connected(False, "the watcher stopped")
        await self._engine.close()

    async def drop_connection(self) -> None:
        """Close the event stream as if the engine went away; the watcher reconnects."""
        stream = self._stream
        if stream is not None:
            await stream.aclose()

    async def reconcile(self) -> None:
        """Re-list the node's containers now and fix whatever the cache got wrong."""
        await self._resync("reconcile")

    # ---------------------------------------------------------------- the follow loop

    async def _run(self) -> None:
        if self.push:
            await self._push_run()
            return
        delay = self.backoff_initial_s
        while not self._stopping:
            stream: DockerStream[dict[str, Any]] | None = None
            try:
                stream = await open_event_stream(
                    self.base_url,
                    since=self._resume_since,
                    connect_timeout_s=self.connect_timeout_s,
                )
                self._stream = stream
                if self._resume_since is None and stream.server_date is not None:
                    # No event seen yet: resume from this connect (engine clock, 1 s slack).
                    self._resume_since = str(int(stream.server_date.timestamp()) - 1)
                await self._resync("reconnect" if self.connects else "start")
                self.connects += 1
                self._set_connected(True, None)
                delay = self.backoff_initial_s
                await self._follow(stream)
                error = "the event stream was closed"
            except asyncio.CancelledError:
                raise
            except DockyardError as exc:
                error = exc.message
            except Exception as exc:  # a bug must not end the watcher for good
                log.exception("state_watcher_failed", node_id=self.node_id)
                error = f"{exc.__class__.__name__}: {exc}"
            finally:
                self._stream = None
                if stream is not None:
                    await stream.aclose()
            self._set_connected(False, error)
            if self._stopping:
                return
            log.info("state_watcher_retry", node_id=self.node_id, error=error, delay_s=delay)
            # Jitter spreads reconnects of many watchers after a shared outage.
            await asyncio.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - not crypto
            delay = min(delay * 2, self.backoff_max_s)

    # ---------------------------------------------------------------- push mode

    async def _push_run(self) -> None:
        """Push mode: only the periodic reconcile runs here, while the agent is connected."""
        while not self._stopping:
            await asyncio.sleep(self._reconcile_pause())
            if not self.connected:
                continue
            try:
                await self._resync("reconcile")
            except DockyardError as exc:
                log.warning("state_reconcile_failed", node_id=self.node_id, error=exc.message)

    async def apply_state(self, containers: list[dict[str, Any]]) -> None:
        """Push mode: the agent's full container list, sent on every (re)connect."""
        self._state_at = time.time()
        await self._resync("reconnect" if self.connects else "start", summaries=containers)
        self.connects += 1
        self._set_connected(True, None)

    def apply_events(self, events: list[dict[str, Any]]) -> None:
        """Push mode: engine events from the agent, in order. Events older than the last
        state (a replay) only trigger inspects, as in pull mode."""
        for event in events:
            time_nano = event.get("timeNano")
            live = not (
                self._state_at is not None
                and isinstance(time_nano, int)
                and time_nano / 1e9 < self._state_at
            )
            self._on_event(event, live=live)

    def source_lost(self, error: str) -> None:
        """Push mode: the agent is gone; the cache is no longer followed."""
        self._set_connected(False, error)

    async def _follow(self, stream: DockerStream[dict[str, Any]]) -> None:
        """Handle events until the stream breaks or a reconcile finds the engine gone."""
        reader = asyncio.create_task(self._read(stream))
        reconciler = asyncio.create_task(self._reconcile_loop())
        try:
            done, _ = await asyncio.wait({reader, reconciler}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise what ended it
        finally:
            for task in (reader, reconciler):
                task.cancel()
            await asyncio.gather(reader, reconciler, return_exceptions=True)

    async def _read(self, stream: DockerStream[dict[str, Any]]) -> None:
        # Events queued while the resync ran (a replay, or older than what it listed)
        # only trigger inspects; guessing from them could show a state already past.
        backlog = stream.pending
        async for event in stream:
            self._on_event(event, live=backlog <= 0)
            backlog -= 1

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self._reconcile_pause())
            try:
                await self._resync("reconcile")
            except EngineUnavailableError:
                raise  # the engine is gone: reconnect
            except DockyardError as exc:
                log.warning("state_reconcile_failed", node_id=self.node_id, error=exc.message)

    def _reconcile_pause(self) -> float:
        """The interval, give or take a quarter: watchers started together (a server start,
        a fleet of agents reconnecting) would otherwise all re-list in the same second, every
        interval, and each re-list holds a node's whole container list in memory at once."""
        return self.reconcile_interval_s * (0.75 + random.random() / 2)  # noqa: S311

    def _set_connected(self, connected: bool, error: str | None) -> None:
        if connected:
            self._connected.set()
        else:
            self._connected.clear()
        self.last_error = error
        if self.cache.set_reachable(connected):
            self.bus.publish(
                NODE_STATUS, {"node_id": self.node_id, "reachable": connected, "error": error}
            )
            # Every service here may now read as unknown (or known again).
            for service_id in sorted(self.cache.service_ids()):
                self.bus.publish(
                    SERVICE_STATUS, {"node_id": self.node_id, "service_id": service_id}
                )
            log.info("state_watcher_connection", node_id=self.node_id, connected=connected)

    # ---------------------------------------------------------------- events

    def _on_event(self, event: Mapping[str, Any], *, live: bool = True) -> None:
        if event.get("Type", "container") != "container":
            return
        at = utcnow()
        time_nano = event.get("timeNano")
        if isinstance(time_nano, int) and time_nano > 0:
            seconds, nanos = divmod(time_nano, 1_000_000_000)
            self._resume_since = f"{seconds}.{nanos:09d}"
            at = self.last_event_at = datetime.fromtimestamp(time_nano / 1e9, UTC)
        action = _event_action(event)
        container_id = _event_container_id(event)
        if action not in STATE_ACTIONS or not container_id:
            return
        # The engine holds the container's lock while it cleans up after `die` (tens of
        # ms), and inspect waits for that lock: apply what the event itself says now,
        # then let the inspect queued below confirm or correct it. So every transition is
        # published from its own event, in event order, even if the inspect comes late.
        cached = self.cache.get(container_id)
        if cached is not None and live:
            if action == "destroy":
                self._mark(container_id)
                self._apply(container_id, None, action)
            elif (guess := apply_event(cached, event, at)) is not None:
                self._mark(container_id)
                if container_id in self._guessed or not cached.differs_only_in_timing(guess):
                    self._apply_state(guess, action, guessed=True)
                # else: an inspect that ran after this event already showed (and published)
                # this very transition with its exact time.
        self.request_refresh(container_id, action)

    def _mark(self, container_id: str) -> None:
        # Inspects that started before this event may answer with older state: see _refresh.
        self._seq += 1
        self._marks[container_id] = self._seq

    # ---------------------------------------------------------------- refresh

    def request_refresh(
        self, container_id: str, reason: str
    ) -> asyncio.Future[BaseException | None]:
        """Re-inspect one container soon; the future holds the error, if any (never raises)."""
        pending = self._waiting.get(container_id)
        if pending is not None:
            pending.reason = reason
            return pending.future
        future: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self._waiting[container_id] = pending = _Pending(future, reason)
        task = asyncio.create_task(self._refresh(container_id, pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._never_ran(container_id, pending))
        return future

    def _never_ran(self, container_id: str, pending: _Pending) -> None:
        # A task cancelled before its first step skips `_refresh`'s cleanup: do it here.
        if pending.future.done():
            return
        if self._waiting.get(container_id) is pending:
            del self._waiting[container_id]
        pending.future.set_result(EngineUnavailableError("The watcher stopped."))

    async def _refresh(self, container_id: str, pending: _Pending) -> None:
        lock = self._acquire_lock(container_id)
        outcome: BaseException | None = None
        try:
            async with lock, self._inspect_slots:
                # From here on, new events need a fresh inspect: stop sharing this one.
                if self._waiting.get(container_id) is pending:
                    del self._waiting[container_id]
                started = self._seq
                try:
                    data = await self._engine.call(lambda c: c.api.inspect_container(container_id))
                except EngineNotFoundError:
                    data = None
                mark = self._marks.get(container_id, 0)
                if mark <= started:
                    self._marks.pop(container_id, None)
                    self._apply(container_id, data, pending.reason)
                # else: an event applied since this inspect began is newer than its answer;
                # the refresh that event queued will apply the truth.
        except asyncio.CancelledError:
            outcome = EngineUnavailableError("The watcher stopped.")
            raise
        except Exception as exc:
            outcome = exc
            if not isinstance(exc, DockyardError):
                log.exception("state_refresh_failed", node_id=self.node_id, container=container_id)
        finally:
            if self._waiting.get(container_id) is pending:
                del self._waiting[container_id]
            self._release_lock(container_id)
            if not pending.future.done():
                pending.future.set_result(outcome)

    def _acquire_lock(self, container_id: str) -> asyncio.Lock:
        lock, users = self._locks.get(container_id) or (asyncio.Lock(), 0)
        self._locks[container_id] = (lock, users + 1)
        return lock

    def _release_lock(self, container_id: str) -> None:
        lock, users = self._locks[container_id]
        if users <= 1:
            del self._locks[container_id]
        else:
            self._locks[container_id] = (lock, users - 1)

    def _apply(self, container_id: str, data: Mapping[str, Any] | None, reason: str) -> None:
        if data is None:
            self._guessed.discard(container_id)
            old = self.cache.remove(container_id)
            if old is not None:
                self.bus.publish(CONTAINER_STATE, old.removed_event(self.node_id, reason=reason))
                self._service_changed(old.service_id)
            return
        self._apply_state(ContainerState.from_inspect(data), reason, guessed=False)

    def _apply_state(self, new: ContainerState, reason: str, *, guessed: bool) -> None:
        """Cache `new` and publish it, unless it is an inspect confirming an event's guess."""
        old = self.cache.get(new.id)
        was_guess = new.id in self._guessed
        if guessed:
            self._guessed.add(new.id)
        else:
            self._guessed.discard(new.id)
        if not self.cache.put(new):
            return
        if was_guess and not guessed and old is not None and old.differs_only_in_timing(new):
            return  # the exact times of a transition already published: not news
        self.bus.publish(CONTAINER_STATE, new.to_event(self.node_id, reason=reason))
        self._service_changed(new.service_id)
        if old is not None and old.service_id != new.service_id:
            self._service_changed(old.service_id)

    def _service_changed(self, service_id: int | None) -> None:
        """Signal `service.status`: at once if quiet, else once more at the window's end."""
        if service_id is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        last = self._service_sent.get(service_id)
        if service_id not in self._dirty_services and (
            last is None or now - last >= SERVICE_FLUSH_S
        ):
            self._publish_service(service_id, now)
            return
        self._dirty_services.add(service_id)
        if self._flush_handle is None:
            self._flush_handle = loop.call_later(SERVICE_FLUSH_S, self._flush_services)

    def _publish_service(self, service_id: int, now: float) -> None:
        self._service_sent[service_id] = now
        self.bus.publish(SERVICE_STATUS, {"node_id": self.node_id, "service_id": service_id})

    def _flush_services(self) -> None:
        self._flush_handle = None
        now = asyncio.get_running_loop().time()
        dirty, self._dirty_services = self._dirty_services, set()
        for service_id in sorted(dirty):
            self._publish_service(service_id, now)
        # Forget quiet services so the map stays as small as the set of busy ones.
        for service_id, sent in list(self._service_sent.items()):
            if now - sent > 1.0:
                del self._service_sent[service_id]

    # ---------------------------------------------------------------- resync

    async def _resync(self, reason: str, summaries: list[dict[str, Any]] | None = None) -> None:
        """List every container; inspect the new, changed and vanished ones."""
        if summaries is None:
            summaries = await self._engine.list_containers(all=True)
        listed = {str(s["Id"]): s for s in summaries if s.get("Id")}
        stale = [cid for cid, s in listed.items() if not summary_matches(s, self.cache.get(cid))]
        # Cached but not listed: probably removed, but it may be brand new (created after
        # the list was taken), so ask rather than drop.
        stale += [cid for cid in self.cache.ids() if cid not in listed]
        if stale:
            outcomes = await asyncio.gather(*(self.request_refresh(c, reason) for c in stale))
            for outcome in outcomes:
                if isinstance(outcome, EngineUnavailableError):
                    raise outcome
        self.cache.synced_at = utcnow()
        if reason == "reconcile" and stale:
            log.info("state_reconciled", node_id=self.node_id, refreshed=len(stale))
