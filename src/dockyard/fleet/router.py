"""Fleet-wide views: `GET /containers` (every node), one container, `GET /logs/search`.

The per-container terminal and files live in `dockyard.containers.router`
(`/containers/{node_id}/{container_id}/exec`, `/nodes/{node_id}/containers/.../files`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access.service import sees_all, service_permissions
from dockyard.audit.service import record
from dockyard.auth.service import Principal
from dockyard.containers.access import resolve_container
from dockyard.deps import MetaDep, RuntimeDep, require_any
from dockyard.engine import streams
from dockyard.engine.errors import EngineNotFoundError
from dockyard.fleet import service as fleet
from dockyard.fleet.schemas import (
    ContainerAccess,
    ContainerDetail,
    ContainerLogLine,
    ContainerLogs,
    FleetContainerList,
    SortField,
    SortOrder,
)
from dockyard.kit.errors import NotFoundError
from dockyard.kit.request_meta import RequestMeta
from dockyard.nodes import repository as nodes_repository
from dockyard.runtime import Runtime
from dockyard.services import repository as services_repository

router = APIRouter(prefix="/api/v1", tags=["fleet"])


ReadContainers = Annotated[Principal, Depends(require_any("containers:read", "services:read"))]
ReadLogs = Annotated[Principal, Depends(require_any("containers:logs", "services:logs"))]


@router.get("/containers", response_model=FleetContainerList)
async def list_fleet_containers(
    runtime: RuntimeDep,
    principal: ReadContainers,
    node_id: int | None = None,
    service_id: int | None = None,
    state: Annotated[
        str | None,
        Query(
            max_length=16,
            description="created, running, paused, restarting, removing, exited or dead.",
        ),
    ] = None,
    image: Annotated[str | None, Query(max_length=256, description="Substring.")] = None,
    q: Annotated[
        str | None, Query(max_length=128, description="Name substring or id prefix.")
    ] = None,
    sort: SortField = "node",
    order: SortOrder = "asc",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FleetContainerList:
    """Every container on every node (local and agent nodes alike), in one table.

    `containers:read` with a see-everything role: every container, managed or not.
    Otherwise (for example `services:read` only): the containers of the services the caller
    sees. Nodes are asked in parallel, each with a timeout; a node that cannot answer is
    listed in `unavailable_nodes` and the rest of the table stands.
    """
    query = fleet.FleetQuery(
        node_id=node_id,
        service_id=service_id,
        state=state or None,
        image=image or None,
        q=q or None,
        sort=sort,
        order=order,
        limit=limit,
        offset=offset,
    )
    return await fleet.list_containers(runtime, principal, query)


async def _access(
    runtime: Runtime, principal: Principal, node_id: int, service_id: int | None
) -> tuple[fleet.ServiceRef | None, frozenset[str] | None]:
    """The managing service (if this installation's) and what the caller holds on it."""
    if service_id is None:
        return None, None
    async with runtime.db.read_session() as session:
        service = await services_repository.get(session, service_id)
    if service is None or service.node_id != node_id:
        return None, None
    held = service_permissions(
        principal, service_id=service.id, node_id=service.node_id, owner_id=service.owner_id
    )
    return fleet.ServiceRef(service.id, service.name, service.node_id), held


def _may(principal: Principal, held: frozenset[str] | None, full: str, scoped: str) -> bool:
    if sees_all(principal) and principal.can(full):
        return True
    return held is not None and scoped in held


@router.get("/containers/{node_id}/{container_id}", response_model=ContainerDetail)
async def container_detail(
    node_id: int,
    container_id: str,
    request: Request,
    runtime: RuntimeDep,
    principal: ReadContainers,
) -> ContainerDetail:
    """One container's inspect summary: state, config, mounts, networks, ports, labels.

    Environment values under secret-looking names (password, token, key, ...) are masked.
    `container_id` is a full id, an id prefix of 12+ characters or the exact name.
    """
    permission = (
        "containers:read"
        if sees_all(principal) and principal.can("containers:read")
        else "services:read"
    )
    target = await resolve_container(
        runtime, principal, node_id, container_id, request, permission=permission
    )
    try:
        data = await target.engine.inspect_container(target.container)
    except EngineNotFoundError:
        raise NotFoundError(
            f"No container {container_id[:64]!r} on this node.", code="container_not_found"
        ) from None
    async with runtime.db.read_session() as session:
        node = await nodes_repository.get(session, node_id)
    if node is None:
        raise NotFoundError(f"Node {node_id} does not exist.", code="node_not_found")
    labels = (data.get("Config") or {}).get("Labels") or {}
    service_id = fleet.managed_service_id(labels, runtime.instance_id)
    service, held = await _access(runtime, principal, node_id, service_id)
    access = ContainerAccess(
        logs=_may(principal, held, "containers:logs", "services:logs"),
        exec=_may(principal, held, "services:exec", "services:exec"),
    )
    return fleet.detail_from_inspect(data, node=node, service=service, access=access)


@router.get("/containers/{node_id}/{container_id}/logs", response_model=ContainerLogs)
async def container_logs(
    node_id: int,
    container_id: str,
    request: Request,
    runtime: RuntimeDep,
    principal: ReadLogs,
    tail: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> ContainerLogs:
    """The container's last `tail` log lines (stdout and stderr, with timestamps)."""
    permission = (
        "containers:logs"
        if sees_all(principal) and principal.can("containers:logs")
        else "services:logs"
    )
    target = await resolve_container(
        runtime, principal, node_id, container_id, request, permission=permission
    )
    lines = await streams.fetch_logs(
        target.engine.base_url, target.container, tail=tail, timestamps=True
    )
    return ContainerLogs(
        container=target.container,
        lines=[ContainerLogLine(stream=ln.stream, ts=ln.ts, message=ln.message) for ln in lines],
    )


NDJSON_DOC = (
    "NDJSON, one JSON object per line, streamed as results are found: "
    '`{"type": "match", ...}` per matching line (see LogSearchMatch), then one '
    '`{"type": "summary", ...}` (see LogSearchSummary).'
)


@router.get(
    "/logs/search",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": NDJSON_DOC,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
async def search_logs(
    request: Request,
    runtime: RuntimeDep,
    principal: ReadLogs,
    meta: MetaDep,
    q: Annotated[str, Query(min_length=1, max_length=fleet.MAX_QUERY_LENGTH)],
    since: Annotated[
        datetime | None, Query(description="Start of the range (default: an hour before until).")
    ] = None,
    until: Annotated[datetime | None, Query(description="End of the range (default: now).")] = None,
    node_id: int | None = None,
    service_id: int | None = None,
    container: Annotated[
        str | None, Query(max_length=128, description="Container name substring or id prefix.")
    ] = None,
    regex: bool = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> StreamingResponse:
    """Search the logs of every container of every node in a time range (streamed NDJSON).

    Case-insensitive substring by default; `regex=true` takes a case-insensitive regular
    expression (at most 256 characters; patterns that can backtrack exponentially are
    refused with 422). `containers:logs` with a see-everything role searches every
    container; `services:logs` only the containers of the caller's services. At most
    `limit` matches; each container's log is read up to a byte cap (reported as
    `truncated_containers`). The search is audited (`logs.searched`, the query only).
    """
    start, end = fleet.default_range(since, until)
    matcher = fleet.make_matcher(q, regex=regex)
    params = fleet.SearchParams(
        q=q,
        regex=regex,
        since=start,
        until=end,
        limit=limit,
        node_id=node_id,
        service_id=service_id,
        container=container or None,
    )
    targets, node_errors = await fleet.search_targets(runtime, principal, params)
    # Its own short transaction: no database connection is held while the search streams.
    async with runtime.db.session() as session:
        await _record_search(session, principal, meta, params, len(targets))
    return StreamingResponse(
        fleet.run_search(
            targets, params, matcher, node_errors, is_disconnected=request.is_disconnected
        ),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _record_search(
    session: AsyncSession,
    principal: Principal,
    meta: RequestMeta,
    params: fleet.SearchParams,
    containers: int,
) -> None:
    await record(
        session,
        action="logs.searched",
        actor=principal.actor,
        target_type="logs",
        details={
            "q": params.q[:256],
            "regex": params.regex,
            "since": params.since.isoformat(),
            "until": params.until.isoformat(),
            "node_id": params.node_id,
            "service_id": params.service_id,
            "container": params.container,
            "limit": params.limit,
            "containers": containers,
        },
        meta=meta,
    )
    await session.commit()
