"""Periodic system work: firing due schedules, job recovery, audit retention.

Runs inside `dockyard serve` (embedded, default) and in `dockyard beat` (scale-out). Due
schedules are claimed in the database (`dockyard.schedules.service.claim_one`), so any
number of these loops can run against one database without running a schedule twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog

from dockyard.artifacts.service import retention_job as artifact_retention_job
from dockyard.audit.service import purge_expired
from dockyard.jobs.runner import STALE_HEARTBEATS
from dockyard.kit.clock import utcnow
from dockyard.mcp_registry.service import TICK_INTERVAL_S as MCP_TICK_INTERVAL_S
from dockyard.mcp_registry.service import check_due_servers as check_due_mcp_servers
from dockyard.runtime import Runtime
from dockyard.schedules.service import claim_one, due_ids

log = structlog.get_logger(__name__)

AUDIT_PURGE_INTERVAL_S = 6 * 3600
ARTIFACT_PURGE_INTERVAL_S = 3600


async def audit_retention_job(runtime: Runtime) -> None:
    """Purge audit events past retention, leaving a checkpoint (see audit.service)."""
    await purge_expired(runtime.db, retention_days=runtime.settings.audit_retention_days)


async def fire_due_schedules(runtime: Runtime, now: datetime | None = None) -> list[str]:
    """Claim and fire every schedule due at `now`; submit their jobs. Returns the job ids.

    Each schedule is claimed in its own transaction (one broken schedule cannot block the
    others); a schedule another process claimed first is skipped.
    """
    now = now or utcnow()
    async with runtime.db.read_session() as session:
        candidates = await due_ids(session, now)
    fired: list[str] = []
    lease_s = max(60.0, 3 * runtime.settings.schedule_poll_interval_s)
    for schedule_id in candidates:
        try:
            async with runtime.db.session() as session:
                job = await claim_one(
                    session, schedule_id, now=now, owner=runtime.runner_id, lease_s=lease_s
                )
                job_id = job.id if job is not None else None
                await session.commit()
        except Exception:
            log.exception("schedule_fire_failed", schedule_id=schedule_id)
            continue
        if job_id is not None:
            runtime.jobs.submit(job_id)
            fired.append(job_id)
    return fired


async def schedule_tick(runtime: Runtime) -> None:
    await fire_due_schedules(runtime)


async def job_recovery(runtime: Runtime) -> None:
    """Fail jobs whose process died (stale heartbeat); resubmit long-queued ones."""
    await runtime.jobs.recover_interrupted(
        queued_older_than_s=STALE_HEARTBEATS * runtime.settings.job_heartbeat_s
    )


def install_system_jobs(scheduler: EmbeddedScheduler, *, schedules: bool) -> None:
    """The periodic work of `dockyard serve` and `dockyard beat`."""
    settings = scheduler.runtime.settings
    scheduler.every(AUDIT_PURGE_INTERVAL_S, audit_retention_job)
    scheduler.every(ARTIFACT_PURGE_INTERVAL_S, artifact_retention_job, first_after_s=60)
    scheduler.every(
        STALE_HEARTBEATS * settings.job_heartbeat_s,
        job_recovery,
        first_after_s=STALE_HEARTBEATS * settings.job_heartbeat_s,
    )
    if schedules:
        # The alert engine: with the scheduler (serve, or beat in scale-out mode).
        from dockyard.alerts.engine import TICK_S, alert_events, alerts_tick

        scheduler.every(1.0, alert_events, first_after_s=0)
        scheduler.every(TICK_S, alerts_tick, first_after_s=5)
        scheduler.every(
            settings.schedule_poll_interval_s,
            schedule_tick,
            first_after_s=min(settings.schedule_poll_interval_s, 1.0),
        )
        # Periodic MCP server checks: each tick claims the servers that are due.
        scheduler.every(MCP_TICK_INTERVAL_S, check_due_mcp_servers, first_after_s=2.0)
        # Metrics: sample the local node (agents sample their own host), downsample, retain.
        from dockyard.metrics.jobs import (
            MAINTENANCE_INTERVAL_S,
            collect_local,
            metrics_maintenance,
        )

        scheduler.every(settings.metrics_interval, collect_local, first_after_s=1.0)
        scheduler.every(MAINTENANCE_INTERVAL_S, metrics_maintenance, first_after_s=30.0)


class EmbeddedScheduler:
    """Runs each job every `interval_s`, first shortly after start; a failure is logged."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._tasks: list[asyncio.Task[None]] = []

    def every(
        self,
        interval_s: float,
        job: Callable[[Runtime], Awaitable[None]],
        *,
        first_after_s: float = 30,
    ) -> None:
        self._tasks.append(asyncio.create_task(self._loop(interval_s, job, first_after_s)))

    async def _loop(
        self, interval_s: float, job: Callable[[Runtime], Awaitable[None]], first_after_s: float
    ) -> None:
        await asyncio.sleep(first_after_s)
        while True:
            try:
                await job(self.runtime)
            except Exception:  # a failing job must not kill the scheduler
                log.exception("job_failed", job=job.__name__)
            await asyncio.sleep(interval_s)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
