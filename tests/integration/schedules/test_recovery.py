"""Interrupted jobs: at start only jobs whose runner stopped heartbeating are failed; a job of
another live process is left alone; queued jobs are run, not failed."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from dockyard.audit.models import AuditEvent
from dockyard.jobs.models import Job, JobLine
from dockyard.jobs.runner import INTERRUPTED
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database
from dockyard.settings import Settings
from tests.conftest import running_app


def _job(status: str, **kw: object) -> Job:
    return Job(
        id=uuid.uuid4().hex,
        kind="service.start",
        status=status,
        params={},
        result={},
        actor_type="system",
        actor_label="tests",
        progress_count=0,
        **kw,
    )


async def test_stale_failed_fresh_kept_queued_run(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    now = utcnow()
    dead = _job(
        "running",
        runner_id="server@gone:1:dead",
        heartbeat_at=now - timedelta(minutes=5),
        started_at=now - timedelta(minutes=6),
        lock_key="test:dead",
    )
    legacy = _job("running", runner_id=None, heartbeat_at=None, started_at=now)
    alive = _job(
        "running",
        runner_id="worker@elsewhere:2:live",
        heartbeat_at=now,
        started_at=now,
        lock_key="test:alive",
    )
    queued = _job("queued")
    db = Database(db_url)
    try:
        async with db.session() as session:
            session.add_all([dead, legacy, alive, queued])
            await session.commit()
    finally:
        await db.dispose()

    async with running_app(app_settings(db_url)) as app:
        runtime = app.runtime
        async with runtime.db.read_session() as session:
            rows = {
                j.id: j
                for j in (
                    await session.execute(
                        select(Job).where(Job.id.in_([dead.id, legacy.id, alive.id, queued.id]))
                    )
                ).scalars()
            }
            assert rows[dead.id].status == "failed"
            assert rows[dead.id].error == INTERRUPTED
            assert rows[dead.id].lock_key is None
            assert rows[dead.id].finished_at is not None
            assert rows[legacy.id].status == "failed"
            # another live process's job is left alone
            assert rows[alive.id].status == "running"
            assert rows[alive.id].error is None
            assert rows[alive.id].lock_key == "test:alive"
            lines = (
                (await session.execute(select(JobLine).where(JobLine.job_id == dead.id)))
                .scalars()
                .all()
            )
            assert [line.message for line in lines] == [INTERRUPTED]
            audits = (
                (
                    await session.execute(
                        select(AuditEvent).where(AuditEvent.actor_label == "job-recovery")
                    )
                )
                .scalars()
                .all()
            )
            assert {a.details["job_id"] for a in audits} == {dead.id, legacy.id}
        # the queued job was resubmitted and ran here (it fails: no service), not INTERRUPTED
        deadline = time.monotonic() + 20
        while True:
            async with runtime.db.read_session() as session:
                job = await session.get(Job, queued.id)
                assert job is not None
                if job.status in ("succeeded", "failed"):
                    break
            assert time.monotonic() < deadline, job.status
            await asyncio.sleep(0.1)
        assert job.error != INTERRUPTED
        assert job.runner_id == runtime.runner_id

        # Later the live process dies: its heartbeat goes stale and the sweep fails the job.
        async with runtime.db.session() as session:
            stale = await session.get(Job, alive.id)
            assert stale is not None
            stale.heartbeat_at = utcnow() - timedelta(seconds=31)
            await session.commit()
        from dockyard.scheduler import job_recovery

        await job_recovery(runtime)
        async with runtime.db.read_session() as session:
            gone = await session.get(Job, alive.id)
            assert gone is not None
            assert gone.status == "failed"
            assert gone.error == INTERRUPTED


async def test_running_job_heartbeats(db_url: str, app_settings: Callable[..., Settings]) -> None:
    """A handler that runs for a while keeps its heartbeat fresh (so no one fails it)."""
    from dockyard.audit.service import Actor
    from dockyard.jobs import runner
    from dockyard.jobs.service import enqueue

    release = asyncio.Event()

    async def slow(ctx: runner.JobContext) -> dict[str, object]:
        await release.wait()
        return {"ok": True}

    runner._HANDLERS["test.slow"] = slow
    try:
        async with running_app(app_settings(db_url, job_heartbeat_s=0.2)) as app:
            runtime = app.runtime
            async with runtime.db.session() as session:
                job = await enqueue(session, kind="test.slow", actor=Actor.system("tests"))
                await session.commit()
            runtime.jobs.submit(job.id)
            await asyncio.sleep(0.1)
            async with runtime.db.read_session() as session:
                first = (await session.get(Job, job.id)).heartbeat_at  # type: ignore[union-attr]
            await asyncio.sleep(1.0)
            # recovery now would see it alive (heartbeat within 3 intervals)
            assert await runner.fail_stale_jobs(runtime) == []
            async with runtime.db.read_session() as session:
                row = await session.get(Job, job.id)
                assert row is not None
                assert row.status == "running"
                assert row.heartbeat_at is not None
                assert first is not None
                assert row.heartbeat_at > first
                assert row.runner_id == runtime.runner_id
            release.set()
            await runtime.jobs.wait_idle(10)
            async with runtime.db.read_session() as session:
                row = await session.get(Job, job.id)
                assert row is not None
                assert row.status == "succeeded"
    finally:
        runner._HANDLERS.pop("test.slow", None)
