"""Node API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from dockyard.engine.schemas import EngineFacts
from dockyard.kit.pagination import Page


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


class NodeList(Page[NodeOut]):
    """A page of nodes."""
