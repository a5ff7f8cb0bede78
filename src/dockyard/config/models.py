"""`config_snapshots`: every version of the exported configuration document."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class ConfigSnapshot(Base):
    """The whole exported YAML document (zlib-compressed) after a configuration change."""

    __tablename__ = "config_snapshots"
    __table_args__ = (Index("ix_config_snapshots_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("config_snapshots.id", ondelete="SET NULL")
    )
    # ui | api | import | rollback | system (the first snapshot of an instance)
    source: Mapped[str] = mapped_column(String(16))
    actor_type: Mapped[str | None] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str | None] = mapped_column(String(320))
    # sha256 of the uncompressed document: equal documents are not stored twice in a row.
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    document: Mapped[bytes] = mapped_column(LargeBinary)
    summary: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
