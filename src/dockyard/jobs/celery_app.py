"""Scale-out: the Celery application that runs jobs on `dockyard worker` processes.

Redis is only the broker (no result backend, no Celery beat schedule): the database stays
the source of truth. A task carries just a job id; the worker runs it with the same
`execute_job` the embedded runner uses, which claims the job with a compare-and-set, so a
message delivered twice runs the job once.

A worker process keeps one Dockyard runtime (database, engines, event bus) on an asyncio
loop in a background thread; Celery's thread pool (`worker_concurrency` threads) hands each
task's coroutine to that loop and waits for it.

Shutdown (SIGTERM or SIGINT: Celery's warm shutdown): the worker stops consuming, and the
jobs it runs get `DOCKYARD_SHUTDOWN_GRACE_S` to finish (`drain_on_shutdown`); a job still
running then is marked failed ("Interrupted by shutdown", not re-run: see
`dockyard.jobs.runner`). Messages are acknowledged when their job ends (`task_acks_late`) and
prefetch is one per pool thread, so a worker holds no message it has not started; a message
that reaches a stopping worker is rejected back to the queue. A job whose message was lost
anyway is still `queued` in the database, and the servers' and beat's recovery sends it again.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any

import structlog
from celery import Celery  # type: ignore[import-untyped]
from celery.exceptions import Reject  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

log = structlog.get_logger(__name__)

RUN_JOB_TASK = "dockyard.run_job"


def queue_name(instance_id: str) -> str:
    """One queue per installation, so several Dockyards can share one Redis safely."""
    return f"dockyard.jobs.{instance_id}"


celery_app = Celery("dockyard")
celery_app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    # One job at a time per pool slot, and messages acknowledged when their job ends: a
    # worker holds only the messages it runs (none waits behind a long job), and one that
    # stops leaves every message it has not started in the queue for another worker.
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    # A message delivered again (a worker killed mid-job, Redis' visibility timeout) does not
    # run the job twice: `execute_job` claims only queued jobs, and a job whose process died
    # is failed by recovery (stale heartbeat), never re-run (a half-done deploy run again
    # could be worse).
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


def configure(redis_url: str) -> Celery:
    """Point the app at the Redis broker (idempotent)."""
    celery_app.conf.broker_url = redis_url
    return celery_app


class WorkerHost:
    """The runtime of one worker process, living on its own event loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.runtime: Runtime | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="dockyard-loop")
        self._thread.daemon = True

    def start(self, runtime_factory: Any) -> Runtime:
        self._thread.start()
        self.runtime = self.call(runtime_factory())
        return self.runtime

    def call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def stop(self, closer: Any) -> None:
        if self.runtime is not None:
            self.call(closer(self.runtime))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


_host: WorkerHost | None = None


def set_host(host: WorkerHost | None) -> None:
    global _host
    _host = host


def drain_on_shutdown(grace_s: float) -> None:
    """On Celery's warm shutdown, give running jobs `grace_s`, then interrupt them.

    Celery stops consuming and waits for its pool threads; each waits for its job on the
    runtime's loop, so interrupting the jobs there (marked failed) lets the worker exit.
    """
    from celery.signals import worker_shutting_down  # type: ignore[import-untyped]

    def on_shutting_down(**kwargs: Any) -> None:
        host = _host
        if host is None or host.runtime is None:
            return
        # Called in a signal handler: only schedule the drain on the runtime's loop.
        asyncio.run_coroutine_threadsafe(host.runtime.jobs.stop(grace_s), host.loop)

    worker_shutting_down.connect(on_shutting_down, weak=False)


@celery_app.task(name=RUN_JOB_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
def run_job(job_id: str) -> str | None:
    """Run one job on this worker's runtime (the same `execute_job` as embedded mode)."""
    if _host is None or _host.runtime is None:
        raise RuntimeError("dockyard worker runtime is not started")
    if _host.runtime.jobs.stopping:  # shutting down: back to the queue for another worker
        raise Reject("worker shutting down", requeue=True)
    try:
        status: str | None = _host.call(_host.runtime.jobs.run_now(job_id))
    except CancelledError:  # interrupted by the shutdown: already recorded as failed
        status = "failed"
    log.info("job_done", job_id=job_id, status=status)
    return status
