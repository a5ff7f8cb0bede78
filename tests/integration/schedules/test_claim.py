"""Atomic claiming: two schedulers (separate engines) against one database fire a due
schedule exactly once; the clock is driven by passing `now`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from dockyard.audit.models import AuditEvent
from dockyard.audit.service import Actor
from dockyard.jobs.models import Job
from dockyard.jobs.service import enqueue
from dockyard.kit.db import Database
from dockyard.schedules.models import Schedule
from dockyard.schedules.schemas import ScheduleSpec
from dockyard.schedules.service import claim_due, get_schedule, upsert_schedule

T0 = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)  # a Monday
ROUNDS = 25
CLAIMERS = 4


async def _make(db: Database, key: str, **kw: object) -> Schedule:
    async with db.session() as session:
        row = await upsert_schedule(
            session,
            key=key,
            job_kind="test.noop",
            params={"x": 1},
            spec=ScheduleSpec(frequency="daily", time="03:00", timezone="Europe/Berlin"),
            now=T0,
            **kw,  # type: ignore[arg-type]
        )
        await session.commit()
        return row


async def _claimer(db: Database, owner: str, now: datetime, start: asyncio.Event) -> list[str]:
    await start.wait()
    async with db.session() as session:
        jobs = await claim_due(session, now, owner)
        ids = [j.id for j in jobs]
        await session.commit()
    return ids


async def test_concurrent_schedulers_fire_once(sched_db_url: str) -> None:
    dbs = [Database(sched_db_url) for _ in range(CLAIMERS)]
    try:
        row = await _make(dbs[0], "test:claim")
        # next run: 2030-01-08 03:00 Berlin (02:00 UTC)
        assert row.next_run_at == datetime(2030, 1, 8, 2, 0, tzinfo=UTC)
        fired: list[str] = []
        now = T0
        for round_no in range(ROUNDS):
            now = now + timedelta(days=1)  # each round, the schedule is due again
            start = asyncio.Event()
            tasks = [
                asyncio.create_task(_claimer(db, f"scheduler-{i}", now, start))
                for i, db in enumerate(dbs)
            ]
            await asyncio.sleep(0)
            start.set()
            results = await asyncio.gather(*tasks)
            winners = [r for r in results if r]
            assert len(winners) == 1, f"round {round_no}: {results}"
            assert len(winners[0]) == 1
            fired.extend(winners[0])
        async with dbs[0].read_session() as session:
            jobs = (await session.execute(select(Job).where(Job.id.in_(fired)))).scalars().all()
            assert len(jobs) == ROUNDS
            assert {j.kind for j in jobs} == {"test.noop"}
            assert all(j.params == {"x": 1, "schedule_key": "test:claim"} for j in jobs)
            assert {(j.actor_type, j.actor_label) for j in jobs} == {
                ("system", "schedule:test:claim")
            }
            total = (await session.execute(select(func.count()).select_from(Job))).scalar_one()
            assert total == ROUNDS
            fired_events = (
                (
                    await session.execute(
                        select(AuditEvent).where(AuditEvent.action == "schedule.fired")
                    )
                )
                .scalars()
                .all()
            )
            assert len(fired_events) == ROUNDS
            assert all(e.actor_type == "system" for e in fired_events)
            assert all(e.details["schedule"] == "test:claim" for e in fired_events)
            sched = await get_schedule(session, "test:claim")
            assert sched is not None
            assert sched.claimed_by is None
            assert sched.claimed_until is None
            assert sched.last_job_id == fired[-1]
            assert sched.next_run_at is not None
            assert sched.next_run_at > now
            # advanced from `now` to the next 03:00 Berlin
            assert sched.next_run_at - now < timedelta(days=1)
    finally:
        for db in dbs:
            await db.dispose()


async def test_not_due_and_disabled_do_not_fire(sched_db_url: str) -> None:
    db = Database(sched_db_url)
    try:
        row = await _make(db, "test:later")
        assert row.next_run_at is not None
        await _make(db, "test:off", enabled=False)
        async with db.session() as session:
            assert await claim_due(session, row.next_run_at - timedelta(seconds=1), "a") == []
            jobs = await claim_due(session, row.next_run_at, "a")
            await session.commit()
        assert len(jobs) == 1
        async with db.read_session() as session:
            off = await get_schedule(session, "test:off")
            assert off is not None
            assert off.next_run_at is None
    finally:
        await db.dispose()


async def test_live_claim_of_another_process_is_respected(sched_db_url: str) -> None:
    db = Database(sched_db_url)
    try:
        row = await _make(db, "test:leased")
        due = row.next_run_at
        assert due is not None
        async with db.session() as session:
            sched = await get_schedule(session, "test:leased")
            assert sched is not None
            sched.claimed_by = "other"
            sched.claimed_until = due + timedelta(minutes=1)
            await session.commit()
        async with db.session() as session:
            assert await claim_due(session, due, "me") == []
        # an expired lease (that process died) can be taken over
        async with db.session() as session:
            jobs = await claim_due(session, due + timedelta(minutes=2), "me")
            await session.commit()
        assert len(jobs) == 1
    finally:
        await db.dispose()


async def test_busy_lock_skips_the_run_and_audits(sched_db_url: str) -> None:
    db = Database(sched_db_url)
    try:
        row = await _make(db, "test:locked", lock_key="test-object:1")
        due = row.next_run_at
        assert due is not None
        async with db.session() as session:
            blocker = await enqueue(
                session, kind="test.noop", actor=Actor.system("t"), lock_key="test-object:1"
            )
            await session.commit()
        async with db.session() as session:
            assert await claim_due(session, due, "me") == []
            await session.commit()
        async with db.read_session() as session:
            sched = await get_schedule(session, "test:locked")
            assert sched is not None
            assert sched.next_run_at is not None
            assert sched.next_run_at > due
            skipped = (
                (
                    await session.execute(
                        select(AuditEvent).where(AuditEvent.action == "schedule.skipped")
                    )
                )
                .scalars()
                .all()
            )
            assert len(skipped) == 1
            assert blocker.id in skipped[0].details["reason"]
            count = (await session.execute(select(func.count()).select_from(Job))).scalar_one()
            assert count == 1
    finally:
        await db.dispose()
