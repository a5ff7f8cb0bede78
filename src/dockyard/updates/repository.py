"""SQL for update history and update policies."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.jobs.models import Job
from dockyard.updates.models import ServiceUpdatePolicy, ServiceUpdateRecord


async def get_policy(session: AsyncSession, service_id: int) -> ServiceUpdatePolicy | None:
    return await session.get(ServiceUpdatePolicy, service_id)


async def get_update(
    session: AsyncSession, service_id: int, update_id: int
) -> ServiceUpdateRecord | None:
    row = await session.get(ServiceUpdateRecord, update_id)
    if row is None or row.service_id != service_id:
        return None
    return row


async def list_updates(
    session: AsyncSession, service_id: int, *, limit: int, offset: int
) -> tuple[Sequence[ServiceUpdateRecord], int]:
    """A page of the service's updates, newest first, and the total."""
    where = ServiceUpdateRecord.service_id == service_id
    total = (
        await session.execute(select(func.count()).select_from(ServiceUpdateRecord).where(where))
    ).scalar_one()
    rows = (
        (
            await session.execute(
                select(ServiceUpdateRecord)
                .where(where)
                .order_by(ServiceUpdateRecord.id.desc())
                .limit(limit)
                .offset(offset)
            )
        )
        .scalars()
        .all()
    )
    return rows, int(total)


async def last_successful_update(
    session: AsyncSession, service_id: int
) -> ServiceUpdateRecord | None:
    """The newest succeeded update that changed at least one container."""
    rows = (
        (
            await session.execute(
                select(ServiceUpdateRecord)
                .where(
                    ServiceUpdateRecord.service_id == service_id,
                    ServiceUpdateRecord.kind == "update",
                    ServiceUpdateRecord.result == "succeeded",
                )
                .order_by(ServiceUpdateRecord.id.desc())
                .limit(50)
            )
        )
        .scalars()
        .all()
    )
    return next(
        (r for r in rows if any(c.get("changed") for c in (r.containers or {}).values())), None
    )


async def job_statuses(session: AsyncSession, job_ids: Sequence[str]) -> dict[str, str]:
    """Status of each of these jobs (to tell a running update from an interrupted one)."""
    if not job_ids:
        return {}
    rows = await session.execute(select(Job.id, Job.status).where(Job.id.in_(list(job_ids))))
    return {str(i): str(s) for i, s in rows.all()}
