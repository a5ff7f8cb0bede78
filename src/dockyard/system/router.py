"""Liveness, readiness and server facts."""

from __future__ import annotations

import platform
import socket
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from dockyard import __version__
from dockyard.auth.service import Principal
from dockyard.deps import RuntimeDep, require
from dockyard.system.schemas import Health, Readiness, ReplicaList, SystemInfo
from dockyard.system.service import list_replicas, readiness

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process answers. Touches no dependency."""
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Readiness: database and local Docker engine reachable (503 with details otherwise)."""
    result = await readiness(runtime)
    return JSONResponse(
        result.model_dump(mode="json"), status_code=200 if result.status == "ready" else 503
    )


@router.get("/api/v1/system/info", response_model=SystemInfo)
async def system_info(
    _: Annotated[Principal, Depends(require("system:read"))], runtime: RuntimeDep
) -> SystemInfo:
    """Version and where this server runs."""
    return SystemInfo(
        version=__version__,
        hostname=socket.gethostname(),
        database=runtime.settings.database_kind,
        docker_host=runtime.settings.resolved_docker_host,
        python=platform.python_version(),
        started_at=runtime.started_at,
        replica=runtime.agents.replica_id,
    )


@router.get("/api/v1/system/replicas", response_model=ReplicaList)
async def system_replicas(
    _: Annotated[Principal, Depends(require("system:read"))], runtime: RuntimeDep
) -> ReplicaList:
    """The server replicas of this installation (scale-out), live or recently gone, with
    the agents each holds."""
    return await list_replicas(runtime)
