"""Audit queries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.models import AuditEvent
from dockyard.audit.schemas import AuditFilters


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered(filters: AuditFilters) -> Select[AuditEvent]:
    """A SELECT of events matching the filters, newest first."""
    stmt = select(AuditEvent)
    if filters.actor:
        stmt = stmt.where(
            or_(AuditEvent.actor_id == filters.actor, AuditEvent.actor_label == filters.actor)
        )
    if filters.action:
        stmt = stmt.where(AuditEvent.action.like(_escape_like(filters.action) + "%", escape="\\"))
    if filters.target_type:
        stmt = stmt.where(AuditEvent.target_type == filters.target_type)
    if filters.target_id:
        stmt = stmt.where(AuditEvent.target_id == filters.target_id)
    if filters.outcome:
        stmt = stmt.where(AuditEvent.outcome == filters.outcome)
    if filters.since:
        stmt = stmt.where(AuditEvent.ts >= filters.since)
    if filters.until:
        stmt = stmt.where(AuditEvent.ts < filters.until)
    return stmt.order_by(AuditEvent.id.desc())


async def list_page(
    session: AsyncSession, filters: AuditFilters, *, before_id: int | None, limit: int
) -> Sequence[AuditEvent]:
    """Up to `limit + 1` events older than `before_id` (the extra row says there is more)."""
    stmt = filtered(filters)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    return (await session.execute(stmt.limit(limit + 1))).scalars().all()


async def iterate(
    session: AsyncSession, filters: AuditFilters, *, batch_size: int = 500
) -> AsyncIterator[AuditEvent]:
    """Every matching event, newest first, fetched in keyset batches (bounded memory)."""
    before_id: int | None = None
    while True:
        batch = await list_page(session, filters, before_id=before_id, limit=batch_size - 1)
        for event in batch:
            yield event
        if len(batch) < batch_size:
            return
        before_id = batch[-1].id
        session.expunge_all()
