"""Placement: clusters, node port ranges, and the `Placer` that chooses a node for a service.

The scoring and the explanation are in `scheduler.py`; port allocation is in `ports.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.nodes import repository as nodes_repository
from dockyard.nodes.models import Node
from dockyard.placement import repository
from dockyard.placement.models import Cluster, ClusterNode, NodePortRange, PortAllocation
from dockyard.placement.ports import legacy_published, node_ranges, range_problems
from dockyard.placement.scheduler import ALL_GPUS, Demand, NodeState, definition_demand, place
from dockyard.placement.schemas import (
    ClusterCreate,
    ClusterMember,
    ClusterOut,
    ClusterUpdate,
    PortRange,
    PortRangesIn,
    PortRangesOut,
)
from dockyard.services import repository as services_repository
from dockyard.services.compose import ComposeDefinition, ComposeError, parse_definition
from dockyard.services.compose.validate import published_ports
from dockyard.services.models import Service, ServiceRevision
from dockyard.settings import Settings

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

GPU_LABEL = "gpus"
"""A node declares its GPU count with this label (engines do not report GPUs)."""


def placement_failed(explanation: dict[str, Any]) -> ValidationFailedError:
    rejected = [c for c in explanation["candidates"] if not c["eligible"]]
    summary = "; ".join(f"{c['node_name']}: {', '.join(c['reasons'])}" for c in rejected)
    return ValidationFailedError(
        "No node can run this service" + (f" ({summary})." if summary else ": there are no nodes."),
        code="placement_failed",
        details={
            "errors": [
                {"path": f"nodes.{c['node_name']}", "message": "; ".join(c["reasons"])}
                for c in rejected
            ],
            "explanation": explanation,
        },
    )


@dataclass(frozen=True)
class PlacedLoad:
    """What the services placed on nodes hold: their latest revisions and port allocations,
    by node id, read for every node at once."""

    services: dict[int, list[tuple[Service, ServiceRevision]]]
    allocations: dict[int, list[tuple[PortAllocation, str, int | None]]]

    @classmethod
    async def read(cls, session: AsyncSession) -> PlacedLoad:
        services: dict[int, list[tuple[Service, ServiceRevision]]] = {}
        for service, revision in await services_repository.placed_with_latest(session):
            if service.node_id is not None:
                services.setdefault(service.node_id, []).append((service, revision))
        allocations: dict[int, list[tuple[PortAllocation, str, int | None]]] = {}
        for row in await repository.allocations_with_names(session):
            allocations.setdefault(row[0].node_id, []).append(row)
        return cls(services=services, allocations=allocations)


class Placer:
    """Gathers each node's state (online, facts, reservations, ports) and places services."""

    def __init__(
        self, runtime: Runtime, can_see: Callable[[int | None], bool] | None = None
    ) -> None:
        self.runtime = runtime
        # owner id -> whether the caller may learn that service's name (tenants may not).
        self.can_see = can_see

    def _holder(self, name: str, owner_id: int | None) -> str:
        if self.can_see is None or self.can_see(owner_id):
            return f"service {name}"
        return "another service"

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    async def listening_ports(self, node: Node) -> set[int] | None:
        """TCP ports in use on the node's host, when known."""
        if node.kind == "agent":
            return self.runtime.agents.listening_ports(node.id)
        if not on_this_host(node):
            return None  # an engine reached over TCP runs on another host: unknown here
        return await self.listening_ports_here()

    @staticmethod
    async def listening_ports_here() -> set[int]:
        """TCP ports in use on the host Dockyard runs on."""
        from dockyard.metrics.collector import listening_ports

        return set(await asyncio.to_thread(listening_ports))

    async def node_state(
        self, node: Node, clusters: set[int], placed: PlacedLoad, host_ports: set[int] | None
    ) -> NodeState:
        """The node as a candidate: facts (cached), what its services reserve, ports in use."""
        online, reason = True, ""
        cpus: float | None = None
        memory: int | None = None
        if node.kind == "agent" and not self.runtime.agents.is_online(node.id):
            online, reason = False, "its agent is not connected"
        else:
            facts = await self.runtime.nodes.facts(node)
            if not facts.reachable:
                online, reason = False, facts.error or "its engine is not reachable"
            cpus = float(facts.cpus) if facts.cpus else None
            memory = facts.memory_bytes or None
        labels = dict(node.labels or {})
        try:
            gpus = int(labels.get(GPU_LABEL, 0))
        except (TypeError, ValueError):
            gpus = 0
        services = placed.services.get(node.id, [])
        reserved_cpus, reserved_memory, reserved_gpus = 0.0, 0, 0
        in_use: dict[tuple[int, str], str] = {}
        for service, revision in services:
            demand = definition_demand(revision.definition)
            reserved_cpus += demand.cpus
            reserved_memory += demand.memory_bytes
            reserved_gpus += max(node_gpus_all(gpus, demand.gpus), 0)
            for port, protocol in _published(revision.definition):
                in_use.setdefault((port, protocol), self._holder(service.name, service.owner_id))
        for allocation, name, owner in placed.allocations.get(node.id, []):
            in_use.setdefault(
                (allocation.host_port, allocation.protocol), self._holder(name, owner)
            )
        if online:
            for port in host_ports or set():
                in_use.setdefault((port, "tcp"), "a process on the host")
        return NodeState(
            id=node.id,
            name=node.name,
            online=online,
            offline_reason=reason,
            labels=labels,
            clusters=frozenset(clusters),
            cpus=cpus,
            memory_bytes=memory,
            gpus=gpus,
            reserved_cpus=reserved_cpus,
            reserved_memory=reserved_memory,
            reserved_gpus=reserved_gpus,
            services=len(services),
            ports_in_use=in_use,
        )

    async def demand(
        self,
        session: AsyncSession,
        defn: ComposeDefinition,
        *,
        cluster_id: int | None,
        labels: dict[str, str],
    ) -> Demand:
        base = definition_demand(defn)
        cluster_name = None
        if cluster_id is not None:
            cluster = await repository.cluster(session, cluster_id)
            if cluster is None:
                raise ValidationFailedError(
                    f"Cluster {cluster_id} does not exist.",
                    code="cluster_not_found",
                    details={"errors": [{"path": "cluster_id", "message": "unknown cluster"}]},
                )
            cluster_name = cluster.name
        return replace(base, labels=labels, cluster_id=cluster_id, cluster_name=cluster_name)

    async def explain(
        self,
        session: AsyncSession,
        defn: ComposeDefinition,
        *,
        cluster_id: int | None = None,
        labels: dict[str, str] | None = None,
    ) -> tuple[Node | None, dict[str, Any]]:
        """The chosen node (or None) and the explanation; raises nothing for "no node"."""
        demand = await self.demand(session, defn, cluster_id=cluster_id, labels=labels or {})
        all_nodes = list((await session.scalars(select(Node).order_by(Node.id))).all())
        memberships = await repository.clusters_of_nodes(session)
        # Engine facts concurrently (cached); the services, revisions and allocations of
        # every node in two queries, whatever the fleet's size.
        await asyncio.gather(
            *(
                self.runtime.nodes.facts(n)
                for n in all_nodes
                if n.kind != "agent" or self.runtime.agents.is_online(n.id)
            ),
            return_exceptions=True,
        )
        placed = await PlacedLoad.read(session)
        # Every engine on a unix socket shares this host's ports: read them once.
        ports_here = (
            await self.listening_ports_here() if any(map(on_this_host, all_nodes)) else None
        )
        states = [
            await self.node_state(
                n,
                memberships.get(n.id, set()),
                placed,
                ports_here if on_this_host(n) else await self.listening_ports(n),
            )
            for n in all_nodes
        ]
        chosen, explanation = place(demand, list(states))
        node = next((n for n in all_nodes if chosen is not None and n.id == chosen.id), None)
        return node, explanation

    async def choose(
        self,
        session: AsyncSession,
        defn: ComposeDefinition,
        *,
        cluster_id: int | None = None,
        labels: dict[str, str] | None = None,
    ) -> tuple[Node, dict[str, Any]]:
        """The chosen node and the explanation; 422 `placement_failed` when none fits."""
        node, explanation = await self.explain(session, defn, cluster_id=cluster_id, labels=labels)
        if node is None:
            raise placement_failed(explanation)
        return node, explanation

    async def host_ports(self, node: Node) -> set[int] | None:
        return await self.listening_ports(node)


