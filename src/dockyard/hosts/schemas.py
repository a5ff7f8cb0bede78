"""Host API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from dockyard.hosts import ssh, validation
from dockyard.kit.pagination import Page

Hostname = Annotated[str, Field(max_length=253), AfterValidator(validation.hostname)]
Address = Annotated[str, Field(max_length=255), AfterValidator(validation.address)]
SshPort = Annotated[int, Field(ge=1, le=65535)]
SshUser = Annotated[str | None, Field(max_length=64), AfterValidator(validation.ssh_user)]
Bastion = Annotated[str | None, Field(max_length=330), AfterValidator(validation.bastion)]
Environment = Annotated[str | None, Field(max_length=64), AfterValidator(validation.environment)]
Tags = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(max_length=validation.MAX_TAGS),
    AfterValidator(validation.tags),
]
Notes = Annotated[str, Field(max_length=validation.MAX_NOTES)]
Template = Annotated[str, Field(max_length=ssh.MAX_TEMPLATE), AfterValidator(ssh.validate)]


class HostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hostname: Hostname
    address: Address
    ssh_port: SshPort = validation.DEFAULT_SSH_PORT
    ssh_user: SshUser = None
    bastion: Bastion = None
    environment: Environment = None
    tags: Tags = Field(default_factory=list)
    notes: Notes = ""
    owner_id: int | None = Field(default=None, description="Default: the caller.")
    node_id: int | None = None
    ssh_template: Template | None = Field(
        default=None, description="Per-host SSH command template; null uses the global one."
    )


class HostPatch(BaseModel):
    """Only the fields given change; `null` clears an optional field."""

    model_config = ConfigDict(extra="forbid")

    hostname: Hostname | None = None
    address: Address | None = None
    ssh_port: SshPort | None = None
    ssh_user: SshUser = None
    bastion: Bastion = None
    environment: Environment = None
    tags: Tags | None = None
    notes: Notes | None = None
    owner_id: int | None = None
    node_id: int | None = None
    ssh_template: Template | None = None


class HostOut(BaseModel):
    id: int
    hostname: str
    address: str
    ssh_port: int
    ssh_user: str | None
    bastion: str | None
    environment: str | None
    tags: list[str]
    notes: str
    owner_id: int | None
    node_id: int | None
    ssh_template: str | None
    artifact_count: int = 0
    created_at: datetime
    updated_at: datetime


class HostList(Page[HostOut]):
    """A page of hosts."""


class HostFacets(BaseModel):
    """Every environment and tag in use (for the list's filters)."""

    environments: list[str]
    tags: list[str]


class BulkTagRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[int], Field(min_length=1, max_length=10_000)]
    add: Tags = Field(default_factory=list)
    remove: Tags = Field(default_factory=list)


class BulkTagResult(BaseModel):
    updated: int


class ImportRowError(BaseModel):
    row: int = Field(description="Line number of the record in the file (the header is 1).")
    field: str
    message: str


class ImportResult(BaseModel):
    created: int
    updated: int
    errors: list[ImportRowError]
    error_count: int = Field(description="All errors; `errors` lists at most the first 1000.")
    dry_run: bool


class SshTemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: Template


class SshTemplateOut(BaseModel):
    template: str
    default: str = ssh.DEFAULT_TEMPLATE
    placeholders: list[str] = Field(default_factory=lambda: list(ssh.PLACEHOLDERS))
    updated_at: datetime | None = None


class SshCommandOut(BaseModel):
    command: str
