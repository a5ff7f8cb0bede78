"""HTTP routes for nodes."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from dockyard.auth.service import Principal
from dockyard.deps import (
    MetaDep,
    ReadSessionDep,
    RuntimeDep,
    SessionDep,
    check_permission,
    require,
)
from dockyard.nodes import repository, service
from dockyard.nodes.schemas import (
    EnrollmentOut,
    NodeCreate,
    NodeCreated,
    NodeList,
    NodeOut,
    NodePatch,
    RotateOut,
)

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])


def server_url(request: Request) -> str:
    """The URL agents reach this server at (as the caller reached it)."""
    return str(request.base_url).rstrip("/")


@router.get("", response_model=NodeList)
async def list_nodes(
    _: Annotated[Principal, Depends(require("nodes:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> NodeList:
    """Nodes with their engine facts."""
    rows, total = await repository.list_page(session, limit=limit, offset=offset)
    items = await asyncio.gather(*(runtime.nodes.to_out(n) for n in rows))
    return NodeList(items=list(items), total=total, limit=limit, offset=offset)


@router.post("", response_model=NodeCreated, status_code=status.HTTP_201_CREATED)
async def create_node(
    body: NodeCreate,
    principal: Annotated[Principal, Depends(require("nodes:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    request: Request,
    response: Response,
) -> NodeCreated:
    """Add an agent node. The answer holds its enrollment token: shown once, never again."""
    created = await service.create_agent_node(
        runtime, session, body, principal, meta, server_url(request)
    )
    response.headers["Location"] = f"/api/v1/nodes/{created.id}"
    return created


@router.get("/{node_id}", response_model=NodeOut)
async def get_node(
    node_id: int,
    _: Annotated[Principal, Depends(require("nodes:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> NodeOut:
    """One node with its engine facts."""
    node = await service.get_or_404(session, node_id)
    return await runtime.nodes.to_out(node)


@router.patch("/{node_id}", response_model=NodeOut)
async def update_node(
    node_id: int,
    body: NodePatch,
    principal: Annotated[Principal, Depends(require("nodes:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> NodeOut:
    """Rename a node or replace its labels."""
    node = await service.get_or_404(session, node_id)
    node = await service.update_node(runtime, session, node, body, principal, meta)
    return await runtime.nodes.to_out(node)


@router.delete("/{node_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_node(
    node_id: int,
    principal: Annotated[Principal, Depends(require("nodes:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    request: Request,
    forget_services: Annotated[bool, Query()] = False,
) -> Response:
    """Delete an agent node (its agent is disconnected). 409 while services are on it,
    unless `forget_services=true` on an OFFLINE node (a host that is gone): its services
    are then removed from Dockyard without touching any engine (needs `services:delete`
    over every service). The local node is never deleted."""
    node = await service.get_or_404(session, node_id)
    if forget_services:
        await check_permission(principal, "services:delete", request, runtime)
    await service.delete_node(
        runtime, session, node, principal, meta, forget_services=forget_services
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{node_id}/enrollment-token", response_model=EnrollmentOut)
async def new_enrollment_token(
    node_id: int,
    principal: Annotated[Principal, Depends(require("nodes:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    request: Request,
) -> EnrollmentOut:
    """A new enrollment token for an agent node never enrolled or revoked (shown once)."""
    node = await service.get_or_404(session, node_id)
    return await service.new_enrollment_token(
        runtime, session, node, principal, meta, server_url(request)
    )


@router.post("/{node_id}/rotate-credentials", response_model=RotateOut)
async def rotate_credentials(
    node_id: int,
    principal: Annotated[Principal, Depends(require("nodes:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    request: Request,
) -> RotateOut:
    """Give the agent a new credential. Online: delivered over its connection
    (`delivered: true`). Offline: the old credential stops working and the answer holds a
    fresh enrollment token to re-enroll the agent with."""
    node = await service.get_or_404(session, node_id)
    return await service.rotate(runtime, session, node, principal, meta, server_url(request))


@router.post("/{node_id}/revoke", response_model=NodeOut)
async def revoke_node(
    node_id: int,
    principal: Annotated[Principal, Depends(require("nodes:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> NodeOut:
    """Revoke the agent's credential: it is disconnected at once and cannot reconnect."""
    node = await service.get_or_404(session, node_id)
    node = await service.revoke(runtime, session, node, principal, meta)
    return await runtime.nodes.to_out(node)
