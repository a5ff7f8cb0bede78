"""Placement API shapes: clusters, port ranges, allocations, placement requests."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dockyard.services.schemas import DefinitionInput

LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$")


def _check_labels(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        if not LABEL_KEY.match(key):
            raise ValueError(f"label key `{key}` must be 1-63 letters, digits, '.', '_', '/', '-'")
        if len(item) > 255:
            raise ValueError(f"label `{key}` is longer than 255 characters")
    return value


class PlacementConstraints(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str] = Field(
        default_factory=dict, description="Node labels the chosen node must have (all of them)."
    )

    _labels = field_validator("labels")(_check_labels)


class PlacementSpec(BaseModel):
    """`placement` on service create: constraints the scheduler must respect."""

    model_config = ConfigDict(extra="forbid")

    constraints: PlacementConstraints = Field(default_factory=PlacementConstraints)


class ClusterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    description: str = Field(default="", max_length=2000)
    labels: dict[str, str] = Field(default_factory=dict)
    node_ids: list[int] = Field(default_factory=list, max_length=1000)

    _labels = field_validator("labels")(_check_labels)


class ClusterUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$"
    )
    description: str | None = Field(default=None, max_length=2000)
    labels: dict[str, str] | None = None
    node_ids: list[int] | None = Field(default=None, max_length=1000)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_labels(value)


class ClusterMember(BaseModel):
    id: int
    name: str
    kind: str


class ClusterOut(BaseModel):
    id: int
    name: str
    description: str
    labels: dict[str, str]
    nodes: list[ClusterMember]
    services: int = Field(description="Services that target this cluster.")
    created_at: datetime
    updated_at: datetime


class ClusterList(BaseModel):
    items: list[ClusterOut]


class PortRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: int = Field(ge=1, le=65535)
    end: int = Field(ge=1, le=65535)


class PortRangesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ranges: list[PortRange] = Field(
        max_length=64, description="Empty: the node uses the default range again."
    )


class PortRangesOut(BaseModel):
    node_id: int
    ranges: list[PortRange]
    default: bool = Field(description="True when the node has no ranges of its own.")


class PortAllocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    host_port: int
    protocol: str
    host_ip: str | None
    service_id: int
    service_name: str | None
    port_key: str
    auto: bool
    created_at: datetime


class PortAllocationList(BaseModel):
    node_id: int
    items: list[PortAllocationOut]


class PlacementPreviewRequest(DefinitionInput):
    node_id: int | None = None
    cluster_id: int | None = None
    placement: PlacementSpec | None = None


class CandidateOut(BaseModel):
    node_id: int
    node_name: str
    eligible: bool
    score: float | None
    reasons: list[str]


class ChosenOut(BaseModel):
    node_id: int
    node_name: str
    score: float
    reasons: list[str]


class PlacementExplanation(BaseModel):
    strategy: str
    request: dict[str, Any]
    chosen: ChosenOut | None
    candidates: list[CandidateOut]