def on_this_host(node: Node) -> bool:
    """Whether the node's engine runs on the host Dockyard runs on (reached by unix socket)."""
    return node.kind != "agent" and node.docker_host.startswith("unix://")


def node_gpus_all(node_gpus: int, demand_gpus: int) -> int:
    """GPUs a placed service holds on a node (`all` holds every one)."""
    return node_gpus if demand_gpus == ALL_GPUS else demand_gpus


def _published(definition: dict[str, Any]) -> list[tuple[int, str]]:
    try:
        defn = parse_definition(definition, validate=False)
    except ComposeError:
        return []
    return [(port, protocol) for _, port, protocol, _ in published_ports(defn)]


async def legacy_ports_on(
    session: AsyncSession, node_id: int, exclude_service_id: int | None
) -> list[tuple[int, str]]:
    """Ports other services' latest definitions publish (covers rows without allocations)."""
    others = [
        s for s in await services_repository.on_node(session, node_id) if s.id != exclude_service_id
    ]
    latest = await services_repository.latest_revisions(session, others)
    defs = []
    for revision in latest.values():
        try:
            defs.append(parse_definition(revision.definition, validate=False))
        except ComposeError:
            continue
    return legacy_published(defs)


# ---------------------------------------------------------------- clusters


async def cluster_or_404(session: AsyncSession, cluster_id: int) -> Cluster:
    cluster = await repository.cluster(session, cluster_id)
    if cluster is None:
        raise NotFoundError(f"Cluster {cluster_id} does not exist.", code="cluster_not_found")
    return cluster


