"""Job API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dockyard.kit.pagination import Page

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class JobLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    ts: datetime
    level: str
    message: str


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    status: JobStatus
    service_id: int | None
    node_id: int | None
    params: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    actor_type: str
    actor_id: str | None
    actor_label: str | None
    progress_count: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    runner_id: str | None = None
    heartbeat_at: datetime | None = None


class JobDetail(JobOut):
    """A job with its progress lines."""

    lines: list[JobLineOut]


class JobAccepted(BaseModel):
    """202 body of every action that starts a job."""

    job: JobOut


class JobList(Page[JobOut]):
    """A page of jobs, newest first."""
