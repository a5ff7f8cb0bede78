"""Schedules tests: a migrated database with its audit chain started (as bootstrap does)."""

from __future__ import annotations

import pytest

from dockyard.audit.chain import GENESIS_HASH
from dockyard.audit.models import AuditChainHead
from dockyard.kit.db import Database


@pytest.fixture
async def sched_db_url(db_url: str) -> str:
    db = Database(db_url)
    try:
        async with db.session() as session:
            if await session.get(AuditChainHead, 1) is None:
                session.add(AuditChainHead(id=1, last_id=0, last_hash=GENESIS_HASH))
            await session.commit()
    finally:
        await db.dispose()
    return db_url
