"""`artifacts`: metadata of files stored under `<data dir>/artifacts`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class Artifact(Base):
    """One uploaded file of a host. The bytes live in a file named `storage_name`."""

    __tablename__ = "artifacts"
    __table_args__ = (
        Index("ix_artifacts_host_id", "host_id"),
        Index("ix_artifacts_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    # Sanitized client file name (no path, no control characters); shown and downloaded as.
    filename: Mapped[str] = mapped_column(String(255))
    # Random name of the file in the artifacts folder (never derived from client input).
    storage_name: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_by_label: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
