"""MCP registry queries: servers, their check history, tools and tool changes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.mcp_registry.models import McpCheck, McpServer, McpTool, McpToolChange


async def get(session: AsyncSession, server_id: int) -> McpServer | None:
    return await session.get(McpServer, server_id)


async def name_taken(session: AsyncSession, name: str, *, except_id: int | None) -> bool:
    """Whether another server has `name` (names are unique regardless of case)."""
    stmt = select(McpServer.id).where(func.lower(McpServer.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(McpServer.id != except_id)
    return (await session.scalar(stmt)) is not None


async def tool_counts(session: AsyncSession, server_ids: list[int]) -> dict[int, int]:
    """How many tools each server listed at its last healthy check."""
    if not server_ids:
        return {}
    rows = await session.execute(
        select(McpTool.server_id, func.count())
        .where(McpTool.server_id.in_(server_ids))
        .group_by(McpTool.server_id)
    )
    return {int(sid): int(n) for sid, n in rows.all()}


async def checks_by_server(session: AsyncSession, check_ids: list[int]) -> dict[int, McpCheck]:
    """The given checks, keyed by their server id."""
    if not check_ids:
        return {}
    rows = (await session.scalars(select(McpCheck).where(McpCheck.id.in_(check_ids)))).all()
    return {row.server_id: row for row in rows}


async def check_history(session: AsyncSession, server_id: int, limit: int) -> Sequence[McpCheck]:
    """A server's latest checks, newest first."""
    rows = await session.scalars(
        select(McpCheck)
        .where(McpCheck.server_id == server_id)
        .order_by(McpCheck.checked_at.desc(), McpCheck.id.desc())
        .limit(limit)
    )
    return rows.all()


async def tools(session: AsyncSession, server_id: int) -> Sequence[McpTool]:
    """A server's tools by name."""
    rows = await session.scalars(
        select(McpTool).where(McpTool.server_id == server_id).order_by(McpTool.name)
    )
    return rows.all()


async def tool_changes(
    session: AsyncSession, server_id: int, limit: int
) -> Sequence[McpToolChange]:
    """Tools added or removed between a server's checks, newest first."""
    rows = await session.scalars(
        select(McpToolChange)
        .where(McpToolChange.server_id == server_id)
        .order_by(McpToolChange.at.desc(), McpToolChange.id.desc())
        .limit(limit)
    )
    return rows.all()


async def all_by_name(session: AsyncSession) -> Sequence[McpServer]:
    """Every registered server, by name."""
    return (await session.scalars(select(McpServer).order_by(McpServer.name))).all()
