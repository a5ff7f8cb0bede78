"""Placement queries: clusters, memberships, port ranges and allocations."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.nodes.models import Node
from dockyard.placement.models import Cluster, ClusterNode, PortAllocation
from dockyard.services.models import Service


async def clusters(session: AsyncSession) -> Sequence[Cluster]:
    return (await session.scalars(select(Cluster).order_by(Cluster.name))).all()


async def cluster(session: AsyncSession, cluster_id: int) -> Cluster | None:
    return await session.get(Cluster, cluster_id)


async def cluster_by_name(session: AsyncSession, name: str) -> Cluster | None:
    return (await session.scalars(select(Cluster).where(Cluster.name == name))).first()


async def members(session: AsyncSession, cluster_ids: Sequence[int]) -> dict[int, list[Node]]:
    """Member nodes of each cluster, by name."""
    result: dict[int, list[Node]] = {cid: [] for cid in cluster_ids}
    if not cluster_ids:
        return result
    rows = (
        await session.execute(
            select(ClusterNode.cluster_id, Node)
            .join(Node, Node.id == ClusterNode.node_id)
            .where(ClusterNode.cluster_id.in_(cluster_ids))
            .order_by(Node.name)
        )
    ).all()
    for cluster_id, node in rows:
        result[int(cluster_id)].append(node)
    return result


async def service_counts(session: AsyncSession, cluster_ids: Sequence[int]) -> dict[int, int]:
    if not cluster_ids:
        return {}
    rows = (
        await session.execute(
            select(Service.cluster_id, func.count(Service.id))
            .where(Service.cluster_id.in_(cluster_ids))
            .group_by(Service.cluster_id)
        )
    ).all()
    return {int(cid): int(count) for cid, count in rows if cid is not None}


async def clusters_of_nodes(session: AsyncSession) -> dict[int, set[int]]:
    """node id -> the clusters it belongs to."""
    result: dict[int, set[int]] = {}
    for cluster_id, node_id in (
        await session.execute(select(ClusterNode.cluster_id, ClusterNode.node_id))
    ).all():
        result.setdefault(int(node_id), set()).add(int(cluster_id))
    return result


async def allocations_with_names(
    session: AsyncSession, node_id: int | None = None
) -> Sequence[tuple[PortAllocation, str, int | None]]:
    """Port allocations with their service's name and owner: one node's, or every node's."""
    query = (
        select(PortAllocation, Service.name, Service.owner_id)
        .join(Service, Service.id == PortAllocation.service_id)
        .order_by(PortAllocation.node_id, PortAllocation.host_port, PortAllocation.protocol)
    )
    if node_id is not None:
        query = query.where(PortAllocation.node_id == node_id)
    rows = (await session.execute(query)).all()
    return [(row[0], str(row[1]), row[2]) for row in rows]
