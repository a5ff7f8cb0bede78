"""Scale-out mode: a real `dockyard worker` (Celery, test Redis) runs the jobs of a server in
Redis mode, and a real `dockyard beat` fires a due schedule; job events reach the server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.kit.clock import utcnow
from dockyard.kit.events import Event
from dockyard.schedules.schemas import ScheduleSpec
from dockyard.schedules.service import get_schedule, upsert_schedule
from dockyard.settings import Settings
from tests.conftest import (
    DatabaseFactory,
    audit_rows,
    clean_environ,
    dockyard_executable,
    require_env,
    running_app,
)
from tests.integration.schedules.helpers import Proc, create_service, process_env, wait_job


@pytest.fixture
async def pg_url(database_factory: DatabaseFactory) -> str:
    return await database_factory.new("postgresql")


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.stop()


@contextlib.asynccontextmanager
async def collect(bus: Any) -> AsyncIterator[list[Event]]:
    seen: list[Event] = []
    async with bus.subscribe() as sub:

        async def pump() -> None:
            while True:
                seen.append(await sub.get())

        task = asyncio.create_task(pump())
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_worker_runs_jobs_and_beat_fires_schedules(
    pg_url: str,
    app_settings: Callable[..., Settings],
    service_name: str,
    procs: list[Proc],
    tmp_path: Path,
) -> None:
    redis_url = require_env("DOCKYARD_TEST_REDIS_URL")
    # The server does not fire schedules here: only `dockyard beat` does.
    settings = app_settings(
        pg_url, redis_url=redis_url, default_publish_ip="127.0.0.1", run_scheduler=False
    )
    async with running_app(settings) as app:
        runtime = app.runtime
        assert type(runtime.jobs).__name__ == "CeleryJobRunner"
        app.client.headers.update(app.bearer(await app.token()))

        worker = Proc(
            ["worker", "--concurrency", "2"], process_env(settings), tmp_path / "worker.log"
        )
        procs.append(worker)
        await worker.wait_for("ready")
        await worker.wait_for("ready.", timeout_s=60)  # Celery's own "celery@... ready."

        service = await create_service(app, service_name)
        async with collect(runtime.events) as events:
            response = await app.client.post(f"/api/v1/services/{service['id']}/deploy")
            assert response.status_code == 202, response.text
            job_id = response.json()["job"]["id"]
            job = await wait_job(app, job_id)
            assert job["status"] == "succeeded", (job, worker.output())
            # Ran on the worker process, not in the server.
            assert job["runner_id"].startswith("worker@"), job["runner_id"]
            assert f":{worker.pid}:" in job["runner_id"]
            assert job["runner_id"] != runtime.runner_id
            assert any(line["message"].startswith("Created and started") for line in job["lines"])
            # The worker's live events reached this server through Redis.
            deadline = time.monotonic() + 10
            while not any(
                e.type == "job.finished" and e.data.get("job_id") == job_id for e in events
            ):
                assert time.monotonic() < deadline, [e.type for e in events]
                await asyncio.sleep(0.1)
            assert any(
                e.type == "job.progress"
                and e.data.get("job_id") == job_id
                and e.data.get("status") == "running"
                and e.data.get("runner_id") == job["runner_id"]
                for e in events
            )
        container = (await app.client.get(f"/api/v1/services/{service['id']}")).json()
        assert container["status"] == "running", container

        # A due schedule is fired by `dockyard beat` and run by the worker.
        key = f"test:{service_name}:restart"
        async with runtime.db.session() as session:
            row = await upsert_schedule(
                session,
                key=key,
                job_kind="service.restart",
                params={},
                spec=ScheduleSpec(frequency="daily", time="04:00"),
                service_id=service["id"],
                lock_key=f"service:{service['id']}",
            )
            row.next_run_at = utcnow()
            await session.commit()
        beat = Proc(["beat"], process_env(settings), tmp_path / "beat.log")
        procs.append(beat)
        await beat.wait_for("ready")
        deadline = time.monotonic() + 30
        while True:
            async with runtime.db.read_session() as session:
                sched = await get_schedule(session, key)
                assert sched is not None
                if sched.last_job_id:
                    break
            assert time.monotonic() < deadline, beat.output()
            await asyncio.sleep(0.2)
        fired = await wait_job(app, sched.last_job_id)
        assert fired["status"] == "succeeded", (fired, worker.output())
        assert fired["actor_label"] == f"schedule:{key}"
        assert fired["runner_id"] == job["runner_id"]  # the worker ran it
        audit = await audit_rows(app, action="schedule.fired")
        assert len(audit) == 1
        assert audit[0].details["claimed_by"].startswith("beat@")
        assert audit[0].details["job_id"] == fired["id"]
        assert beat.stop() == 0, beat.output()
    assert worker.stop() == 0, worker.output()


async def test_worker_needs_redis(tmp_path: Path) -> None:
    env = clean_environ(DOCKYARD_DATA_DIR=str(tmp_path / "data"))
    proc = await asyncio.create_subprocess_exec(
        dockyard_executable(),
        "worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    assert "DOCKYARD_REDIS_URL" in err.decode()
