"""Which jobs a principal sees: those of services it sees, and those it started."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access.service import sees_all, visible_filter
from dockyard.auth.service import Principal
from dockyard.jobs.models import Job
from dockyard.services.models import Service


def visible_jobs(principal: Principal) -> ColumnElement[bool] | None:
    """SQL condition on `Job` (None: every job)."""
    if sees_all(principal):
        return None
    return or_(
        Job.service_id.in_(select(Service.id).where(visible_filter(principal))),
        and_(Job.actor_type == "user", Job.actor_id == str(principal.user.id)),
    )


async def job_visible(session: AsyncSession, principal: Principal, job: Job) -> bool:
    condition = visible_jobs(principal)
    if condition is None:
        return True
    found = await session.execute(select(Job.id).where(Job.id == job.id, condition))
    return found.first() is not None
