"""SQL for hosts and the SSH template."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.artifacts.models import Artifact
from dockyard.hosts.models import Host, SshTemplate


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered(
    q: str | None = None, environment: str | None = None, tag: str | None = None
) -> Select[Host]:
    stmt = select(Host)
    if q:
        pattern = f"%{_like_escape(q.lower())}%"
        stmt = stmt.where(
            or_(
                Host.hostname.like(pattern, escape="\\"),
                func.lower(Host.address).like(pattern, escape="\\"),
                func.lower(Host.notes).like(pattern, escape="\\"),
            )
        )
    if environment:
        stmt = stmt.where(Host.environment == environment)
    if tag:
        stmt = stmt.where(Host.tags.like(f"% {_like_escape(tag)} %", escape="\\"))
    return stmt


async def page(
    session: AsyncSession,
    *,
    q: str | None,
    environment: str | None,
    tag: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Host], int]:
    stmt = filtered(q, environment, tag)
    total = int(
        (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    )
    rows = await session.execute(stmt.order_by(Host.hostname).limit(limit).offset(offset))
    return list(rows.scalars().all()), total


async def artifact_counts(session: AsyncSession, host_ids: Sequence[int]) -> dict[int, int]:
    if not host_ids:
        return {}
    rows = await session.execute(
        select(Artifact.host_id, func.count())
        .where(Artifact.host_id.in_(host_ids))
        .group_by(Artifact.host_id)
    )
    return {int(host_id): int(count) for host_id, count in rows.all()}


async def get(session: AsyncSession, host_id: int) -> Host | None:
    return await session.get(Host, host_id)


async def by_hostname(session: AsyncSession, hostname: str) -> Host | None:
    return (
        await session.execute(select(Host).where(Host.hostname == hostname))
    ).scalar_one_or_none()


async def ids_by_hostname(session: AsyncSession, hostnames: Sequence[str]) -> dict[str, int]:
    """`hostname -> id` of those that exist (one query)."""
    if not hostnames:
        return {}
    rows = await session.execute(
        select(Host.hostname, Host.id).where(Host.hostname.in_(list(hostnames)))
    )
    return {str(name): int(host_id) for name, host_id in rows.all()}


async def by_ids(session: AsyncSession, ids: Sequence[int]) -> list[Host]:
    return list((await session.execute(select(Host).where(Host.id.in_(list(ids))))).scalars())


async def facets(session: AsyncSession) -> tuple[list[str], list[str]]:
    environments = await session.execute(
        select(Host.environment).where(Host.environment.is_not(None)).distinct()
    )
    tags: set[str] = set()
    result = await session.stream(select(Host.tags).where(Host.tags != " ").distinct())
    async for (packed,) in result:
        tags.update(packed.split())
    return sorted(str(e) for (e,) in environments.all()), sorted(tags)


async def iterate(
    session: AsyncSession, q: str | None, environment: str | None, tag: str | None
) -> AsyncIterator[Host]:
    """Every matching host by hostname, fetched in chunks (bounded memory)."""
    stmt = filtered(q, environment, tag).order_by(Host.hostname).execution_options(yield_per=500)
    result = await session.stream(stmt)
    async for host in result.scalars():
        yield host


async def template(session: AsyncSession, key: str) -> SshTemplate | None:
    return await session.get(SshTemplate, key)
