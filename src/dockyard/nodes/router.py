"""HTTP routes for nodes."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from dockyard.auth.service import Principal
from dockyard.deps import ReadSessionDep, RuntimeDep, require
from dockyard.kit.errors import NotFoundError
from dockyard.nodes import repository
from dockyard.nodes.schemas import NodeList, NodeOut

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])


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


@router.get("/{node_id}", response_model=NodeOut)
async def get_node(
    node_id: int,
    _: Annotated[Principal, Depends(require("nodes:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> NodeOut:
    """One node with its engine facts."""
    node = await repository.get(session, node_id)
    if node is None:
        raise NotFoundError(f"Node {node_id} does not exist.", code="node_not_found")
    return await runtime.nodes.to_out(node)
