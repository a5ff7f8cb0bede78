"""Audit API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dockyard.kit.pagination import CursorPage

ActorType = Literal["user", "system", "node", "anonymous"]
Outcome = Literal["success", "failure", "denied"]


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: datetime
    actor_type: ActorType
    actor_id: str | None
    actor_label: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: Outcome
    ip: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditPage(CursorPage[AuditEventOut]):
    """A page of audit events, newest first."""


class AuditFilters(BaseModel):
    """Filters shared by the list and the export."""

    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: Outcome | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditVerifyOut(BaseModel):
    ok: bool
    checked: int
    bad_id: int | None
    reason: str | None
