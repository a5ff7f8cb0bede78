"""HTTP routes: clusters, node port ranges and allocations, placement preview."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from dockyard.access.service import sees_all
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.kit.errors import ValidationFailedError
from dockyard.placement import repository
from dockyard.placement import service as placement
from dockyard.placement.schemas import (
    ClusterCreate,
    ClusterList,
    ClusterOut,
    ClusterUpdate,
    PlacementExplanation,
    PlacementPreviewRequest,
    PortAllocationList,
    PortAllocationOut,
    PortRangesIn,
    PortRangesOut,
)
from dockyard.quotas.service import apply_policy, policy_context
from dockyard.services.definitions import parse_input

router = APIRouter(tags=["placement"])


@router.get("/api/v1/clusters", response_model=ClusterList)
async def list_clusters(
    principal: Annotated[Principal, Depends(require("nodes:read"))],
    session: ReadSessionDep,
) -> ClusterList:
    """Every cluster with its member nodes and labels."""
    items = list(await repository.clusters(session))
    return ClusterList(items=await placement.clusters_out(session, items))


@router.post("/api/v1/clusters", response_model=ClusterOut, status_code=status.HTTP_201_CREATED)
async def create_cluster(
    body: ClusterCreate,
    principal: Annotated[Principal, Depends(require("nodes:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> ClusterOut:
    """Create a cluster: a named group of nodes with labels."""
    cluster = await placement.create_cluster(session, body, actor=principal.actor, meta=meta)
    await session.commit()
    return (await placement.clusters_out(session, [cluster]))[0]


@router.get("/api/v1/clusters/{cluster_id}", response_model=ClusterOut)
async def get_cluster(
    cluster_id: int,
    principal: Annotated[Principal, Depends(require("nodes:read"))],
    session: ReadSessionDep,
) -> ClusterOut:
    cluster = await placement.cluster_or_404(session, cluster_id)
    return (await placement.clusters_out(session, [cluster]))[0]


@router.put("/api/v1/clusters/{cluster_id}", response_model=ClusterOut)
async def update_cluster(
    cluster_id: int,
    body: ClusterUpdate,
    principal: Annotated[Principal, Depends(require("nodes:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> ClusterOut:
    """Rename, relabel or change the members of a cluster (`node_ids` replaces them)."""
    cluster = await placement.cluster_or_404(session, cluster_id)
    await placement.update_cluster(session, cluster, body, actor=principal.actor, meta=meta)
    await session.commit()
    return (await placement.clusters_out(session, [cluster]))[0]


@router.delete(
    "/api/v1/clusters/{cluster_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def delete_cluster(
    cluster_id: int,
    principal: Annotated[Principal, Depends(require("nodes:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Delete a cluster; services that targeted it stay where they are."""
    cluster = await placement.cluster_or_404(session, cluster_id)
    await placement.delete_cluster(session, cluster, actor=principal.actor, meta=meta)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/v1/nodes/{node_id}/port-ranges", response_model=PortRangesOut)
async def get_port_ranges(
    node_id: int,
    principal: Annotated[Principal, Depends(require("nodes:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> PortRangesOut:
    """The host-port ranges `auto` ports are taken from (the default when none are set)."""
    node = await placement.node_or_404(session, node_id)
    return await placement.port_ranges_out(session, node, runtime.settings)


@router.put("/api/v1/nodes/{node_id}/port-ranges", response_model=PortRangesOut)
async def put_port_ranges(
    node_id: int,
    body: PortRangesIn,
    principal: Annotated[Principal, Depends(require("nodes:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> PortRangesOut:
    """Replace the node's ranges (1024-65535, not overlapping; empty: back to the default).

    Existing allocations are kept even when outside the new ranges.
    """
    node = await placement.node_or_404(session, node_id)
    await placement.set_port_ranges(session, node, body, actor=principal.actor, meta=meta)
    await session.commit()
    return await placement.port_ranges_out(session, node, runtime.settings)


@router.get("/api/v1/nodes/{node_id}/port-allocations", response_model=PortAllocationList)
async def list_port_allocations(
    node_id: int,
    principal: Annotated[Principal, Depends(require("nodes:read"))],
    session: ReadSessionDep,
) -> PortAllocationList:
    """Host ports held by services on the node."""
    node = await placement.node_or_404(session, node_id)
    see_all = sees_all(principal)
    items = [
        PortAllocationOut(
            host_port=row.host_port,
            protocol=row.protocol,
            host_ip=row.host_ip,
            service_id=row.service_id,
            service_name=name if see_all or owner == principal.user.id else None,
            port_key=row.port_key,
            auto=row.auto,
            created_at=row.created_at,
        )
        for row, name, owner in await repository.allocations_with_names(session, node.id)
    ]
    return PortAllocationList(node_id=node.id, items=items)


@router.post("/api/v1/placement/preview", response_model=PlacementExplanation)
async def preview_placement(
    body: PlacementPreviewRequest,
    principal: Annotated[Principal, Depends(require("services:create"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> PlacementExplanation:
    """Dry-run the scheduler: which node a service would go to, and why not the others.

    Answers 200 with `chosen: null` when no node fits (creating it would be a 422
    `placement_failed` with the same explanation).
    """
    defn = parse_input(definition=body.definition, compose=body.compose, env=body.env)
    context = await policy_context(session, principal, runtime.settings)
    defn = await apply_policy(session, defn, context, exclude_service_id=None, new_service=True)
    see_all = sees_all(principal)
    placer = placement.Placer(runtime, can_see=lambda owner: see_all or owner == principal.user.id)
    labels = body.placement.constraints.labels if body.placement else {}
    if body.node_id is not None:
        node = await placement.node_or_404(session, body.node_id)
        if body.cluster_id is not None:
            await placement.cluster_or_404(session, body.cluster_id)
        node_obj, explanation = await placer.explain(
            session, defn, cluster_id=body.cluster_id, labels=labels
        )
        del node_obj
        explanation["candidates"] = [
            c for c in explanation["candidates"] if c["node_id"] == node.id
        ]
        candidate = explanation["candidates"][0] if explanation["candidates"] else None
        if candidate is None:
            raise ValidationFailedError(f"Node {node.id} does not exist.", code="node_not_found")
        explanation["strategy"] = "fixed"
        explanation["chosen"] = (
            {
                "node_id": node.id,
                "node_name": node.name,
                "score": candidate["score"] or 0.0,
                "reasons": ["the node was given by the request"],
            }
            if candidate["eligible"]
            else None
        )
        return PlacementExplanation.model_validate(explanation)
    _, explanation = await placer.explain(session, defn, cluster_id=body.cluster_id, labels=labels)
    return PlacementExplanation.model_validate(explanation)
