"""`service_updates` (the history of image updates and rollbacks) and `service_update_policies`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class ServiceUpdateRecord(Base):
    """One update (or manual rollback) of a service's images, with what changed per container.

    `containers` maps the compose service name to
    `{"container", "image", "changed", "from": {"image_id", "digest"}, "to": {...},
      "kept_image"}`.
    """

    __tablename__ = "service_updates"
    __table_args__ = (Index("ix_service_updates_service_id_id", "service_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default="update")  # update | rollback
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    containers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # running | succeeded | rolled_back | failed
    result: Mapped[str] = mapped_column(String(16), default="running")
    reason: Mapped[str | None] = mapped_column(Text)
    rolled_back: Mapped[bool] = mapped_column(Boolean, default=False)
    triggered_by: Mapped[str] = mapped_column(String(16), default="user")  # user | schedule
    actor_label: Mapped[str | None] = mapped_column(String(320))


class ServiceUpdatePolicy(Base):
    """How and when a service is checked and updated, and how an update is verified."""

    __tablename__ = "service_update_policies"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(8), default="off")  # off | notify | auto
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    maintenance_window: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    verify_timeout_s: Mapped[int] = mapped_column(Integer, default=60)
    verify_settle_s: Mapped[int] = mapped_column(Integer, default=10)
    remove_old_images: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the last scheduled check saw, so `update.available` is published only when new.
    last_check: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(320))
