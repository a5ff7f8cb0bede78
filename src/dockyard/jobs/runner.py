"""Running jobs: handlers registered by kind, one execution path, two runners.

A handler is `async def handler(ctx: JobContext) -> dict | None`; it reports progress with
`ctx.progress(...)` and fails by raising (a `DockyardError` message reaches the user as is).

`execute_job(runtime, job_id)` is the only way a job runs: it claims the job
(queued → running, compare-and-set, so a job submitted twice runs once), stamps the process's
`runner_id`, heartbeats while the handler runs, and records the outcome. Two runners call it:

- `EmbeddedJobRunner` (default): an asyncio task inside `dockyard serve` (or `dockyard beat`).
- `CeleryJobRunner` (when `DOCKYARD_REDIS_URL` is set): `submit` sends a Celery task, and a
  `dockyard worker` process calls the same `execute_job` (see `dockyard.jobs.celery_app`).

`recover_interrupted` fails only running jobs whose heartbeat is stale (their process is gone)
and resubmits queued ones, so several processes can share one database safely.

Graceful shutdown (SIGTERM/SIGINT, see `JobRunner.stop`) follows the same rule:

- the runner stops taking jobs at once: a job submitted from then on stays `queued` in the
  database (handed back), and the next process's recovery (or start) runs it;
- running jobs get `DOCKYARD_SHUTDOWN_GRACE_S` to finish;
- a job still running after that is cancelled and marked failed at once by its own process
  (`SHUTDOWN_INTERRUPTED`, audited, pushed to browsers), not left for another process to find
  stale. A started job is never re-run automatically: handlers are not restartable part-way
  (a half-done deploy or update run again could recreate, stop or roll back containers a
  second time), so the user sees what happened and runs it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update

from dockyard.audit.service import Actor, record
from dockyard.jobs.models import Job, JobLine
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import DockyardError

log = structlog.get_logger(__name__)

JobHandler = Callable[["JobContext"], Awaitable[dict[str, Any] | None]]
_HANDLERS: dict[str, JobHandler] = {}
INTERRUPTED = "Interrupted: the process running this job stopped before it finished. Run it again."
STALE_HEARTBEATS = 3  # a running job silent for this many heartbeat intervals is interrupted
RESUBMIT_EVERY_S = 300.0  # a still-queued job is sent to the runner again at most this often
SHUTDOWN_INTERRUPTED = (
    "Interrupted by shutdown: the process running this job was stopped and the job did not "
    "finish within the {grace:g} s grace period. It stopped part-way and is not re-run "
    "automatically: check the result and run it again."
)


def make_runner_id(role: str = "server") -> str:
    """This process's identity on the jobs it runs: `role@host:pid:random`."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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


async def execute_job(runtime: Any, job_id: str) -> str | None:
    """Claim the job (queued → running), run its handler, record the outcome.

    Returns the final status, or None when the job was not queued (another runner took it,
    or it was cancelled). Used by every runner: embedded tasks and Celery workers.
    """
    runner_id: str = runtime.runner_id
    now = utcnow()
    async with runtime.db.session() as session:
        claimed = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(status="running", started_at=now, runner_id=runner_id, heartbeat_at=now)
            .returning(Job)
        )
        job = claimed.scalar_one_or_none()
        if job is None:
            return None
        publish_after_commit(
            session,
            "job.progress",
            {
                "job_id": job.id,
                "service_id": job.service_id,
                "status": "running",
                "runner_id": runner_id,
            },
        )
        await session.commit()
    ctx = JobContext(
        runtime=runtime,
        job_id=job.id,
        kind=job.kind,
        params=dict(job.params),
        service_id=job.service_id,
        node_id=job.node_id,
        actor=Actor(job.actor_type, job.actor_id, job.actor_label),
    )
    heartbeat = asyncio.create_task(
        _heartbeat(runtime, job.id, runner_id), name=f"job-heartbeat-{job.id}"
    )
    structlog.contextvars.bind_contextvars(job_id=job.id)
    try:
        result = await handler_for(job.kind)(ctx)
    except asyncio.CancelledError:
        # Cancelled by a graceful shutdown (the runner says why) or by a dying loop.
        reason = getattr(runtime.jobs, "interrupt_reason", None) or INTERRUPTED
        await finish_job(runtime, ctx, "failed", error=reason)
        raise
    except DockyardError as exc:
        await finish_job(runtime, ctx, "failed", error=exc.message)
        return "failed"
    except Exception as exc:
        log.exception("job_crashed", kind=job.kind)
        await finish_job(runtime, ctx, "failed", error=f"Unexpected error: {exc}")
        return "failed"
    else:
        await finish_job(runtime, ctx, "succeeded", result=result or {})
        return "succeeded"
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        structlog.contextvars.unbind_contextvars("job_id")