async def node_or_404(session: AsyncSession, node_id: int) -> Node:
    node = await nodes_repository.get(session, node_id)
    if node is None:
        raise NotFoundError(f"Node {node_id} does not exist.", code="node_not_found")
    return node


async def clusters_out(session: AsyncSession, items: list[Cluster]) -> list[ClusterOut]:
    ids = [c.id for c in items]
    members = await repository.members(session, ids)
    counts = await repository.service_counts(session, ids)
    return [
        ClusterOut(
            id=c.id,
            name=c.name,
            description=c.description,
            labels={str(k): str(v) for k, v in (c.labels or {}).items()},
            nodes=[ClusterMember(id=n.id, name=n.name, kind=n.kind) for n in members[c.id]],
            services=counts.get(c.id, 0),
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
        for c in items
    ]


async def _check_nodes(session: AsyncSession, node_ids: list[int]) -> list[int]:
    unique = sorted(set(node_ids))
    if unique:
        found = set((await session.scalars(select(Node.id).where(Node.id.in_(unique)))).all())
        missing = [i for i in unique if i not in found]
        if missing:
            raise ValidationFailedError(
                f"Unknown node(s): {', '.join(map(str, missing))}.",
                code="node_not_found",
                details={
                    "errors": [
                        {"path": f"node_ids.{node_ids.index(i)}", "message": "unknown node"}
                        for i in missing
                    ]
                },
            )
    return unique


async def _set_members(session: AsyncSession, cluster_id: int, node_ids: list[int]) -> None:
    await session.execute(delete(ClusterNode).where(ClusterNode.cluster_id == cluster_id))
    for node_id in node_ids:
        session.add(ClusterNode(cluster_id=cluster_id, node_id=node_id))


async def _flush_unique(session: AsyncSession, name: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise ConflictError(
            f"A cluster named {name} already exists.",
            code="cluster_exists",
            details={"errors": [{"path": "name", "message": "already exists"}]},
        ) from exc


async def create_cluster(
    session: AsyncSession, body: ClusterCreate, *, actor: Actor, meta: RequestMeta | None
) -> Cluster:
    node_ids = await _check_nodes(session, body.node_ids)
    if await repository.cluster_by_name(session, body.name):
        raise ConflictError(
            f"A cluster named {body.name} already exists.",
            code="cluster_exists",
            details={"errors": [{"path": "name", "message": "already exists"}]},
        )
    cluster = Cluster(name=body.name, description=body.description, labels=body.labels)
    session.add(cluster)
    await _flush_unique(session, body.name)
    await _set_members(session, cluster.id, node_ids)
    await session.flush()
    await record(
        session,
        action="cluster.created",
        actor=actor,
        target_type="cluster",
        target_id=cluster.id,
        details={"name": cluster.name, "labels": body.labels, "node_ids": node_ids},
        meta=meta,
    )
    return cluster


async def update_cluster(
    session: AsyncSession,
    cluster: Cluster,
    body: ClusterUpdate,
    *,
    actor: Actor,
    meta: RequestMeta | None,
) -> Cluster:
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != cluster.name:
        other = await repository.cluster_by_name(session, body.name)
        if other is not None and other.id != cluster.id:
            raise ConflictError(
                f"A cluster named {body.name} already exists.",
                code="cluster_exists",
                details={"errors": [{"path": "name", "message": "already exists"}]},
            )
        changes["name"] = {"from": cluster.name, "to": body.name}
        cluster.name = body.name
    if body.description is not None and body.description != cluster.description:
        cluster.description = body.description
        changes["description"] = True
    if body.labels is not None and body.labels != cluster.labels:
        cluster.labels = body.labels
        changes["labels"] = body.labels
    if body.node_ids is not None:
        node_ids = await _check_nodes(session, body.node_ids)
        members = (await repository.members(session, [cluster.id]))[cluster.id]
        current = sorted(n.id for n in members)
        if node_ids != current:
            await _set_members(session, cluster.id, node_ids)
            changes["node_ids"] = {"from": current, "to": node_ids}
    if changes:
        await _flush_unique(session, cluster.name)
        await record(
            session,
            action="cluster.updated",
            actor=actor,
            target_type="cluster",
            target_id=cluster.id,
            details=changes,
            meta=meta,
        )
    return cluster


async def delete_cluster(
    session: AsyncSession, cluster: Cluster, *, actor: Actor, meta: RequestMeta | None
) -> None:
    name = cluster.name
    await session.delete(cluster)
    await session.flush()
    await record(
        session,
        action="cluster.deleted",
        actor=actor,
        target_type="cluster",
        target_id=cluster.id,
        details={"name": name},
        meta=meta,
    )


# ---------------------------------------------------------------- port ranges


async def port_ranges_out(session: AsyncSession, node: Node, settings: Settings) -> PortRangesOut:
    ranges, is_default = await node_ranges(session, node.id, settings.placement_port_range)
    return PortRangesOut(
        node_id=node.id,
        ranges=[PortRange(start=a, end=b) for a, b in ranges],
        default=is_default,
    )


async def set_port_ranges(
    session: AsyncSession,
    node: Node,
    body: PortRangesIn,
    *,
    actor: Actor,
    meta: RequestMeta | None,
) -> None:
    pairs = [(r.start, r.end) for r in body.ranges]
    problems = range_problems(pairs)
    if problems:
        raise ValidationFailedError(
            "Invalid port ranges: " + "; ".join(p["message"] for p in problems),
            code="invalid_port_ranges",
            details={"errors": problems},
        )
    await session.execute(delete(NodePortRange).where(NodePortRange.node_id == node.id))
    for start, end in sorted(pairs):
        session.add(NodePortRange(node_id=node.id, start=start, end=end))
    await session.flush()
    await record(
        session,
        action="node.port_ranges.updated",
        actor=actor,
        target_type="node",
        target_id=node.id,
        details={"ranges": [f"{a}-{b}" for a, b in sorted(pairs)]},
        meta=meta,
    )
