"""Configuration API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

ChangeKind = Literal["added", "changed", "removed"]
SnapshotSource = Literal["ui", "api", "import", "rollback", "system"]


class ConfigChange(BaseModel):
    kind: str
    name: str
    change: ChangeKind


class ConfigImportResult(BaseModel):
    changes: list[ConfigChange]
    dry_run: bool = False
    snapshot_id: int | None = None


class ConfigSnapshotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    parent_id: int | None
    source: SnapshotSource
    actor_label: str | None
    sha256: str
    size: int
    summary: str
    created_at: datetime


class ConfigSnapshotList(BaseModel):
    items: list[ConfigSnapshotOut]
    total: int
    limit: int
    offset: int


class ConfigSnapshotDiff(BaseModel):
    from_id: int
    to_id: int
    changes: list[ConfigChange]
    diff: str


class ConfigRollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    snapshot_id: int
