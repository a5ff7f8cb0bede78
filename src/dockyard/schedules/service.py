"""Schedules: computing the next run, storing schedules, claiming and firing due ones.

The public API other domains use (updates, cleanup):

- `upsert_schedule(session, key=..., job_kind=..., params=..., spec=...)` creates or replaces a
  schedule in the caller's transaction (the caller audits its own change and commits).
- `delete_schedule(session, key)`; `get_schedule(session, key)`.
- `run_now(session, key, actor)` enqueues the schedule's job at once; the caller commits, then
  `runtime.jobs.submit(job.id)`.
- `next_run_after(spec, after)` is pure: the next run strictly after `after`, in UTC.

Firing: `claim_due(session, now=..., owner=...)` claims each due schedule with a
compare-and-set UPDATE that only one process can win (PostgreSQL re-checks the WHERE clause
on the locked row after the winner commits; SQLite serializes writers with BEGIN IMMEDIATE),
creates its job as the system actor `schedule:<key>` with `params + {"schedule_key": key}`,
audits `schedule.fired`, advances `next_run_at` and clears the claim, all in one transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.jobs.models import Job
from dockyard.jobs.service import enqueue
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.schedules.models import Schedule
from dockyard.schedules.schemas import WEEKDAYS, MaintenanceWindow, ScheduleSpec

DEFAULT_LEASE_S = 60.0
KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_MAX_CRON_STEPS = 2000


# --------------------------------------------------------------------------- next run


def _local(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    """Wall-clock `hhmm` on `day` in `zone` as an aware UTC instant.

    fold=0: an ambiguous time (fall back) is its first occurrence; a time in a gap
    (spring forward) keeps the pre-transition offset, i.e. runs an hour "later".
    """
    hh, mm = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day, time(hh, mm), tzinfo=zone).astimezone(UTC)


def _next_trigger(spec: ScheduleSpec, after: datetime) -> datetime:
    zone = spec.zone
    if spec.frequency == "cron":
        assert spec.cron is not None
        # Iterate in naive local wall time, then localize: cron is about the wall clock.
        local_after = after.astimezone(zone).replace(tzinfo=None)
        it = croniter(spec.cron, local_after - timedelta(hours=3))
        for _ in range(_MAX_CRON_STEPS):
            naive: datetime = it.get_next(datetime)
            candidate = naive.replace(tzinfo=zone).astimezone(UTC)
            if candidate > after:
                return candidate
        raise ValueError(f"cron {spec.cron!r} has no run after {after.isoformat()}")
    assert spec.time is not None
    start = after.astimezone(zone).date() - timedelta(days=1)
    days = set(spec.weekdays) if spec.frequency == "weekly" else set(WEEKDAYS)
    for offset in range(0, 10):
        day = start + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in days:
            continue
        candidate = _local(day, spec.time, zone)
        if candidate > after:
            return candidate
    raise ValueError("no run found within a week")  # unreachable: weekdays is non-empty


def _window_adjust(window: MaintenanceWindow, candidate: datetime, zone: ZoneInfo) -> datetime:
    """`candidate` if inside the window, else the window's next start after it."""
    days = set(window.weekdays) if window.weekdays else set(WEEKDAYS)
    local_day = candidate.astimezone(zone).date()
    best: datetime | None = None
    for offset in range(-1, 9):
        day = local_day + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in days:
            continue
        start = _local(day, window.start, zone)
        end_day = day if window.end > window.start else day + timedelta(days=1)
        end = _local(end_day, window.end, zone)
        if start <= candidate < end:
            return candidate
        if start >= candidate and (best is None or start < best):
            best = start
    if best is None:  # unreachable: some weekday is allowed
        raise ValueError("maintenance window never opens")
    return best


