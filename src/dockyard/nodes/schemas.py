"""Node API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from dockyard.engine.schemas import EngineFacts
from dockyard.kit.pagination import Page

NodeName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    ),
]
LABEL_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$"
MAX_LABELS = 64


def _check_labels(value: dict[str, str] | None) -> dict[str, str] | None:
    import re

    if value is None:
        return None
    if len(value) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    for key, label in value.items():
        if not re.match(LABEL_KEY_PATTERN, key):
            raise ValueError(
                f"label key {key[:70]!r} must be 1-63 letters, digits, '.', '_', '/' or '-'"
            )
        if len(label) > 255:
            raise ValueError(f"label {key!r}: the value is longer than 255 characters")
    return value


class AgentOut(BaseModel):
    """An agent node's agent: live session facts when connected, else what it last reported."""

    version: str | None
    connected_at: datetime | None
    last_seen: datetime | None
    remote_addr: str | None
    docker_host: str | None = Field(description="The agent's own engine URL, as it reports it.")
    hostname: str | None
    replica: str | None = Field(
        default=None,
        description="The server replica holding the agent's connection (scale-out), if online.",
    )


class NodeOut(BaseModel):
    id: int
    name: str
    kind: Literal["local", "agent"]
    docker_host: str
    labels: dict[str, Any]
    status: Literal["online", "offline"]
    last_seen: datetime | None
    created_at: datetime
    engine: EngineFacts
    agent: AgentOut | None = Field(default=None, description="Agent nodes only.")
    enrolled: bool = Field(
        default=True, description="Local nodes, and agent nodes holding a valid credential."
    )
    revoked_at: datetime | None = None
    enrollment_expires_at: datetime | None = Field(
        default=None, description="When the pending enrollment token expires, if one is pending."
    )


class NodeList(Page[NodeOut]):
    """A page of nodes."""


class NodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NodeName
    labels: dict[str, str] = Field(default_factory=dict)

    _labels = field_validator("labels")(_check_labels)


class NodePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NodeName | None = None
    labels: dict[str, str] | None = None

    _labels = field_validator("labels")(_check_labels)


class EnrollmentOut(BaseModel):
    """A fresh enrollment token: shown once, never again."""

    enrollment_token: str
    enrollment_expires_at: datetime
    agent_command: str = Field(description="The command that enrolls the agent on the host.")


class NodeCreated(NodeOut):
    """The new node, with its enrollment token (shown once)."""

    enrollment_token: str
    agent_command: str


class RotateOut(BaseModel):
    """`delivered`: the online agent stored the new credential. Offline: a fresh enrollment
    token re-enrolls it (its old credential no longer works)."""

    delivered: bool
    enrollment_token: str | None = None
    enrollment_expires_at: datetime | None = None
    agent_command: str | None = None


class EnrollRequest(BaseModel):
    token: str = Field(min_length=1, max_length=512)
    agent_version: str = Field(default="", max_length=64)
    docker_host: str = Field(default="", max_length=1024)
    hostname: str = Field(default="", max_length=255)


class EnrollResponse(BaseModel):
    node_id: int
    credential: str
    server_fingerprint: str | None
