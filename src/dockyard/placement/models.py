"""Clusters (named groups of nodes), per-node host port ranges and host port allocations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ClusterNode(Base):
    """Membership of a node in a cluster (a node may be in several)."""

    __tablename__ = "cluster_nodes"

    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True
    )
    node_id: Mapped[int] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class NodePortRange(Base):
    """One allowed host-port range of a node (`auto` ports are taken from these)."""

    __tablename__ = "node_port_ranges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)


class PortAllocation(Base):
    """A host port held by a service on a node. The unique key makes collisions impossible."""

    __tablename__ = "port_allocations"
    __table_args__ = (
        UniqueConstraint(
            "node_id", "host_port", "protocol", name="uq_port_allocations_node_id_host_port"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"))
    host_port: Mapped[int] = mapped_column(Integer)
    protocol: Mapped[str] = mapped_column(String(8))
    host_ip: Mapped[str | None] = mapped_column(String(64))
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    # `<container>/<target>/<protocol>@<host_ip or *>`: what the port is published for.
    port_key: Mapped[str] = mapped_column(String(200))
    auto: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
