"""HTTP routes for metrics series: nodes, services, containers and fleet totals."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from dockyard.access.service import sees_all, service_permissions
from dockyard.auth.service import Principal
from dockyard.deps import AUTHENTICATED, ReadSessionDep, RuntimeDep, require
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import NotFoundError
from dockyard.metrics import service
from dockyard.metrics.models import MINUTE, RAW
from dockyard.metrics.schemas import (
    ContainerMetrics,
    ContainerPointOut,
    FleetMetrics,
    FleetNow,
    FleetPointOut,
    HostPointOut,
    MetricsRange,
    NodeMetrics,
    ServiceMetrics,
    ServicePointOut,
)
from dockyard.nodes.service import get_or_404 as node_or_404
from dockyard.services import repository as services_repository
from dockyard.services import service as services

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])

RangeQuery = Annotated[MetricsRange, Query(description="How far back the series goes.")]
CONTAINER_ID = re.compile(r"^[0-9a-f]{12,64}$")


def _info(range_: str, tier: service.Tier) -> dict[str, Any]:
    return {
        "range": range_,
        "tier": {RAW: "raw", MINUTE: "1m"}.get(tier.res, "1h"),
        "resolution_s": tier.step,
        "since": service.from_epoch(tier.since),
    }


def _tier(runtime: Any, range_: str) -> service.Tier:
    return service.choose_tier(service.RANGES[range_], runtime.settings, service.epoch(utcnow()))


def _with_ts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "ts": service.from_epoch(int(row["ts"]))} for row in rows]


@router.get("/nodes/{node_id}", response_model=NodeMetrics)
async def node_metrics(
    node_id: int,
    principal: Annotated[Principal, Depends(require("nodes:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
    range: RangeQuery = "1h",
) -> NodeMetrics:
    """A node's host CPU, memory, disk, network and load over `range`."""
    await node_or_404(session, node_id)
    tier = _tier(runtime, range)
    points = await service.node_series(session, node_id, tier)
    return NodeMetrics(
        **_info(range, tier),
        node_id=node_id,
        points=[HostPointOut.model_validate(p) for p in _with_ts(points)],
    )


@router.get("/services/{service_id}", response_model=ServiceMetrics)
async def service_metrics(
    service_id: int,
    principal: Annotated[Principal, Depends(require("services:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
    range: RangeQuery = "1h",
) -> ServiceMetrics:
    """A service's containers summed: CPU, memory, network, block I/O, pids over `range`.

    A service the caller cannot see is 404 (checked by `require` on `{service_id}`), and
    so is one that does not exist (even for those who see every service).
    """
    await services.get_or_404(session, service_id)
    tier = _tier(runtime, range)
    points = await service.service_series(session, service_id, tier)
    return ServiceMetrics(
        **_info(range, tier),
        service_id=service_id,
        points=[ServicePointOut.model_validate(p) for p in _with_ts(points)],
    )


def _container_not_found(container_id: str) -> NotFoundError:
    return NotFoundError(
        f"No metrics for container {container_id} on this node.", code="container_not_found"
    )


@router.get("/containers/{node_id}/{container_id}", response_model=ContainerMetrics)
async def container_metrics(
    node_id: int,
    container_id: str,
    principal: Annotated[Principal, Depends(require(AUTHENTICATED))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
    range: RangeQuery = "1h",
) -> ContainerMetrics:
    """One container's CPU, memory, network, block I/O and pids over `range`.

    Needs `containers:read` (with a role that sees every service), or `services:read` on the
    service the container belongs to; a container the caller may not see is 404.
    """
    if not CONTAINER_ID.match(container_id):
        raise _container_not_found(container_id)
    await node_or_404(session, node_id)
    if len(container_id) < 64:
        container_id = await service.full_container_id(session, node_id, container_id)
    service_id = await service.container_service_id(session, node_id, container_id)
    if service_id is None:
        service_id = runtime.state.container_service(node_id, container_id)
    # containers:read covers every container for those who see everything; others see the
    # containers of services they may read (as the fleet container table does).
    allowed = principal.can("containers:read") and sees_all(principal)
    if not allowed and service_id is not None and principal.can("services:read"):
        svc = await services_repository.get(session, service_id)
        held = (
            service_permissions(
                principal, service_id=svc.id, node_id=svc.node_id, owner_id=svc.owner_id
            )
            if svc is not None
            else None
        )
        allowed = held is not None and "services:read" in held
    if not allowed:
        raise _container_not_found(container_id)
    tier = _tier(runtime, range)
    points = await service.container_series(session, node_id, container_id, tier)
    return ContainerMetrics(
        **_info(range, tier),
        node_id=node_id,
        container_id=container_id,
        service_id=service_id,
        points=[ContainerPointOut.model_validate(p) for p in _with_ts(points)],
    )


@router.get("/fleet", response_model=FleetMetrics)
async def fleet_metrics(
    principal: Annotated[Principal, Depends(require("nodes:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
    range: RangeQuery = "24h",
) -> FleetMetrics:
    """Fleet totals now (each node's newest sample) and CPU/memory over `range`."""
    now_ts = service.epoch(utcnow())
    latest = await service.latest_host_points(
        session, now_ts - service.freshness_s(runtime.settings)
    )
    tier = _tier(runtime, range)
    points = await service.fleet_series(session, tier)
    return FleetMetrics(
        **_info(range, tier),
        now=FleetNow.model_validate(service.fleet_now(latest)),
        points=[FleetPointOut.model_validate(p) for p in _with_ts(points)],
    )
