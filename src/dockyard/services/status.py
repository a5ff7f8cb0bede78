"""Service status and drift, computed from the node state cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dockyard.services.compose import ComposeDefinition, config_hash, parse_definition
from dockyard.services.models import Service, ServiceRevision
from dockyard.services.schemas import ContainerOut, PortOut, ServiceStatus

SERVICE_ID_LABEL = "io.dockyard.service-id"
INSTANCE_LABEL = "io.dockyard.instance"
REVISION_LABEL = "io.dockyard.revision"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
COMPOSE_NUMBER_LABEL = "com.docker.compose.container-number"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
ONEOFF_LABEL = "com.docker.compose.oneoff"


class ContainerLike(Protocol):
    """What the state cache knows about a container."""

    id: str
    name: str
    labels: Mapping[str, str]
    image: str
    image_id: str | None
    state: str
    health: str | None
    exit_code: int | None
    restart_count: int
    started_at: datetime | None
    finished_at: datetime | None
    ports: Sequence[Mapping[str, Any]]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def container_out(c: ContainerLike) -> ContainerOut:
    return ContainerOut(
        id=c.id,
        name=c.name,
        service=c.labels.get(COMPOSE_SERVICE_LABEL),
        number=_int(c.labels.get(COMPOSE_NUMBER_LABEL)),
        state=c.state,
        health=c.health,
        exit_code=c.exit_code,
        restart_count=c.restart_count,
        started_at=c.started_at,
        finished_at=c.finished_at,
        image=c.image,
        image_id=c.image_id,
        revision=_int(c.labels.get(REVISION_LABEL)),
        ports=[
            PortOut(
                host_ip=p.get("host_ip"),
                host_port=p.get("host_port"),
                container_port=int(p.get("container_port") or 0),
                protocol=str(p.get("protocol") or "tcp"),
            )
            for p in c.ports
        ],
    )


@dataclass(frozen=True)
class Expected:
    """What the deployed revision says should run."""

    hashes: dict[str, str]  # compose service -> config hash
    one_shot: frozenset[str]  # services others wait on to complete successfully
    images: list[str]


def expected_for(service: Service, revision: ServiceRevision) -> Expected:
    defn: ComposeDefinition = parse_definition(revision.definition, validate=False)
    hashes = {name: config_hash(spec, defn) for name, spec in defn.services.items()}
    one_shot = frozenset(
        dep
        for spec in defn.services.values()
        for dep, cond in spec.depends_on.items()
        if cond.condition == "service_completed_successfully"
    )
    images = sorted({spec.image for spec in defn.services.values()})
    return Expected(hashes=hashes, one_shot=one_shot, images=images)


def compute_status(
    service: Service, containers: Sequence[ContainerLike], expected: Expected | None
) -> tuple[ServiceStatus, list[str]]:
    """Status from container states, plus the reasons the service drifted, if any."""
    drift: list[str] = []
    if (
        service.deployed_revision is not None
        and service.latest_revision != service.deployed_revision
    ):
        drift.append(
            f"revision {service.latest_revision} is saved but revision "
            f"{service.deployed_revision} is deployed"
        )
    managed = [c for c in containers if c.labels.get(ONEOFF_LABEL, "False") != "True"]
    if service.deployed_revision is None and not managed:
        return "not_deployed", drift
    if expected is not None:
        present = {c.labels.get(COMPOSE_SERVICE_LABEL) for c in managed}
        for name in sorted(set(expected.hashes) - present):
            drift.append(f"container of {name} is missing")
        for c in managed:
            svc = c.labels.get(COMPOSE_SERVICE_LABEL) or ""
            if svc not in expected.hashes:
                drift.append(f"{c.name} is not in the deployed definition")
            elif c.labels.get(CONFIG_HASH_LABEL) != expected.hashes[svc]:
                drift.append(f"{c.name} differs from the deployed definition")
    if not managed:
        return "error", drift

    def settled(c: ContainerLike) -> bool:
        # A one-shot job (e.g. migrations) that exited 0 is done, not down.
        one_shot = expected is not None and c.labels.get(COMPOSE_SERVICE_LABEL) in expected.one_shot
        return one_shot and c.state == "exited" and c.exit_code == 0

    long_running = [c for c in managed if not settled(c)]
    if any(c.state == "restarting" for c in long_running):
        return "restarting", drift
    if any(c.state == "running" and c.health == "unhealthy" for c in long_running):
        return "unhealthy", drift
    running = [c for c in long_running if c.state == "running"]
    if long_running and len(running) == len(long_running):
        return "running", drift
    if not running:
        # Exit codes cannot tell a crash from `docker stop` (143/137), so no guessing here.
        return "stopped", drift
    return "partial", drift
