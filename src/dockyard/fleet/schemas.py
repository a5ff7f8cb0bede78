"""Fleet-wide views: the container table across every node, one container, log search."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from dockyard.services.schemas import PortOut

SortField = Literal["node", "name", "image", "state", "created", "service"]
SortOrder = Literal["asc", "desc"]


class FleetContainer(BaseModel):
    """One row of the fleet-wide container table."""

    node_id: int
    node_name: str
    id: str
    name: str
    image: str
    state: str = Field(description="created, running, paused, restarting, removing, exited, dead")
    status: str = Field(description="Docker's status text, e.g. `Up (healthy)`, `Exited (0)`.")
    health: str | None = None
    created: datetime | None = None
    ports: list[PortOut]
    service_id: int | None = Field(
        default=None, description="The Dockyard service that manages it (from its labels)."
    )
    service_name: str | None = None
    compose_project: str | None = None
    compose_service: str | None = None


class UnavailableNode(BaseModel):
    """A node whose containers could not be listed; the rest of the answer stands."""

    node_id: int
    name: str
    error: str


class FleetNode(BaseModel):
    """A node the answer covers, with how many of its containers matched."""

    node_id: int
    name: str
    available: bool
    source: Literal["cache", "engine", "none"] = Field(
        description="`cache`: the live state cache; `engine`: listed from the engine now."
    )
    containers: int = 0


class FleetContainerList(BaseModel):
    """`GET /api/v1/containers`: an offset page of the fleet's containers."""

    items: list[FleetContainer]
    total: int
    limit: int
    offset: int
    nodes: list[FleetNode]
    unavailable_nodes: list[UnavailableNode]


class ContainerStateOut(BaseModel):
    status: str
    running: bool
    paused: bool
    restarting: bool
    exit_code: int | None = None
    error: str | None = None
    oom_killed: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    health: str | None = None
    restart_count: int = 0


class EnvVar(BaseModel):
    name: str
    value: str
    masked: bool = Field(
        default=False, description="The value looked like a secret and is shown masked."
    )


class ContainerConfigOut(BaseModel):
    image: str
    image_id: str | None = None
    command: list[str]
    entrypoint: list[str]
    working_dir: str | None = None
    user: str | None = None
    hostname: str | None = None
    tty: bool = False
    env: list[EnvVar]
    restart_policy: str | None = None


class MountOut(BaseModel):
    type: str
    source: str | None = None
    destination: str
    name: str | None = None
    mode: str | None = None
    read_only: bool = False


class ContainerNetworkOut(BaseModel):
    name: str
    ip_address: str | None = None
    gateway: str | None = None
    mac_address: str | None = None
    aliases: list[str]


class ContainerAccess(BaseModel):
    """What the caller may do with this container (links in the UI)."""

    logs: bool
    exec: bool


class ContainerDetail(BaseModel):
    """`GET /api/v1/containers/{node_id}/{container_id}`: an inspect summary."""

    node_id: int
    node_name: str
    id: str
    name: str
    created: datetime | None = None
    state: ContainerStateOut
    config: ContainerConfigOut
    mounts: list[MountOut]
    networks: list[ContainerNetworkOut]
    ports: list[PortOut]
    labels: dict[str, str]
    service_id: int | None = None
    service_name: str | None = None
    compose_project: str | None = None
    compose_service: str | None = None
    access: ContainerAccess


class ContainerLogLine(BaseModel):
    stream: str
    ts: str | None = None
    message: str


class ContainerLogs(BaseModel):
    """`GET /api/v1/containers/{node_id}/{container_id}/logs`: the last lines."""

    container: str
    lines: list[ContainerLogLine]


# ---------------------------------------------------------------- log search (NDJSON)


class LogSearchMatch(BaseModel):
    """One NDJSON line of `GET /api/v1/logs/search` per matching log line."""

    type: Literal["match"] = "match"
    ts: str | None
    node_id: int
    node_name: str
    container_id: str
    container: str
    service_id: int | None = None
    service_name: str | None = None
    stream: str
    line: str


class LogSearchError(BaseModel):
    node_id: int
    node_name: str
    container: str | None = None
    error: str


class LogSearchSummary(BaseModel):
    """The last NDJSON line of `GET /api/v1/logs/search`."""

    type: Literal["summary"] = "summary"
    matches: int
    containers_searched: int
    containers_total: int
    limit_reached: bool = Field(description="The search stopped at `limit` matches.")
    truncated: bool = Field(
        description="Some results may be missing: limit reached or a container's byte cap hit."
    )
    truncated_containers: list[str] = Field(
        default_factory=list,
        description="Containers whose log in the range exceeded the per-container byte cap.",
    )
    scanned_bytes: int
    errors: list[LogSearchError] = Field(default_factory=list)
    since: datetime
    until: datetime
    elapsed_ms: int
