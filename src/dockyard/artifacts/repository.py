"""SQL for artifacts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.artifacts.models import Artifact


async def of_host(session: AsyncSession, host_id: int) -> list[Artifact]:
    rows = await session.execute(
        select(Artifact)
        .where(Artifact.host_id == host_id)
        .order_by(Artifact.created_at.desc(), Artifact.id.desc())
    )
    return list(rows.scalars().all())


async def get(session: AsyncSession, artifact_id: int) -> Artifact | None:
    return await session.get(Artifact, artifact_id)


async def storage_names_of_host(session: AsyncSession, host_id: int) -> list[str]:
    rows = await session.execute(select(Artifact.storage_name).where(Artifact.host_id == host_id))
    return [str(name) for name in rows.scalars().all()]


async def delete_of_host(session: AsyncSession, host_id: int) -> None:
    await session.execute(delete(Artifact).where(Artifact.host_id == host_id))


async def expired(session: AsyncSession, before: datetime, limit: int) -> list[Artifact]:
    rows = await session.execute(
        select(Artifact).where(Artifact.created_at < before).order_by(Artifact.id).limit(limit)
    )
    return list(rows.scalars().all())
