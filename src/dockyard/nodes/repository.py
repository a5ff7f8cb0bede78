"""Node queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.kit.db import RUNTIME_STATE_OPTION
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


async def get_by_name(session: AsyncSession, name: str) -> Node | None:
    return (await session.execute(select(Node).where(Node.name == name))).scalar_one_or_none()


async def list_agents(session: AsyncSession) -> Sequence[Node]:
    return (
        (await session.execute(select(Node).where(Node.kind == "agent").order_by(Node.id)))
        .scalars()
        .all()
    )


async def service_count(session: AsyncSession, node_id: int) -> int:
    from dockyard.services.models import Service

    return int(
        (
            await session.execute(select(func.count(Service.id)).where(Service.node_id == node_id))
        ).scalar_one()
    )


async def get_by_enrollment_hash(session: AsyncSession, token_hash: str) -> Node | None:
    return (
        await session.execute(select(Node).where(Node.enrollment_token_hash == token_hash))
    ).scalar_one_or_none()


async def claim_enrollment(
    session: AsyncSession,
    node_id: int,
    token_hash: str,
    *,
    now: datetime,
    credential_hash: str,
    agent_version: str | None,
    agent_docker_host: str | None,
    agent_hostname: str | None,
) -> bool:
    """Use the token once: True only for the one caller whose update matched it unused."""
    result = await session.execute(
        update(Node)
        .where(
            Node.id == node_id,
            Node.enrollment_token_hash == token_hash,
            Node.enrollment_used_at.is_(None),
            Node.enrollment_expires_at > now,
        )
        .values(
            enrollment_token_hash=None,
            enrollment_used_at=now,
            credential_hash=credential_hash,
            pending_credential_hash=None,
            credential_rotated_at=now,
            revoked_at=None,
            agent_version=agent_version,
            agent_docker_host=agent_docker_host,
            agent_hostname=agent_hostname,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


# Writes of a node's live state (presence, last seen), not of its configuration: they
# trigger no configuration snapshot (see `config.recorder`).
_LIVE_STATE = {"synchronize_session": False, RUNTIME_STATE_OPTION: True}


async def touch_last_seen(session: AsyncSession, seen: Mapping[int, datetime]) -> None:
    """Store the nodes' last-seen times: one executemany statement for all of them."""
    if not seen:
        return
    table = cast(Table, Node.__table__)
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("node_id"))
        .values(last_seen=bindparam("seen_at"), updated_at=table.c.updated_at)
        .execution_options(**_LIVE_STATE),
        [{"node_id": node_id, "seen_at": at} for node_id, at in seen.items()],
    )


async def set_agent_replica(
    session: AsyncSession, node_id: int, replica: str | None, at: datetime
) -> None:
    """Record the server replica now holding the node's agent."""
    await session.execute(
        update(Node)
        .where(Node.id == node_id)
        .values(
            agent_replica=replica, agent_connected_at=at, last_seen=at, updated_at=Node.updated_at
        )
        .execution_options(**_LIVE_STATE)
    )


async def clear_agent_replica(
    session: AsyncSession, node_id: int | None, replica: str | None
) -> None:
    """Forget `replica` as the holder of node `node_id`'s agent (every node: None), unless
    another replica claimed it meanwhile."""
    query = update(Node).where(Node.agent_replica == replica)
    if node_id is not None:
        query = query.where(Node.id == node_id)
    await session.execute(
        query.values(agent_replica=None, updated_at=Node.updated_at).execution_options(
            **_LIVE_STATE
        )
    )


async def delete_services(session: AsyncSession, node_id: int) -> list[str]:
    """Delete the node's service rows (their revisions and allocations cascade); their names."""
    from dockyard.services.models import Service

    names = list(
        (await session.execute(select(Service.name).where(Service.node_id == node_id)))
        .scalars()
        .all()
    )
    await session.execute(delete(Service).where(Service.node_id == node_id))
    return names
