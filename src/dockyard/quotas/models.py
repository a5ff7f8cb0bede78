"""`user_quotas`: one row per user whose quota differs from the global defaults."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class UserQuota(Base):
    """A user's own quota; a NULL column falls back to the `DOCKYARD_QUOTA_*` default."""

    __tablename__ = "user_quotas"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    max_services: Mapped[int | None] = mapped_column(Integer)
    max_containers: Mapped[int | None] = mapped_column(Integer)
    max_cpus: Mapped[float | None] = mapped_column(Float)
    max_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    max_gpus: Mapped[int | None] = mapped_column(Integer)
    default_cpus: Mapped[float | None] = mapped_column(Float)
    default_memory: Mapped[int | None] = mapped_column(BigInteger)
    default_pids: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
