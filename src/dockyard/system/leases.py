"""Named leases in the database: at most one live holder per name across processes.

A holder renews its lease well before it expires; a holder that dies stops renewing and
another process takes over once the lease has expired. Works the same on SQLite and
PostgreSQL: a conditional UPDATE, then an INSERT whose primary key settles a race.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database
from dockyard.system.models import Lease


async def acquire(db: Database, name: str, holder: str, ttl_s: float) -> bool:
    """Take or renew lease `name` for `holder` for `ttl_s` seconds; True if held now."""
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    async with db.session() as session:
        result = await session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
            .values(holder=holder, expires_at=expires)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            await session.commit()
            return True
        if await session.get(Lease, name) is not None:
            return False  # held by someone else and not expired
        session.add(Lease(name=name, holder=holder, expires_at=expires))
        try:
            await session.commit()
        except IntegrityError:
            return False  # another process inserted it first
        return True


async def release(db: Database, name: str, holder: str) -> None:
    """Give lease `name` up at once (a clean shutdown), if `holder` holds it."""
    async with db.session() as session:
        await session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
        await session.commit()
