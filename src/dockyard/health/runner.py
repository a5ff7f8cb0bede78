"""The health check scheduler: one asyncio task per process that probes every enabled check
once per interval, spread over the interval, with bounded concurrency; results are written
in batches.

Runs in `dockyard serve` (embedded; unless `DOCKYARD_RUN_SCHEDULER=false` or scale-out mode)
and in `dockyard beat` (scale-out). Each check's slot is `k * interval + offset(id)` on the
wall clock, the offset derived from the check id: deterministic, and different checks with
the same interval are spread evenly instead of all firing at once.

Several processes may run a runner (two `beat`s, or replicas with the embedded scheduler);
only the holder of the `health-runner` lease probes, so a check runs once per slot, and
another process takes over within `LEASE_TTL_S` when the holder dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select

from dockyard.health.models import HealthCheck
from dockyard.health.probes import ProbeResult
from dockyard.health.service import (
    CheckSpec,
    apply_results,
    close_prober,
    prober_for,
    purge_history,
)
from dockyard.kit.clock import utcnow
from dockyard.system import leases

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

log = structlog.get_logger(__name__)

REFRESH_S = 10.0
FLUSH_S = 1.0
FLUSH_BATCH = 500
PURGE_INTERVAL_S = 3600.0
LEASE_NAME = "health-runner"
LEASE_TTL_S = 30.0


def slot_offset(check_id: int, interval_s: int) -> float:
    """Where in its interval a check runs: a deterministic hash of the id (Knuth)."""
    return ((check_id * 2654435761) % 2**32) / 2**32 * interval_s


def next_slot(check_id: int, interval_s: int, after: float) -> float:
    """The first wall-clock time after `after` that is this check's slot."""
    offset = slot_offset(check_id, interval_s)
    k = (after - offset) // interval_s + 1
    return float(k * interval_s + offset)


class HealthRunner:
    def __init__(
        self,
        runtime: Runtime,
        *,
        refresh_s: float = REFRESH_S,
        flush_s: float = FLUSH_S,
        lease_ttl_s: float = LEASE_TTL_S,
        holder: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.lease_ttl_s = lease_ttl_s
        self.holder = holder or runtime.runner_id
        self.leader = False  # holds the lease: only then does it probe
        self.refresh_s = refresh_s
        self.flush_s = flush_s
        self.specs: dict[int, CheckSpec] = {}
        self._heap: list[tuple[float, int, int]] = []  # (due, check id, generation)
        self._generation: dict[int, int] = {}
        self._running: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: list[tuple[int, ProbeResult, datetime]] = []
        self._loops: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self.runs = 0

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._schedule_loop()),
            asyncio.create_task(self._flush_loop()),
            asyncio.create_task(self._purge_loop()),
            asyncio.create_task(self._lease_loop()),
        ]

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._flush()
        if self.leader:
            self.leader = False
            with contextlib.suppress(Exception):
                await leases.release(self.runtime.db, LEASE_NAME, self.holder)
        await close_prober(self.runtime)

    def refresh_soon(self) -> None:
        self._wake.set()

    async def refresh(self) -> None:
        """Reload the enabled checks; (re)schedule new and changed ones."""
        async with self.runtime.db.read_session() as session:
            rows = (
                (await session.execute(select(HealthCheck).where(HealthCheck.enabled.is_(True))))
                .scalars()
                .all()
            )
            specs = {row.id: CheckSpec.of(row) for row in rows}
        now = time.time()
        for check_id, spec in specs.items():
            if self.specs.get(check_id) != spec:
                generation = self._generation.get(check_id, 0) + 1
                self._generation[check_id] = generation
                due = next_slot(check_id, spec.interval_s, now)
                heapq.heappush(self._heap, (due, check_id, generation))
        for check_id in set(self.specs) - set(specs):
            self._generation.pop(check_id, None)
        self.specs = specs

    async def _schedule_loop(self) -> None:
        next_refresh = 0.0
        while True:
            now = time.time()
            if now >= next_refresh:
                try:
                    await self.refresh()
                except Exception:
                    log.exception("health_refresh_failed")
                next_refresh = time.time() + self.refresh_s
            now = time.time()
            while self._heap and self._heap[0][0] <= now:
                due, check_id, generation = heapq.heappop(self._heap)
                if self._generation.get(check_id) != generation:
                    continue  # deleted, disabled or changed: rescheduled under a new generation
                spec = self.specs[check_id]
                following = due + spec.interval_s
                if following <= now:
                    following = next_slot(check_id, spec.interval_s, now)
                heapq.heappush(self._heap, (following, check_id, generation))
                if check_id in self._running:
                    continue  # the previous run is still going: skip this slot
                if not self.leader:
                    continue  # another process holds the lease and probes this slot
                self._running.add(check_id)
                task = asyncio.create_task(self._run(spec))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            until = min(next_refresh, self._heap[0][0] if self._heap else next_refresh)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.01, until - time.time()))
            if self._wake.is_set():
                next_refresh = 0.0

    async def _run(self, spec: CheckSpec) -> None:
        try:
            result = await prober_for(self.runtime).probe(spec)
            self._pending.append((spec.id, result, utcnow()))
            self.runs += 1
        finally:
            self._running.discard(spec.id)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:FLUSH_BATCH], self._pending[FLUSH_BATCH:]
            await apply_results(self.runtime, batch)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                await self._flush()
            except Exception:
                log.exception("health_flush_failed")

    async def _lease_loop(self) -> None:
        """Take or renew the lease every third of its lifetime."""
        while True:
            try:
                held = await leases.acquire(
                    self.runtime.db, LEASE_NAME, self.holder, self.lease_ttl_s
                )
            except Exception:
                log.exception("health_lease_failed")
                held = False  # cannot prove we hold it: let the others probe
            if held != self.leader:
                log.info("health_runner_leader" if held else "health_runner_follower")
            self.leader = held
            await asyncio.sleep(self.lease_ttl_s / 3)

    async def _purge_loop(self) -> None:
        await asyncio.sleep(60)
        while True:
            try:
                await purge_history(self.runtime)
            except Exception:
                log.exception("health_purge_failed")
            await asyncio.sleep(PURGE_INTERVAL_S)


def runs_in_server(runtime: Runtime) -> bool:
    """`dockyard serve` runs checks itself unless a `dockyard beat` does (scale-out)."""
    settings = runtime.settings
    return settings.run_scheduler and not settings.redis_url


def start_runner(runtime: Runtime) -> HealthRunner:
    runner = HealthRunner(runtime)
    runtime._health_runner = runner  # type: ignore[attr-defined]
    runner.start()
    return runner


def notify_changed(runtime: Runtime) -> None:
    """After a create, change or delete: reload the checks now, not at the next refresh."""
    runner = getattr(runtime, "_health_runner", None)
    if isinstance(runner, HealthRunner):
        runner.refresh_soon()
