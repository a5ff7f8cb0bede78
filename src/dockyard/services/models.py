"""`services` and their immutable `service_revisions`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("node_id", "name", name="uq_services_node_id_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, default="")
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="RESTRICT"), index=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    latest_revision: Mapped[int] = mapped_column(Integer, default=1)
    deployed_revision: Mapped[int | None] = mapped_column(Integer)
    deployed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    origin: Mapped[str] = mapped_column(String(16), default="api")
    # Placement (migration 0020): the cluster it targets and the scheduler's explanation.
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("clusters.id", ondelete="SET NULL"), index=True
    )
    placement: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ServiceRevision(Base):
    """One saved definition. Never updated: restoring an old one creates a new revision."""

    __tablename__ = "service_revisions"
    __table_args__ = (
        UniqueConstraint("service_id", "number", name="uq_service_revisions_service_id_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    definition_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_label: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
