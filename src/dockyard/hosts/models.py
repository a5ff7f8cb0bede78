"""`hosts` (the inventory) and `ssh_templates` (the global SSH command template)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class Host(Base):
    """A machine in the inventory (not necessarily a Docker node)."""

    __tablename__ = "hosts"
    __table_args__ = (Index("ix_hosts_environment", "environment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # RFC 1123 name, stored lower-case; the upsert key of the CSV import.
    hostname: Mapped[str] = mapped_column(String(253), unique=True)
    # IP address or DNS name SSH connects to.
    address: Mapped[str] = mapped_column(String(253))
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_user: Mapped[str | None] = mapped_column(String(64))
    # `[user@]host[:port]`, passed to `ssh -J`.
    bastion: Mapped[str | None] = mapped_column(String(330))
    environment: Mapped[str | None] = mapped_column(String(64))
    # Tags as " a b c " (each tag between single spaces) so `LIKE '% tag %'` filters on
    # SQLite and PostgreSQL alike; the API shows a list.
    tags: Mapped[str] = mapped_column(String(2048), default=" ")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    notes: Mapped[str] = mapped_column(Text, default="")
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id", ondelete="SET NULL"))
    # Per-host SSH command template; null uses the global one.
    ssh_template: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SshTemplate(Base):
    """A named SSH command template; the row `global` is the default for every host."""

    __tablename__ = "ssh_templates"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    template: Mapped[str] = mapped_column(Text)
    updated_by_label: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
