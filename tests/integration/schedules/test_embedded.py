"""Embedded mode: schedules fire inside `dockyard serve` as real jobs on the real engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from dockyard.kit.clock import utcnow
from dockyard.scheduler import fire_due_schedules
from dockyard.schedules.models import Schedule
from dockyard.schedules.schemas import ScheduleSpec
from dockyard.schedules.service import get_schedule, upsert_schedule
from dockyard.settings import Settings
from tests.conftest import LiveApp, add_user, assert_error, audit_rows, running_app, unique_email
from tests.integration.schedules.helpers import create_service, wait_job


async def _schedule(app: LiveApp, key: str, service_id: int) -> Schedule:
    async with app.runtime.db.session() as session:
        row = await upsert_schedule(
            session,
            key=key,
            job_kind="service.restart",
            params={},
            spec=ScheduleSpec(frequency="weekly", time="04:00", weekdays=["sun"]),
            service_id=service_id,
            lock_key=f"service:{service_id}",
            description="restart on Sundays",
        )
        await session.commit()
        return row


async def test_schedule_fires_a_real_job(
    db_url: str, app_settings: Callable[..., Settings], service_name: str
) -> None:
    settings = app_settings(db_url, default_publish_ip="127.0.0.1", schedule_poll_interval_s=0.2)
    async with running_app(settings) as app:
        app.client.headers.update(app.bearer(await app.token()))
        service = await create_service(app, service_name)
        sid = service["id"]
        deploy = await app.client.post(f"/api/v1/services/{sid}/deploy")
        assert deploy.status_code == 202, deploy.text
        assert (await wait_job(app, deploy.json()["job"]["id"]))["status"] == "succeeded"

        key = f"test:{service_name}:restart"
        row = await _schedule(app, key, sid)
        due = row.next_run_at
        assert due is not None
        assert due > utcnow()
        listed = (await app.client.get("/api/v1/schedules")).json()["items"]
        mine = next(s for s in listed if s["key"] == key)
        assert mine["job_kind"] == "service.restart"
        assert mine["next_run_at"] is not None
        assert mine["last_run_at"] is None

        # Drive the clock: fire as if it were the due time.
        fired = await fire_due_schedules(app.runtime, now=due)
        assert len(fired) == 1
        assert await fire_due_schedules(app.runtime, now=due) == []  # advanced, not due again
        job = await wait_job(app, fired[0])
        assert job["status"] == "succeeded", job
        assert job["kind"] == "service.restart"
        assert job["actor_type"] == "system"
        assert job["actor_label"] == f"schedule:{key}"
        assert job["params"]["schedule_key"] == key
        assert job["service_id"] == sid
        assert job["runner_id"] == app.runtime.runner_id
        events = await audit_rows(app, action="schedule.fired")
        assert [e.details["job_id"] for e in events] == [fired[0]]
        assert events[0].actor_type == "system"
        assert events[0].target_id == key

        listed = (await app.client.get("/api/v1/schedules")).json()["items"]
        mine = next(s for s in listed if s["key"] == key)
        assert mine["last_job_id"] == fired[0]
        assert mine["last_job_status"] == "succeeded"
        assert datetime.fromisoformat(mine["next_run_at"]) == due + timedelta(days=7)

        # Run now (a user, audited), next run unchanged.
        run = await app.client.post(f"/api/v1/schedules/{key}/run")
        assert run.status_code == 202, run.text
        manual = await wait_job(app, run.json()["job"]["id"])
        assert manual["status"] == "succeeded"
        assert manual["actor_type"] == "user"
        assert manual["params"] == {"schedule_key": key, "manual": True}
        assert len(await audit_rows(app, action="schedule.run_now")) == 1
        assert_error(await app.client.post("/api/v1/schedules/nope/run"), 404)

        # A viewer can list but not run.
        email = unique_email("viewer")
        await add_user(app, email, "viewer-password-123!", role="viewer")
        viewer = await app.login(email, "viewer-password-123!")
        headers = app.bearer(viewer["access_token"])
        assert (await app.client.get("/api/v1/schedules", headers=headers)).status_code == 200
        assert_error(await app.client.post(f"/api/v1/schedules/{key}/run", headers=headers), 403)

        # The server's own loop fires a schedule that is due (no clock driving here).
        async with app.runtime.db.session() as session:
            sched = await get_schedule(session, key)
            assert sched is not None
            sched.next_run_at = utcnow() - timedelta(seconds=1)
            await session.commit()
        deadline = time.monotonic() + 15
        while True:
            async with app.runtime.db.read_session() as session:
                sched = await get_schedule(session, key)
                assert sched is not None
                if sched.last_job_id not in (fired[0], manual["id"]):
                    break
            assert time.monotonic() < deadline, "the embedded loop did not fire"
            await asyncio.sleep(0.1)
        looped = await wait_job(app, str(sched.last_job_id))
        assert looped["status"] == "succeeded"
        assert looped["actor_label"] == f"schedule:{key}"
        assert sched.next_run_at is not None
        assert sched.next_run_at > utcnow()
