"""Readiness checks of the database and the local engine; the replicas listing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from dockyard.engine.errors import EngineRequestError, EngineUnavailableError
from dockyard.nodes.models import Node
from dockyard.nodes.repository import get_local
from dockyard.runtime import Runtime
from dockyard.system import replicas
from dockyard.system.schemas import DependencyCheck, Readiness, ReplicaList, ReplicaOut

CHECK_TIMEOUT_S = 3.0


async def _timed(check: Awaitable[None], what: str) -> DependencyCheck:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT_S)
    except TimeoutError:
        return DependencyCheck(
            ok=False, error=f"{what} did not answer within {CHECK_TIMEOUT_S:g} s."
        )
    except (EngineUnavailableError, EngineRequestError) as exc:
        return DependencyCheck(ok=False, error=exc.message)
    except (SQLAlchemyError, OSError) as exc:
        return DependencyCheck(ok=False, error=f"{what} is unreachable: {exc.__class__.__name__}.")
    return DependencyCheck(ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 2))


async def readiness(runtime: Runtime) -> Readiness:
    """Ready when the database answers and the local engine answers `/_ping`."""
    database = await _timed(runtime.db.ping(), "The database")
    node = None
    if database.ok:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S), runtime.db.read_session() as session:
                node = await get_local(session)
        except (TimeoutError, SQLAlchemyError, OSError):
            node = None  # fall back to the configured engine below
    docker_host = node.docker_host if node else runtime.settings.resolved_docker_host
    engine = runtime.engines.get(node.id if node else 0, docker_host)
    docker = await _timed(engine.ping(), "The Docker engine")
    ok = database.ok and docker.ok
    return Readiness(
        status="ready" if ok else "not_ready", checks={"database": database, "docker": docker}
    )


async def list_replicas(runtime: Runtime) -> ReplicaList:
    """Every registered server replica, whether it is alive, and how many agents it holds."""
    rows = await replicas.listed(runtime.db)
    live = await replicas.alive(runtime.db)
    async with runtime.db.read_session() as session:
        result = await session.execute(
            select(Node.agent_replica, func.count())
            .where(Node.agent_replica.is_not(None))
            .group_by(Node.agent_replica)
        )
        counts = {str(replica): int(count) for replica, count in result.all()}
    return ReplicaList(
        items=[
            ReplicaOut(
                id=row.id,
                url=row.url,
                hostname=row.hostname,
                pid=row.pid,
                version=row.version,
                started_at=row.started_at,
                heartbeat_at=row.heartbeat_at,
                alive=row.id in live,
                agents=counts.get(row.id, 0) if row.id in live else 0,
                current=row.id == runtime.agents.replica_id,
            )
            for row in rows
        ]
    )
