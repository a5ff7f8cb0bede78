"""System API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


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
