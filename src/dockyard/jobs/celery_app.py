"""Scale-out: the Celery application that runs jobs on `dockyard worker` processes.

Redis is only the broker (no result backend, no Celery beat schedule): the database stays
the source of truth. A task carries just a job id; the worker runs it with the same
`execute_job` the embedded runner uses, which claims the job with a compare-and-set, so a
message delivered twice runs the job once.

A worker process keeps one Dockyard runtime (database, engines, event bus) on an asyncio
loop in a background thread; Celery's thread pool (`worker_concurrency` threads) hands each
task's coroutine to that loop and waits for it.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import structlog
from celery import Celery  # type: ignore[import-untyped]

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
    # One job at a time per pool slot: a long job must not hold others back in a prefetch.
    worker_prefetch_multiplier=1,
    # Ack on receipt: a worker killed mid-job is detected by its stale heartbeat and the job
    # is marked failed (redelivering a half-done deploy would be worse).
    task_acks_late=False,
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


@celery_app.task(name=RUN_JOB_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
def run_job(job_id: str) -> str | None:
    """Run one job on this worker's runtime (the same `execute_job` as embedded mode)."""
    from dockyard.jobs.runner import execute_job

    if _host is None or _host.runtime is None:
        raise RuntimeError("dockyard worker runtime is not started")
    status: str | None = _host.call(execute_job(_host.runtime, job_id))
    log.info("job_done", job_id=job_id, status=status)
    return status
