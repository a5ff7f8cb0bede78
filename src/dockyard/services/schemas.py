"""Service API shapes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dockyard.jobs.schemas import JobOut
from dockyard.kit.pagination import Page

# DNS-safe, also a valid compose project and Docker name prefix. Checked before the name
# reaches any Docker object name or path.
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_COMPOSE_CHARS = 1024 * 1024

ServiceStatus = Literal[
    "running", "partial", "stopped", "restarting", "unhealthy", "not_deployed", "error"
]
ServiceAction = Literal["deploy", "start", "stop", "restart", "pull", "update", "delete"]
RevisionSource = Literal["ui", "api", "import", "restore", "adopt", "cli"]


def check_service_name(value: str) -> str:
    if not SERVICE_NAME.match(value):
        raise ValueError(
            "must be 1-63 characters of lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


class DefinitionInput(BaseModel):
    """Either a compose-shaped `definition` object or `compose` YAML text (with `.env` text)."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any] | None = None
    compose: str | None = Field(default=None, max_length=MAX_COMPOSE_CHARS)
    env: str | None = Field(default=None, max_length=256 * 1024)

    @model_validator(mode="after")
    def _one_source(self) -> DefinitionInput:
        if (self.definition is None) == (self.compose is None):
            raise ValueError("give exactly one of `definition` or `compose`")
        if self.env is not None and self.compose is None:
            raise ValueError("`env` only applies to `compose` text")
        return self


class ServiceCreate(DefinitionInput):
    name: str = Field(min_length=1, max_length=63)
    description: str = Field(default="", max_length=2000)
    node_id: int | None = Field(
        default=None, description="A fixed node; omitted: the scheduler places the service."
    )
    cluster_id: int | None = Field(
        default=None, description="Place the service on a member node of this cluster."
    )
    placement: dict[str, Any] | None = Field(
        default=None,
        description='Constraints, e.g. {"constraints": {"labels": {"disk": "ssd"}}}.',
    )
    labels: dict[str, str] = Field(default_factory=dict)
    comment: str = Field(default="", max_length=500)
    source: RevisionSource = "api"

    _name = field_validator("name")(check_service_name)


class ServiceUpdate(BaseModel):
    """A partial update. A new definition creates a new revision."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=2000)
    labels: dict[str, str] | None = None
    definition: dict[str, Any] | None = None
    compose: str | None = Field(default=None, max_length=MAX_COMPOSE_CHARS)
    env: str | None = Field(default=None, max_length=256 * 1024)
    comment: str = Field(default="", max_length=500)
    source: RevisionSource = "api"
    revision: int | None = Field(
        default=None, description="The revision this edit is based on (or send If-Match)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> ServiceUpdate:
        if self.definition is not None and self.compose is not None:
            raise ValueError("give at most one of `definition` or `compose`")
        return self


class ValidateRequest(DefinitionInput):
    node_id: int | None = None
    service_id: int | None = Field(
        default=None, description="When editing, the service whose own ports do not conflict."
    )


class DefinitionIssue(BaseModel):
    path: str
    message: str
    # Set for a container security policy refusal (e.g. `privileged`, `bind_mount`).
    rule: str | None = None


class ValidateResult(BaseModel):
    valid: bool
    issues: list[DefinitionIssue]
    definition: dict[str, Any] | None


class PortOut(BaseModel):
    host_ip: str | None
    host_port: int | None
    container_port: int
    protocol: str


class ContainerOut(BaseModel):
    id: str
    name: str
    service: str | None
    number: int | None
    state: str
    health: str | None
    exit_code: int | None
    restart_count: int
    started_at: datetime | None
    finished_at: datetime | None
    image: str
    image_id: str | None
    revision: int | None
    ports: list[PortOut]


class ServiceOut(BaseModel):
    id: int
    name: str
    description: str
    node_id: int
    owner_id: int | None
    labels: dict[str, str]
    status: ServiceStatus
    drift: bool
    drift_reasons: list[str]
    revision: int
    deployed_revision: int | None
    deployed_at: datetime | None
    containers_running: int
    containers_total: int
    containers: list[ContainerOut]
    images: list[str]
    ports: list[PortOut]
    active_job: JobOut | None
    update_available: bool | None = Field(
        default=None,
        description="From the last update check: true if an image has a newer registry "
        "digest, null if never checked (POST /services/{id}/check-updates).",
    )
    created_at: datetime
    updated_at: datetime


class ServiceDetail(ServiceOut):
    definition: dict[str, Any]
    cluster_id: int | None = None
    placement: dict[str, Any] | None = Field(
        default=None, description="The scheduler's explanation: chosen node, rejected nodes."
    )


class ServiceList(Page[ServiceOut]):
    """A page of services."""


class RevisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    source: str
    comment: str
    created_by_label: str | None
    created_at: datetime
    definition_hash: str


class RevisionDetail(RevisionOut):
    definition: dict[str, Any]
    compose: str


class RevisionList(BaseModel):
    items: list[RevisionOut]
    deployed_revision: int | None
    latest_revision: int


class RevisionDiff(BaseModel):
    from_revision: int
    to_revision: int
    diff: str = Field(description="Unified diff of the two revisions' compose YAML.")
    changed_services: list[str]


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=500)


class ActionRequest(BaseModel):
    """Options of an action; only `delete` reads `remove_volumes`."""

    model_config = ConfigDict(extra="forbid")

    remove_volumes: bool = False
    confirm: str | None = Field(
        default=None, description="For delete with remove_volumes: the service name."
    )


class LogLine(BaseModel):
    container: str
    stream: Literal["stdout", "stderr"]
    ts: str | None
    message: str


class LogsOut(BaseModel):
    lines: list[LogLine]
