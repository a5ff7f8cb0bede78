"""Job queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.jobs.models import Job, JobLine


async def get(session: AsyncSession, job_id: str) -> Job | None:
    return await session.get(Job, job_id)


async def lines(session: AsyncSession, job_id: str, *, after_seq: int = 0) -> Sequence[JobLine]:
    return (
        (
            await session.execute(
                select(JobLine)
                .where(JobLine.job_id == job_id, JobLine.seq > after_seq)
                .order_by(JobLine.seq)
            )
        )
        .scalars()
        .all()
    )


async def list_page(
    session: AsyncSession,
    *,
    service_id: int | None,
    status: str | None,
    kind: str | None,
    limit: int,
    offset: int,
    where: ColumnElement[bool] | None = None,
) -> tuple[Sequence[Job], int]:
    stmt = select(Job)
    if where is not None:
        stmt = stmt.where(where)
    if service_id is not None:
        stmt = stmt.where(Job.service_id == service_id)
    if status:
        stmt = stmt.where(Job.status == status)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    total = int(
        (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    )
    rows = (
        (await session.execute(stmt.order_by(Job.created_at.desc()).limit(limit).offset(offset)))
        .scalars()
        .all()
    )
    return rows, total


async def active_for_lock(session: AsyncSession, lock_key: str) -> Job | None:
    return (await session.execute(select(Job).where(Job.lock_key == lock_key))).scalar_one_or_none()
