"""The `instance` table (one row naming this installation), `leases` and `replicas`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.db import Base, UTCDateTime


class Instance(Base):
    """Several Dockyard installations may share one Docker engine; this id tells them apart."""

    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(32))


class Lease(Base):
    """A named lease one process holds at a time (e.g. "the health runner"), so work that
    must run once per installation runs once even with several `serve`/`beat` processes."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Replica(Base):
    """A running `dockyard serve` process of this installation, and how its peers reach it.

    Rows are heartbeated; a row whose heartbeat is older than a few intervals is a dead
    replica (its agents reconnect elsewhere)."""

    __tablename__ = "replicas"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # the process's runner id
    url: Mapped[str] = mapped_column(String(512))
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
