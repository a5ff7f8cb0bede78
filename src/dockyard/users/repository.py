"""User queries."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.users.models import User


async def get_by_email(
    session: AsyncSession, email: str, *, for_update: bool = False
) -> User | None:
    """The user with this email (any case); `for_update` locks the row (PostgreSQL)."""
    stmt = select(User).where(User.email == email.strip().lower())
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(User.id)))).scalar_one())
