"""Running jobs: handlers registered by kind, executed by the embedded runner.

A handler is `async def handler(ctx: JobContext) -> dict | None`; it reports progress with
`ctx.progress(...)` and fails by raising (a `DockyardError` message reaches the user as is).
The same handlers will run on Celery workers in scale-out mode.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select, update

from dockyard.audit.service import Actor, record
from dockyard.jobs.models import Job, JobLine
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import DockyardError

log = structlog.get_logger(__name__)

JobHandler = Callable[["JobContext"], Awaitable[dict[str, Any] | None]]
_HANDLERS: dict[str, JobHandler] = {}
INTERRUPTED = "Interrupted: the server stopped while this job was running. Run it again."


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register the handler of a job kind (module import time)."""

    def register(fn: JobHandler) -> JobHandler:
        if kind in _HANDLERS:
            raise RuntimeError(f"two handlers for job kind {kind}")
        _HANDLERS[kind] = fn
        return fn

    return register


def handler_for(kind: str) -> JobHandler:
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise DockyardError(f"No handler for job kind {kind}.", code="unknown_job_kind") from None


@dataclass
class JobContext:
    """What a running handler can see and do."""

    runtime: Any  # dockyard.runtime.Runtime (Any: the runtime imports this module)
    job_id: str
    kind: str
    params: dict[str, Any]
    service_id: int | None
    node_id: int | None
    actor: Actor
    _lines: int = field(default=0)

    async def progress(self, message: str, *, level: str = "info") -> None:
        """Append a progress line (stored, and pushed live to browsers)."""
        async with self.runtime.db.session() as session:
            seq = (
                await session.execute(
                    update(Job)
                    .where(Job.id == self.job_id)
                    .values(progress_count=Job.progress_count + 1)
                    .returning(Job.progress_count)
                )
            ).scalar_one()
            line = JobLine(job_id=self.job_id, seq=seq, ts=utcnow(), level=level, message=message)
            session.add(line)
            publish_after_commit(
                session,
                "job.progress",
                {
                    "job_id": self.job_id,
                    "service_id": self.service_id,
                    "seq": seq,
                    "level": level,
                    "message": message,
                    "ts": line.ts.isoformat(),
                },
            )
            await session.commit()


class EmbeddedJobRunner:
    """Runs jobs as asyncio tasks inside the server process."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def submit(self, job_id: str) -> None:
        """Start a committed, queued job in the background."""
        task = asyncio.create_task(self.run(job_id), name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    async def run(self, job_id: str) -> None:
        """Claim the job (queued → running), run its handler, record the outcome."""
        async with self.runtime.db.session() as session:
            claimed = await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(status="running", started_at=utcnow())
                .returning(Job)
            )
            job = claimed.scalar_one_or_none()
            if job is None:
                return  # another runner took it, or it was cancelled
            publish_after_commit(
                session,
                "job.progress",
                {"job_id": job.id, "service_id": job.service_id, "status": "running"},
            )
            await session.commit()
        ctx = JobContext(
            runtime=self.runtime,
            job_id=job.id,
            kind=job.kind,
            params=dict(job.params),
            service_id=job.service_id,
            node_id=job.node_id,
            actor=Actor(job.actor_type, job.actor_id, job.actor_label),
        )
        structlog.contextvars.bind_contextvars(job_id=job.id)
        try:
            result = await handler_for(job.kind)(ctx)
        except asyncio.CancelledError:
            await self.finish(ctx, "failed", error=INTERRUPTED)
            raise
        except DockyardError as exc:
            await self.finish(ctx, "failed", error=exc.message)
        except Exception as exc:
            log.exception("job_crashed", kind=job.kind)
            await self.finish(ctx, "failed", error=f"Unexpected error: {exc}")
        else:
            await self.finish(ctx, "succeeded", result=result or {})
        finally:
            structlog.contextvars.unbind_contextvars("job_id")

    async def finish(
        self,
        ctx: JobContext,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Record the outcome, release the lock, audit it, tell the browsers."""
        if error:
            with contextlib.suppress(Exception):
                await ctx.progress(error, level="error")
        async with self.runtime.db.session() as session:
            values: dict[str, Any] = {
                "status": status,
                "finished_at": utcnow(),
                "lock_key": None,
                "error": error,
            }
            if result is not None:
                values["result"] = result
            await session.execute(update(Job).where(Job.id == ctx.job_id).values(**values))
            await record(
                session,
                action=ctx.kind,
                actor=ctx.actor,
                outcome="success" if status == "succeeded" else "failure",
                target_type="service" if ctx.service_id is not None else "job",
                target_id=ctx.service_id if ctx.service_id is not None else ctx.job_id,
                details={"job_id": ctx.job_id, "error": error, **(ctx.params or {})},
            )
            publish_after_commit(
                session,
                "job.finished",
                {
                    "job_id": ctx.job_id,
                    "kind": ctx.kind,
                    "service_id": ctx.service_id,
                    "status": status,
                    "error": error,
                },
            )
            await session.commit()

    async def recover_interrupted(self) -> int:
        """Fail jobs a previous process left queued or running (never silently lost)."""
        async with self.runtime.db.session() as session:
            stale = (
                (await session.execute(select(Job).where(Job.status.in_(("queued", "running")))))
                .scalars()
                .all()
            )
            for job in stale:
                job.status = "failed"
                job.error = INTERRUPTED
                job.finished_at = utcnow()
                job.lock_key = None
                await record(
                    session,
                    action=job.kind,
                    actor=Actor.system("job-recovery"),
                    outcome="failure",
                    target_type="service" if job.service_id is not None else "job",
                    target_id=job.service_id if job.service_id is not None else job.id,
                    details={"job_id": job.id, "error": INTERRUPTED},
                )
            await session.commit()
        return len(stale)

    async def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Wait for running jobs (graceful shutdown and tests)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=timeout_s)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let jobs finish for `grace_s`, then cancel (they are marked failed)."""
        await self.wait_idle(grace_s)
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
