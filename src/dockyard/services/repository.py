"""Service and revision queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.services.models import Service, ServiceRevision


async def get(session: AsyncSession, service_id: int) -> Service | None:
    return await session.get(Service, service_id)


async def get_by_name(session: AsyncSession, node_id: int, name: str) -> Service | None:
    return (
        await session.execute(
            select(Service).where(Service.node_id == node_id, Service.name == name)
        )
    ).scalar_one_or_none()


async def list_page(
    session: AsyncSession,
    *,
    node_id: int | None,
    search: str | None,
    limit: int,
    offset: int,
    where: ColumnElement[bool] | None = None,
) -> tuple[Sequence[Service], int]:
    stmt = select(Service)
    if where is not None:
        stmt = stmt.where(where)
    if node_id is not None:
        stmt = stmt.where(Service.node_id == node_id)
    if search:
        stmt = stmt.where(Service.name.contains(search.lower(), autoescape=True))
    total = int(
        (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    )
    rows = (
        (await session.execute(stmt.order_by(Service.name).limit(limit).offset(offset)))
        .scalars()
        .all()
    )
    return rows, total


async def on_node(session: AsyncSession, node_id: int) -> Sequence[Service]:
    return (
        (await session.execute(select(Service).where(Service.node_id == node_id))).scalars().all()
    )


async def revision(session: AsyncSession, service_id: int, number: int) -> ServiceRevision | None:
    return (
        await session.execute(
            select(ServiceRevision).where(
                ServiceRevision.service_id == service_id, ServiceRevision.number == number
            )
        )
    ).scalar_one_or_none()


async def revisions(session: AsyncSession, service_id: int) -> Sequence[ServiceRevision]:
    return (
        (
            await session.execute(
                select(ServiceRevision)
                .where(ServiceRevision.service_id == service_id)
                .order_by(ServiceRevision.number.desc())
            )
        )
        .scalars()
        .all()
    )


# A revision joined to its service only when it is the service's latest.
_IS_LATEST = and_(
    ServiceRevision.service_id == Service.id, ServiceRevision.number == Service.latest_revision
)


async def placed_with_latest(session: AsyncSession) -> Sequence[tuple[Service, ServiceRevision]]:
    """Every service placed on a node, with its latest revision, in one query."""
    rows = (
        await session.execute(
            select(Service, ServiceRevision)
            .join(ServiceRevision, _IS_LATEST)
            .where(Service.node_id.is_not(None))
            .order_by(Service.id)
        )
    ).all()
    return [(row[0], row[1]) for row in rows]


async def latest_revisions(
    session: AsyncSession, services: Sequence[Service]
) -> dict[int, ServiceRevision]:
    """Each service's latest revision, in one query."""
    if not services:
        return {}
    rows = (
        (
            await session.execute(
                select(ServiceRevision)
                .join(Service, _IS_LATEST)
                .where(Service.id.in_([s.id for s in services]))
            )
        )
        .scalars()
        .all()
    )
    return {r.service_id: r for r in rows}
