"""Scheduled cleanup per node: the policy row plus a schedule (`node:{id}:cleanup`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.images.models import CleanupPolicy
from dockyard.images.schemas import ALL_TARGETS, CleanupPolicyIn, CleanupPolicyOut
from dockyard.kit.clock import utcnow
from dockyard.kit.request_meta import RequestMeta
from dockyard.schedules import service as schedules
from dockyard.schedules.schemas import ScheduleSpec

JOB_KIND = "node.scheduled_cleanup"
DEFAULT_SPEC = ScheduleSpec(frequency="daily", time="03:00", timezone="UTC")


def schedule_key(node_id: int) -> str:
    return f"node:{node_id}:cleanup"


def lock_key(node_id: int) -> str:
    """Shared with on-demand cleanup: one cleanup at a time per node."""
    return f"node:{node_id}:cleanup"


def _unset(node_id: int) -> CleanupPolicyOut:
    """A node without a policy row: cleanup off, the default targets and schedule."""
    return CleanupPolicyOut(
        node_id=node_id,
        enabled=False,
        targets=["dangling_images", "build_cache"],
        include_managed=False,
        label=None,
        schedule=DEFAULT_SPEC,
        updated_at=None,
    )


def _configured(row: CleanupPolicy) -> CleanupPolicyOut:
    """The policy as configured (no run times)."""
    return CleanupPolicyOut(
        node_id=row.node_id,
        enabled=row.enabled,
        targets=[t for t in ALL_TARGETS if t in row.targets],
        include_managed=row.include_managed,
        label=row.label,
        schedule=ScheduleSpec.model_validate(row.schedule),
        updated_at=row.updated_at,
    )


async def get(session: AsyncSession, node_id: int) -> CleanupPolicyOut:
    row = await session.get(CleanupPolicy, node_id)
    if row is None:
        return _unset(node_id)
    schedule = await schedules.get_schedule(session, schedule_key(node_id))
    out = _configured(row)
    if schedule is not None:
        out.next_run_at = schedule.next_run_at if row.enabled else None
        out.last_run_at = schedule.last_run_at
        out.last_job_id = schedule.last_job_id
    return out


async def configured(session: AsyncSession, node_ids: Iterable[int]) -> dict[int, CleanupPolicyOut]:
    """Each node's policy as configured, without run times: one query for all of them
    (the configuration export reads every node's)."""
    ids = list(node_ids)
    rows = (
        (await session.execute(select(CleanupPolicy).where(CleanupPolicy.node_id.in_(ids))))
        .scalars()
        .all()
    )
    found = {row.node_id: _configured(row) for row in rows}
    return {node_id: found.get(node_id) or _unset(node_id) for node_id in ids}


async def put(
    session: AsyncSession,
    node_id: int,
    body: CleanupPolicyIn,
    *,
    actor: Actor,
    meta: RequestMeta | None = None,
) -> CleanupPolicyOut:
    """Store the policy and (re)place its schedule in the caller's transaction; audited."""
    targets: list[str] = [t for t in ALL_TARGETS if t in body.targets]
    row = await session.get(CleanupPolicy, node_id)
    before = None
    if row is None:
        row = CleanupPolicy(node_id=node_id)
        session.add(row)
    else:
        before = {"enabled": row.enabled, "targets": row.targets, "schedule": row.schedule}
    row.enabled = body.enabled
    row.targets = targets
    row.include_managed = body.include_managed
    row.label = body.label
    row.schedule = body.schedule.model_dump(mode="json")
    row.updated_by = actor.label or actor.id
    row.updated_at = utcnow()
    await schedules.upsert_schedule(
        session,
        key=schedule_key(node_id),
        job_kind=JOB_KIND,
        params={
            "node_id": node_id,
            "targets": targets,
            "include_managed": body.include_managed,
            "label": body.label,
        },
        spec=body.schedule,
        enabled=body.enabled,
        node_id=node_id,
        description=f"Cleanup of node {node_id}: {', '.join(targets)}",
        lock_key=lock_key(node_id),
    )
    await session.flush()
    await record(
        session,
        action="images.cleanup_policy",
        actor=actor,
        target_type="node",
        target_id=node_id,
        details={
            "before": before,
            "enabled": body.enabled,
            "targets": targets,
            "include_managed": body.include_managed,
            "label": body.label,
            "schedule": row.schedule,
        },
        meta=meta,
    )
    return await get(session, node_id)
