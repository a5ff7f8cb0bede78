"""`registries` (credentials, the secret encrypted at rest) and `image_update_checks`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class Registry(Base):
    """A registry Dockyard authenticates to (for pulls and digest checks)."""

    __tablename__ = "registries"
    __table_args__ = (UniqueConstraint("host", name="uq_registries_host"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # `host[:port]` as image references name it (`docker.io` for Docker Hub).
    host: Mapped[str] = mapped_column(String(255))
    # Plain HTTP instead of HTTPS (loopback registries always use HTTP).
    insecure: Mapped[bool] = mapped_column(Boolean, default=False)
    username: Mapped[str | None] = mapped_column(String(255))
    # Fernet ciphertext (kit.secrets_box) of the password or token; never returned.
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_label: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ImageUpdateCheck(Base):
    """The last update check of one image reference on one node (the cache)."""

    __tablename__ = "image_update_checks"
    __table_args__ = (
        UniqueConstraint("node_id", "image", name="uq_image_update_checks_node_id_image"),
        Index("ix_image_update_checks_checked_at", "checked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    image: Mapped[str] = mapped_column(String(512))
    current_digest: Mapped[str | None] = mapped_column(String(100))
    remote_digest: Mapped[str | None] = mapped_column(String(100))
    update_available: Mapped[bool | None] = mapped_column(Boolean)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
