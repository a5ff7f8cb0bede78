"""Schedules tests: a migrated database with its audit chain started (as bootstrap does)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

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


@pytest.fixture
def service_name(docker_client: Any) -> Iterator[str]:
    """A unique service name; its containers and networks are removed afterwards."""
    name = f"t-{secrets.token_hex(4)}"
    yield name
    label = {"label": f"com.docker.compose.project={name}"}
    for container in docker_client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for network in docker_client.networks.list(filters=label):
        network.remove()
