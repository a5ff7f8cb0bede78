"""The placement scheduler: pure functions over what is known about each node.

Scoring ("most room"): for every node that passes all checks, the room left after placing
the service is `free_after / capacity` for CPUs and for memory; the score is the mean of the
two (a resource the node does not report counts as 1.0, an unreserved demand still ranks
nodes by how much is free). The highest score wins; ties go to the node with fewer
services, then the lowest id. A node is rejected, with one reason per failed check, when it
is offline, outside the requested cluster, lacks a required label value, has too little
unreserved CPU, memory or GPUs, or already has one of the fixed host ports in use (an
offline node's unknown capacity is not listed as a further reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.services.compose import ComposeDefinition
from dockyard.services.compose.policy import gpus_requested

ALL_GPUS = -1
"""`Demand.gpus` when a container asks for every GPU of the host."""


@dataclass(frozen=True)
class Demand:
    """What a service needs from a node."""

    cpus: float = 0.0  # reserved CPUs, summed over the containers
    memory_bytes: int = 0  # reserved memory, summed
    gpus: int = 0
    ports: tuple[tuple[int, str], ...] = ()  # fixed host ports (port, protocol)
    # The largest single container's limits: a node smaller than one cannot run it.
    largest_cpus_limit: float = 0.0
    largest_memory_limit: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    cluster_id: int | None = None
    cluster_name: str | None = None


@dataclass
class NodeState:
    """One candidate node: its facts, what is already reserved on it, what is in use."""

    id: int
    name: str
    online: bool
    offline_reason: str = ""
    labels: dict[str, Any] = field(default_factory=dict)
    clusters: frozenset[int] = frozenset()
    cpus: float | None = None
    memory_bytes: int | None = None
    gpus: int = 0
    reserved_cpus: float = 0.0
    reserved_memory: int = 0
    reserved_gpus: int = 0
    services: int = 0
    # (port, protocol) -> who holds it ("service web", "the host")
    ports_in_use: dict[tuple[int, str], str] = field(default_factory=dict)


@dataclass
class Verdict:
    node_id: int
    node_name: str
    eligible: bool
    score: float | None
    reasons: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "node_name": self.node_name,
            "eligible": self.eligible,
            "score": None if self.score is None else round(self.score, 4),
            "reasons": self.reasons,
        }


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _gib(size: float) -> str:
    return f"{size / 1024**3:.2f}".rstrip("0").rstrip(".") + " GiB"


def definition_demand(defn: ComposeDefinition | dict[str, Any]) -> Demand:
    """CPU, memory, GPUs and fixed host ports of a definition.

    Capacity counts reservations only (`deploy.resources.reservations.cpus`,
    `mem_reservation`), as Docker Swarm does: limits (`cpus`, `mem_limit`) are caps that
    containers on one host commonly overcommit, so they only have to fit the node's total.
    """
    data = defn.to_json() if isinstance(defn, ComposeDefinition) else defn
    cpus = 0.0
    memory = 0
    largest_cpus, largest_memory = 0.0, 0
    ports: list[tuple[int, str]] = []
    for spec in (data.get("services") or {}).values():
        reservations = ((spec.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
        cpus += float(reservations.get("cpus") or 0)
        memory += int(spec.get("mem_reservation") or 0)
        largest_cpus = max(largest_cpus, float(spec.get("cpus") or 0))
        largest_memory = max(largest_memory, int(spec.get("mem_limit") or 0))
        for port in spec.get("ports") or []:
            if port.get("published") is not None and not port.get("auto"):
                key = (int(port["published"]), str(port.get("protocol") or "tcp"))
                if key not in ports:
                    ports.append(key)
    gpus = gpus_requested(data)
    return Demand(
        cpus=cpus,
        memory_bytes=memory,
        gpus=ALL_GPUS if gpus is None else gpus,
        ports=tuple(ports),
        largest_cpus_limit=largest_cpus,
        largest_memory_limit=largest_memory,
    )


def evaluate(demand: Demand, node: NodeState) -> Verdict:
    """Every reason `node` cannot take the service, or its score."""
    reasons: list[str] = []
    if not node.online:
        reasons.append(f"offline: {node.offline_reason}" if node.offline_reason else "offline")
    if demand.cluster_id is not None and demand.cluster_id not in node.clusters:
        reasons.append(f"not a member of cluster {demand.cluster_name or demand.cluster_id}")
    for key, wanted in sorted(demand.labels.items()):
        have = node.labels.get(key)
        if have is None:
            reasons.append(f"label {key}={wanted} required, the node has no label {key}")
        elif str(have) != str(wanted):
            reasons.append(f"label {key}={wanted} required, the node has {key}={have}")
    if node.cpus and demand.largest_cpus_limit > node.cpus + 1e-9:
        reasons.append(
            f"a container's CPU limit of {_number(demand.largest_cpus_limit)} exceeds the "
            f"node's {_number(node.cpus)} CPUs"
        )
    if node.memory_bytes and demand.largest_memory_limit > node.memory_bytes:
        reasons.append(
            f"a container's memory limit of {_gib(demand.largest_memory_limit)} exceeds the "
            f"node's {_gib(node.memory_bytes)}"
        )
    cpu_room = 1.0
    if node.cpus is not None and node.cpus > 0:
        free = node.cpus - node.reserved_cpus
        if demand.cpus > free + 1e-9:
            reasons.append(
                f"needs {_number(demand.cpus)} CPUs, {_number(max(free, 0))} of "
                f"{_number(node.cpus)} unreserved"
            )
        cpu_room = max(free - demand.cpus, 0) / node.cpus
    elif demand.cpus > 0 and node.online:
        reasons.append(f"needs {_number(demand.cpus)} CPUs, the node's CPU count is unknown")
    memory_room = 1.0
    if node.memory_bytes is not None and node.memory_bytes > 0:
        free_memory = node.memory_bytes - node.reserved_memory
        if demand.memory_bytes > free_memory:
            reasons.append(
                f"needs {_gib(demand.memory_bytes)} memory, {_gib(max(free_memory, 0))} of "
                f"{_gib(node.memory_bytes)} unreserved"
            )
        memory_room = max(free_memory - demand.memory_bytes, 0) / node.memory_bytes
    elif demand.memory_bytes > 0 and node.online:
        reasons.append(
            f"needs {_gib(demand.memory_bytes)} memory, the node's memory size is unknown"
        )
    free_gpus = node.gpus - node.reserved_gpus
    if demand.gpus == ALL_GPUS:
        if free_gpus < 1 or node.reserved_gpus > 0:
            reasons.append(f"needs all GPUs of a node, {max(free_gpus, 0)} of {node.gpus} are free")
    elif demand.gpus > free_gpus:
        reasons.append(f"needs {demand.gpus} GPUs, {max(free_gpus, 0)} of {node.gpus} free")
    for port, protocol in demand.ports:
        holder = node.ports_in_use.get((port, protocol))
        if holder is not None:
            reasons.append(f"host port {port}/{protocol} is in use by {holder}")
    if reasons:
        return Verdict(node.id, node.name, False, None, reasons)
    return Verdict(node.id, node.name, True, (cpu_room + memory_room) / 2, [])


def _why(demand: Demand, node: NodeState, verdict: Verdict) -> list[str]:
    why = ["online"]
    if demand.cluster_id is not None:
        why.append(f"member of cluster {demand.cluster_name or demand.cluster_id}")
    for key, wanted in sorted(demand.labels.items()):
        why.append(f"has label {key}={wanted}")
    if node.cpus:
        why.append(
            f"{_number(node.cpus - node.reserved_cpus - demand.cpus)} of {_number(node.cpus)} "
            "CPUs left unreserved after placing"
        )
    if node.memory_bytes:
        why.append(
            f"{_gib(node.memory_bytes - node.reserved_memory - demand.memory_bytes)} of "
            f"{_gib(node.memory_bytes)} memory left unreserved after placing"
        )
    if demand.ports:
        why.append("its fixed host ports are free")
    why.append(f"highest score {verdict.score:.4f} (mean free CPU and memory share)")
    return why


def place(demand: Demand, nodes: list[NodeState]) -> tuple[NodeState | None, dict[str, Any]]:
    """The chosen node (None when no node fits) and the explanation stored on the service."""
    verdicts = [(node, evaluate(demand, node)) for node in nodes]
    eligible = [(n, v) for n, v in verdicts if v.eligible]
    eligible.sort(key=lambda nv: (-(nv[1].score or 0.0), nv[0].services, nv[0].id))
    chosen = eligible[0] if eligible else None
    explanation: dict[str, Any] = {
        "strategy": "most_room",
        "request": {
            "cpus": demand.cpus,
            "memory_bytes": demand.memory_bytes,
            "gpus": "all" if demand.gpus == ALL_GPUS else demand.gpus,
            "ports": [f"{p}/{proto}" for p, proto in demand.ports],
            "labels": demand.labels,
            "cluster_id": demand.cluster_id,
            "cluster_name": demand.cluster_name,
        },
        "chosen": None,
        "candidates": [v.to_json() for _, v in verdicts],
    }
    if chosen is None:
        return None, explanation
    node, verdict = chosen
    explanation["chosen"] = {
        "node_id": node.id,
        "node_name": node.name,
        "score": round(verdict.score or 0.0, 4),
        "reasons": _why(demand, node, verdict),
    }
    return node, explanation
