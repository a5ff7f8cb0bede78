"""Node queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.nodes.models import Node


async def list_page(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[Sequence[Node], int]:
    total = int((await session.execute(select(func.count(Node.id)))).scalar_one())
    rows = (
        (await session.execute(select(Node).order_by(Node.id).limit(limit).offset(offset)))
        .scalars()
        .all()
    )
    return rows, total


async def get(session: AsyncSession, node_id: int) -> Node | None:
    return await session.get(Node, node_id)


async def get_local(session: AsyncSession) -> Node | None:
    return (
        await session.execute(select(Node).where(Node.kind == "local").order_by(Node.id).limit(1))
    ).scalar_one_or_none()
