"""Artifact API shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class ArtifactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    host_id: int
    filename: str
    size: int
    sha256: str
    uploaded_by_label: str | None
    created_at: datetime


class ArtifactList(BaseModel):
    items: list[ArtifactOut]
