"""The `replicas` registry: every running `dockyard serve` of one installation.

Each server replica inserts its row at start, heartbeats it every `HEARTBEAT_S` and deletes
it on a clean shutdown. Peers read it to reach the replica that holds an agent's
WebSocket (`dockyard.agent.hub` relays tunnel streams there); a row not heartbeated for
`STALE_S` belongs to a dead replica and is ignored (and swept).
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import delete, select, update

from dockyard import __version__
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database
from dockyard.system.models import Replica

HEARTBEAT_S = 5.0
STALE_S = 15.0


async def register(db: Database, replica_id: str, url: str) -> None:
    """Insert (or refresh) this replica's row."""
    now = utcnow()
    async with db.session() as session:
        row = await session.get(Replica, replica_id)
        if row is None:
            session.add(
                Replica(
                    id=replica_id,
                    url=url,
                    hostname=socket.gethostname()[:255],
                    pid=os.getpid(),
                    version=__version__[:64],
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        else:
            row.url, row.heartbeat_at = url, now
        await session.commit()


async def heartbeat(db: Database, replica_id: str, url: str) -> None:
    """Mark this replica alive now (re-registers it if its row was swept meanwhile)."""
    async with db.session() as session:
        result = await session.execute(
            update(Replica).where(Replica.id == replica_id).values(heartbeat_at=utcnow())
        )
        await session.commit()
    if not result.rowcount:  # type: ignore[attr-defined]
        await register(db, replica_id, url)


async def deregister(db: Database, replica_id: str) -> None:
    """Remove this replica's row (a clean shutdown)."""
    async with db.session() as session:
        await session.execute(delete(Replica).where(Replica.id == replica_id))
        await session.commit()


async def alive(db: Database) -> dict[str, str]:
    """`{replica id: url}` of the replicas heartbeated within `STALE_S`."""
    since = utcnow() - timedelta(seconds=STALE_S)
    async with db.read_session() as session:
        rows = await session.execute(
            select(Replica.id, Replica.url).where(Replica.heartbeat_at >= since)
        )
        return {row.id: row.url for row in rows}


async def listed(db: Database) -> list[Replica]:
    """Every registered replica, newest first (live or not: see `heartbeat_at`)."""
    async with db.read_session() as session:
        rows = await session.execute(select(Replica).order_by(Replica.started_at.desc()))
        return list(rows.scalars())


async def sweep(db: Database, older_than_s: float = 24 * 3600) -> int:
    """Delete rows of replicas dead for `older_than_s`; returns how many."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    async with db.session() as session:
        result = await session.execute(delete(Replica).where(Replica.heartbeat_at < cutoff))
        await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
