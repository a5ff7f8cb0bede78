"""Periodic system jobs run by the embedded scheduler inside `dockyard serve`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from dockyard.audit.service import purge_expired
from dockyard.runtime import Runtime

log = structlog.get_logger(__name__)

AUDIT_PURGE_INTERVAL_S = 6 * 3600


async def audit_retention_job(runtime: Runtime) -> None:
    """Purge audit events past retention, leaving a checkpoint (see audit.service)."""
    await purge_expired(runtime.db, retention_days=runtime.settings.audit_retention_days)


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
