"""SQL for registries and update checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.registries.models import ImageUpdateCheck, Registry

_UPDATED = ("current_digest", "remote_digest", "update_available", "checked_at", "error")


async def get(session: AsyncSession, registry_id: int) -> Registry | None:
    return await session.get(Registry, registry_id)


async def by_host(session: AsyncSession, host: str) -> Registry | None:
    return (
        await session.execute(select(Registry).where(Registry.host == host))
    ).scalar_one_or_none()


async def all_registries(session: AsyncSession) -> Sequence[Registry]:
    return (
        (await session.execute(select(Registry).order_by(Registry.name, Registry.id)))
        .scalars()
        .all()
    )


async def checks_for(
    session: AsyncSession, node_ids: Iterable[int], images: Iterable[str] | None = None
) -> Sequence[ImageUpdateCheck]:
    """Stored checks on the given nodes (optionally only of `images`)."""
    nodes = sorted(set(node_ids))
    if not nodes:
        return []
    stmt = select(ImageUpdateCheck).where(ImageUpdateCheck.node_id.in_(nodes))
    if images is not None:
        wanted = sorted(set(images))
        if not wanted:
            return []
        stmt = stmt.where(ImageUpdateCheck.image.in_(wanted))
    return (await session.execute(stmt)).scalars().all()


async def upsert_checks(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert or replace the check of each (node_id, image)."""
    if not rows:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for row in rows:
        stmt = insert(ImageUpdateCheck).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["node_id", "image"],
            set_={
                k: stmt.excluded[k]
                for k in (
                    "current_digest",
                    "remote_digest",
                    "update_available",
                    "checked_at",
                    "error",
                )
            },
        )
        await session.execute(stmt)


UpdateIndex = dict[tuple[int, str], bool | None]


async def update_index(session: AsyncSession, node_ids: Iterable[int]) -> UpdateIndex:
    """(node_id, image) -> stored `update_available`, for building service views."""
    return {(r.node_id, r.image): r.update_available for r in await checks_for(session, node_ids)}


def update_flag(index: UpdateIndex, node_id: int, images: Sequence[str]) -> bool | None:
    """true if any image has an update; false if every image was checked without one."""
    known = [index.get((node_id, image)) for image in images]
    if any(known):
        return True
    if known and all(k is False for k in known):
        return False
    return None