def next_run_after(spec: ScheduleSpec, after: datetime) -> datetime:
    """The first run strictly after `after` (aware), honouring the maintenance window. UTC."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    candidate = _next_trigger(spec, after.astimezone(UTC))
    if spec.maintenance_window is not None:
        candidate = _window_adjust(spec.maintenance_window, candidate, spec.zone)
    return candidate


# --------------------------------------------------------------------------- storage


async def get_schedule(session: AsyncSession, key: str) -> Schedule | None:
    return (await session.execute(select(Schedule).where(Schedule.key == key))).scalar_one_or_none()


async def upsert_schedule(
    session: AsyncSession,
    *,
    key: str,
    job_kind: str,
    params: dict[str, Any],
    spec: ScheduleSpec,
    enabled: bool = True,
    service_id: int | None = None,
    node_id: int | None = None,
    description: str = "",
    lock_key: str | None = None,
    now: datetime | None = None,
) -> Schedule:
    """Create or replace the schedule `key` (caller audits and commits).

    `next_run_at` is recomputed when the spec changes or the schedule is (re-)enabled; a
    disabled schedule has none. `lock_key` (e.g. `service:5`) is given to each fired job.
    """
    if not KEY_RE.match(key):
        raise ValidationFailedError(
            "A schedule key is 1-128 letters, digits and . _ : -",
            code="invalid_schedule_key",
            details={"errors": [{"path": "key", "message": "invalid schedule key"}]},
        )
    now = now or utcnow()
    spec_json = spec.model_dump(mode="json")
    row = await get_schedule(session, key)
    if row is None:
        row = Schedule(key=key, created_at=now, claimed_until=None, claimed_by=None)
        session.add(row)
        changed = True
    else:
        changed = row.spec != spec_json or not row.enabled or row.next_run_at is None
    row.job_kind = job_kind
    row.params = dict(params)
    row.spec = spec_json
    row.enabled = enabled
    row.service_id = service_id
    row.node_id = node_id
    row.description = description
    row.lock_key = lock_key
    row.updated_at = now
    if not enabled:
        row.next_run_at = None
    elif changed:
        row.next_run_at = next_run_after(spec, now)
    await session.flush()
    return row


async def delete_schedule(session: AsyncSession, key: str) -> bool:
    """Remove the schedule `key`; False when there was none (caller commits)."""
    result = await session.execute(delete(Schedule).where(Schedule.key == key))
    return bool(getattr(result, "rowcount", 0))


async def list_schedules(session: AsyncSession) -> list[tuple[Schedule, Job | None]]:
    rows = (await session.execute(select(Schedule).order_by(Schedule.key))).scalars().all()
    job_ids = [r.last_job_id for r in rows if r.last_job_id]
    jobs: dict[str, Job] = {}
    if job_ids:
        found = (await session.execute(select(Job).where(Job.id.in_(job_ids)))).scalars().all()
        jobs = {j.id: j for j in found}
    return [(r, jobs.get(r.last_job_id) if r.last_job_id else None) for r in rows]


def spec_of(row: Schedule) -> ScheduleSpec:
    return ScheduleSpec.model_validate(row.spec)


# --------------------------------------------------------------------------- firing


async def _enqueue_for(
    session: AsyncSession, row: Schedule, actor: Actor, extra: dict[str, Any]
) -> Job:
    return await enqueue(
        session,
        kind=row.job_kind,
        actor=actor,
        params={**row.params, "schedule_key": row.key, **extra},
        service_id=row.service_id,
        node_id=row.node_id,
        lock_key=row.lock_key,
    )


async def run_now(session: AsyncSession, key: str, actor: Actor) -> Job:
    """Enqueue the schedule's job now (next_run_at unchanged). Caller commits, then submits."""
    row = await get_schedule(session, key)
    if row is None:
        raise NotFoundError(f"No schedule {key}.", code="schedule_not_found")
    job = await _enqueue_for(session, row, actor, {"manual": True})
    row.last_run_at = utcnow()
    row.last_job_id = job.id
    await record(
        session,
        action="schedule.run_now",
        actor=actor,
        target_type="schedule",
        target_id=row.key,
        details={"schedule": row.key, "job_kind": row.job_kind, "job_id": job.id},
    )
    return job


async def claim_one(
    session: AsyncSession,
    schedule_id: int,
    *,
    now: datetime,
    owner: str,
    lease_s: float = DEFAULT_LEASE_S,
) -> Job | None:
    """Claim one due schedule (compare-and-set) and fire it; None when another process won
    or its job was refused because another operation holds the lock (that run is skipped,
    audited as `schedule.skipped`). The caller commits."""
    claimed = await session.execute(
        update(Schedule)
        .where(
            Schedule.id == schedule_id,
            Schedule.enabled.is_(True),
            Schedule.next_run_at.is_not(None),
            Schedule.next_run_at <= now,
            or_(Schedule.claimed_until.is_(None), Schedule.claimed_until < now),
        )
        .values(claimed_until=now + timedelta(seconds=lease_s), claimed_by=owner)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    row = (
        await session.execute(
            select(Schedule)
            .where(Schedule.id == schedule_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    due_at = row.next_run_at
    actor = Actor.system(f"schedule:{row.key}")
    job: Job | None = None
    try:
        job = await _enqueue_for(session, row, actor, {})
    except ConflictError as exc:
        await record(
            session,
            action="schedule.skipped",
            actor=actor,
            outcome="failure",
            target_type="schedule",
            target_id=row.key,
            details={"schedule": row.key, "job_kind": row.job_kind, "reason": exc.message},
        )
    else:
        row.last_run_at = now
        row.last_job_id = job.id
        await record(
            session,
            action="schedule.fired",
            actor=actor,
            target_type="schedule",
            target_id=row.key,
            details={
                "schedule": row.key,
                "job_kind": row.job_kind,
                "job_id": job.id,
                "due_at": due_at.isoformat() if due_at else None,
                "claimed_by": owner,
                "service_id": row.service_id,
                "node_id": row.node_id,
            },
        )
    row.next_run_at = next_run_after(spec_of(row), now)
    row.claimed_until = None
    row.claimed_by = None
    row.updated_at = utcnow()
    await session.flush()
    return job


async def due_ids(session: AsyncSession, now: datetime, *, limit: int = 100) -> list[int]:
    stmt = (
        select(Schedule.id)
        .where(
            Schedule.enabled.is_(True),
            Schedule.next_run_at.is_not(None),
            Schedule.next_run_at <= now,
            or_(Schedule.claimed_until.is_(None), Schedule.claimed_until < now),
        )
        .order_by(Schedule.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


async def claim_due(
    session: AsyncSession,
    now: datetime,
    owner: str,
    lease_s: float = DEFAULT_LEASE_S,
) -> list[Job]:
    """Claim and fire every due schedule in this transaction; the caller commits and then
    submits the returned jobs. Safe to run from any number of processes at once."""
    jobs: list[Job] = []
    for schedule_id in await due_ids(session, now):
        job = await claim_one(session, schedule_id, now=now, owner=owner, lease_s=lease_s)
        if job is not None:
            jobs.append(job)
    return jobs
