"""System API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class DependencyCheck(BaseModel):
    ok: bool
    error: str | None = None
    latency_ms: float | None = None


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, DependencyCheck]


class SystemInfo(BaseModel):
    version: str
    hostname: str
    database: Literal["sqlite", "postgresql"]
    docker_host: str
    python: str
    started_at: datetime
    replica: str | None = Field(
        default=None, description="This server replica's id (see /api/v1/system/replicas)."
    )


class ReplicaOut(BaseModel):
    """A `dockyard serve` process of this installation."""

    id: str
    url: str = Field(description="How its peers reach it (`DOCKYARD_REPLICA_URL`).")
    hostname: str
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
    alive: bool = Field(description="Heartbeated within the last 15 s.")
    agents: int = Field(description="Agents connected to it now.")
    current: bool = Field(description="The replica answering this request.")


class ReplicaList(BaseModel):
    items: list[ReplicaOut]