async def _heartbeat(runtime: Any, job_id: str, runner_id: str) -> None:
    interval = float(runtime.settings.job_heartbeat_s)
    while True:
        await asyncio.sleep(interval)
        try:
            async with runtime.db.session() as session:
                await session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "running", Job.runner_id == runner_id)
                    .values(heartbeat_at=utcnow())
                )
                await session.commit()
        except Exception:  # a missed beat is retried; three in a row mark the job stale
            log.warning("job_heartbeat_failed", job_id=job_id, exc_info=True)


async def finish_job(
    runtime: Any,
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
    async with runtime.db.session() as session:
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


async def fail_stale_jobs(runtime: Any, *, stale_after_s: float | None = None) -> list[str]:
    """Mark failed (INTERRUPTED) running jobs whose heartbeat is older than `stale_after_s`
    (default: 3 heartbeat intervals): their process died. Jobs of live processes are left."""
    if stale_after_s is None:
        stale_after_s = STALE_HEARTBEATS * float(runtime.settings.job_heartbeat_s)
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    stale_cond = or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff)
    failed: list[str] = []
    async with runtime.db.session() as session:
        candidates = (
            (await session.execute(select(Job).where(Job.status == "running", stale_cond)))
            .scalars()
            .all()
        )
        for job in candidates:
            # Compare-and-set: a beat that arrives meanwhile keeps the job alive.
            hit = await session.execute(
                update(Job)
                .where(Job.id == job.id, Job.status == "running", stale_cond)
                .values(status="failed", error=INTERRUPTED, finished_at=utcnow(), lock_key=None)
                .execution_options(synchronize_session=False)
            )
            if getattr(hit, "rowcount", 0) != 1:
                continue
            failed.append(job.id)
            session.add(
                JobLine(
                    job_id=job.id,
                    seq=job.progress_count + 1,
                    ts=utcnow(),
                    level="error",
                    message=INTERRUPTED,
                )
            )
            await session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(progress_count=Job.progress_count + 1)
                .execution_options(synchronize_session=False)
            )
            await record(
                session,
                action=job.kind,
                actor=Actor.system("job-recovery"),
                outcome="failure",
                target_type="service" if job.service_id is not None else "job",
                target_id=job.service_id if job.service_id is not None else job.id,
                details={"job_id": job.id, "error": INTERRUPTED, "runner_id": job.runner_id},
            )
            publish_after_commit(
                session,
                "job.finished",
                {
                    "job_id": job.id,
                    "kind": job.kind,
                    "service_id": job.service_id,
                    "status": "failed",
                    "error": INTERRUPTED,
                },
            )
        await session.commit()
    for job_id in failed:
        log.warning("job_interrupted", job_id=job_id)
    return failed


async def queued_job_ids(runtime: Any, *, older_than_s: float = 0.0) -> list[str]:
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    async with runtime.db.read_session() as session:
        rows = await session.execute(
            select(Job.id)
            .where(Job.status == "queued", Job.created_at <= cutoff)
            .order_by(Job.created_at)
        )
        return list(rows.scalars().all())


