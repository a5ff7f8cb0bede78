"""Readiness checks of the database and the local engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

from sqlalchemy.exc import SQLAlchemyError

from dockyard.engine.errors import EngineRequestError, EngineUnavailableError
from dockyard.nodes.repository import get_local
from dockyard.runtime import Runtime
from dockyard.system.schemas import DependencyCheck, Readiness

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
