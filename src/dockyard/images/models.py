"""`cleanup_plans` (dry runs kept for execution) and `cleanup_policies` (scheduled cleanup)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class CleanupPlan(Base):
    """What a dry run found: executing the plan removes exactly these items."""

    __tablename__ = "cleanup_plans"
    __table_args__ = (Index("ix_cleanup_plans_node_id", "node_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    include_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str | None] = mapped_column(String(255))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reclaimable_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when an execution claims the plan: a plan runs at most once.
    job_id: Mapped[str | None] = mapped_column(String(32))
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CleanupPolicy(Base):
    """Scheduled cleanup of one node."""

    __tablename__ = "cleanup_policies"

    node_id: Mapped[int] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    include_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str | None] = mapped_column(String(255))
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
