"""The `nodes` table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (
        Index("ix_nodes_enrollment_token_hash", "enrollment_token_hash", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="local")
    docker_host: Mapped[str] = mapped_column(String(512))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Agent nodes: a one-time enrollment token (SHA-256 hash; the token itself is shown once).
    enrollment_token_hash: Mapped[str | None] = mapped_column(String(64))
    enrollment_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enrollment_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The agent's long-lived credential (SHA-256 hash) and one being rotated in.
    credential_hash: Mapped[str | None] = mapped_column(String(64))
    pending_credential_hash: Mapped[str | None] = mapped_column(String(64))
    credential_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the agent last reported about itself.
    agent_version: Mapped[str | None] = mapped_column(String(64))
    agent_docker_host: Mapped[str | None] = mapped_column(String(512))
    agent_hostname: Mapped[str | None] = mapped_column(String(255))
    # The server replica holding the agent's WebSocket (`replicas.id`), while connected.
    agent_replica: Mapped[str | None] = mapped_column(String(128))
    agent_connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