class JobRunner:
    """What the rest of the code sees as `runtime.jobs`."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._resubmitted: dict[str, float] = {}
        self.stopping = False  # set by `begin_shutdown`: no new job starts here
        self.interrupt_reason: str | None = None  # the error of jobs cancelled at shutdown

    def begin_shutdown(self) -> None:
        """Stop taking jobs: from now on a submitted job stays queued for another process."""
        if not self.stopping:
            self.stopping = True
            log.info("jobs_shutdown_started", runner_id=self.runtime.runner_id)

    def submit(self, job_id: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def recover_interrupted(self, *, queued_older_than_s: float = 0.0) -> int:
        """Fail running jobs whose process is gone; resubmit queued ones (never lost).

        Resubmitting is safe: `execute_job` claims with a compare-and-set, so a job that is
        also submitted elsewhere still runs once.
        """
        failed = await fail_stale_jobs(self.runtime)
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._resubmitted = {
            k: t for k, t in self._resubmitted.items() if now - t < RESUBMIT_EVERY_S
        }
        for job_id in await queued_job_ids(self.runtime, older_than_s=queued_older_than_s):
            # A job may wait in the broker's queue behind busy workers: resend it at most
            # every few minutes, not at every sweep.
            if job_id in self._resubmitted:
                continue
            self._resubmitted[job_id] = now
            self.submit(job_id)
        return len(failed)

    async def run_now(self, job_id: str) -> str | None:
        """Run a job in this call (a Celery worker's task)."""
        return await execute_job(self.runtime, job_id)

    async def wait_idle(self, timeout_s: float = 30.0) -> None:
        return None

    async def stop(self, grace_s: float = 10.0) -> None:
        self.begin_shutdown()


class EmbeddedJobRunner(JobRunner):
    """Runs jobs as asyncio tasks inside this process."""

    def __init__(self, runtime: Any) -> None:
        super().__init__(runtime)
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def submit(self, job_id: str) -> None:
        """Start a committed, queued job in the background (not once shutting down: it then
        stays queued, and the next process's recovery runs it)."""
        if job_id in self._tasks:
            return
        if self.stopping:
            log.info("job_left_queued_for_shutdown", job_id=job_id)
            return
        task = asyncio.create_task(self.run(job_id), name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    async def run(self, job_id: str) -> None:
        await execute_job(self.runtime, job_id)

    async def run_now(self, job_id: str) -> str | None:
        """Run a job in this call (a Celery worker's task), tracked like a submitted one, so
        `stop` waits for it and then interrupts it. Once shutting down it is left queued."""
        if self.stopping or job_id in self._tasks:
            log.info("job_left_queued_for_shutdown", job_id=job_id)
            return None
        task = asyncio.create_task(execute_job(self.runtime, job_id), name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))
        return await task

    async def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Wait for running jobs (graceful shutdown and tests)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=timeout_s)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Graceful shutdown: take no new job, let running ones finish for `grace_s`, then
        cancel the rest (each is marked failed with `SHUTDOWN_INTERRUPTED`). Idempotent."""
        self.begin_shutdown()
        if self._tasks and grace_s > 0:
            log.info("jobs_draining", running=len(self._tasks), grace_s=grace_s)
            await self.wait_idle(grace_s)
        left = list(self._tasks.values())
        if not left:
            return
        self.interrupt_reason = SHUTDOWN_INTERRUPTED.format(grace=grace_s)
        log.warning("jobs_interrupted_by_shutdown", jobs=list(self._tasks))
        for task in left:
            task.cancel()
        for task in left:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class CeleryJobRunner(JobRunner):
    """Sends each job to the Celery workers (`dockyard worker`) through Redis."""

    def __init__(self, runtime: Any, redis_url: str) -> None:
        super().__init__(runtime)
        from dockyard.jobs.celery_app import configure

        self.app = configure(redis_url)
        self._sends: set[asyncio.Future[Any]] = set()
        self._submitted: set[str] = set()

    def _send(self, job_id: str) -> None:
        from dockyard.jobs.celery_app import RUN_JOB_TASK, queue_name

        self.app.send_task(RUN_JOB_TASK, args=[job_id], queue=queue_name(self.runtime.instance_id))

    def submit(self, job_id: str) -> None:
        """Send the task off the event loop (the broker call blocks briefly).

        A failed send leaves the job queued; the periodic recovery resubmits it.
        """
        self._submitted.add(job_id)
        future = asyncio.get_running_loop().run_in_executor(None, self._send, job_id)
        self._sends.add(future)

        def done(fut: asyncio.Future[Any]) -> None:
            self._sends.discard(fut)
            if not fut.cancelled() and fut.exception() is not None:
                log.error("job_submit_failed", job_id=job_id, error=str(fut.exception()))

        future.add_done_callback(done)

    async def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Wait until the jobs this process submitted have finished (tests, shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._submitted and loop.time() < deadline:
            async with self.runtime.db.read_session() as session:
                rows = await session.execute(
                    select(Job.id).where(
                        Job.id.in_(list(self._submitted)), Job.status.in_(("queued", "running"))
                    )
                )
                self._submitted = set(rows.scalars().all())
            if self._submitted:
                await asyncio.sleep(0.2)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Jobs run on the workers: only finish sending what was submitted (a job whose send
        fails stays queued and is resent by recovery)."""
        self.begin_shutdown()
        if self._sends:
            await asyncio.wait(list(self._sends), timeout=max(grace_s, 1.0))
