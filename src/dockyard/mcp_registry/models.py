"""MCP servers, their checks and tools; ingested usage events and their hourly/daily rollups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime

# Upper bounds (ms) of the duration histogram buckets; the last bucket is unbounded.
DURATION_BUCKETS_MS: tuple[float, ...] = (
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
)
BUCKET_COLUMNS: tuple[str, ...] = tuple(f"b{i}" for i in range(len(DURATION_BUCKETS_MS) + 1))


class McpServer(Base):
    """A registered MCP server (streamable HTTP or SSE)."""

    __tablename__ = "mcp_servers"
    __table_args__ = (
        UniqueConstraint("name", name="uq_mcp_servers_name"),
        Index("ix_mcp_servers_next_check_at", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(2048))
    transport: Mapped[str] = mapped_column(String(32))
    # Fernet ciphertext (kit.secrets_box) of the JSON header map; never returned.
    headers_encrypted: Mapped[str | None] = mapped_column(Text)
    header_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id", ondelete="SET NULL"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    check_interval_s: Mapped[int] = mapped_column(Integer, default=60)
    timeout_s: Mapped[float] = mapped_column(Float, default=10.0)
    # unknown | up | down
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    last_check_id: Mapped[int | None] = mapped_column(Integer)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_label: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class McpCheck(Base):
    """One health check of a server (history)."""

    __tablename__ = "mcp_checks"
    __table_args__ = (Index("ix_mcp_checks_server_id_checked_at", "server_id", "checked_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("mcp_servers.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    healthy: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float] = mapped_column(Float)
    server_name: Mapped[str | None] = mapped_column(String(255))
    server_version: Mapped[str | None] = mapped_column(String(100))
    protocol_version: Mapped[str | None] = mapped_column(String(32))
    tool_count: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class McpTool(Base):
    """A tool the server listed at its last healthy check."""

    __tablename__ = "mcp_tools"
    __table_args__ = (UniqueConstraint("server_id", "name", name="uq_mcp_tools_server_id_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("mcp_servers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    input_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class McpToolChange(Base):
    """A tool added to or removed from a server's list between two checks."""

    __tablename__ = "mcp_tool_changes"
    __table_args__ = (Index("ix_mcp_tool_changes_server_id_at", "server_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("mcp_servers.id", ondelete="CASCADE"))
    check_id: Mapped[int | None] = mapped_column(Integer)
    change: Mapped[str] = mapped_column(String(16))  # added | removed
    tool_name: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsageEvent(Base):
    """One ingested tool call; `id` is the client's, so re-sending is harmless."""

    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_ts", "ts"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    user: Mapped[str] = mapped_column(String(255))
    mcp_server_id: Mapped[int] = mapped_column(Integer)
    tool: Mapped[str] = mapped_column(String(255))
    duration_ms: Mapped[float] = mapped_column(Float)
    success: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    tokens_in: Mapped[int] = mapped_column(BigInteger)
    tokens_out: Mapped[int] = mapped_column(BigInteger)
    tokens_cached: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Float)


class _RollupMetrics:
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    tokens_in: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_cached: Mapped[int] = mapped_column(BigInteger, default=0)
    b0: Mapped[int] = mapped_column(BigInteger, default=0)
    b1: Mapped[int] = mapped_column(BigInteger, default=0)
    b2: Mapped[int] = mapped_column(BigInteger, default=0)
    b3: Mapped[int] = mapped_column(BigInteger, default=0)
    b4: Mapped[int] = mapped_column(BigInteger, default=0)
    b5: Mapped[int] = mapped_column(BigInteger, default=0)
    b6: Mapped[int] = mapped_column(BigInteger, default=0)
    b7: Mapped[int] = mapped_column(BigInteger, default=0)
    b8: Mapped[int] = mapped_column(BigInteger, default=0)
    b9: Mapped[int] = mapped_column(BigInteger, default=0)
    b10: Mapped[int] = mapped_column(BigInteger, default=0)
    b11: Mapped[int] = mapped_column(BigInteger, default=0)
    b12: Mapped[int] = mapped_column(BigInteger, default=0)


def _uq(table: str, *columns: str) -> UniqueConstraint:
    return UniqueConstraint("bucket", "mcp_server_id", *columns, name=f"uq_{table}_bucket_key")


class UsageToolHourly(_RollupMetrics, Base):
    """Per hour x MCP server x tool."""

    __tablename__ = "usage_tool_hourly"
    __table_args__ = (_uq("usage_tool_hourly", "tool"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime)
    mcp_server_id: Mapped[int] = mapped_column(Integer)
    tool: Mapped[str] = mapped_column(String(255))


class UsageToolDaily(_RollupMetrics, Base):
    """Per UTC day x MCP server x tool (top tools over long ranges)."""

    __tablename__ = "usage_tool_daily"
    __table_args__ = (_uq("usage_tool_daily", "tool"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime)
    mcp_server_id: Mapped[int] = mapped_column(Integer)
    tool: Mapped[str] = mapped_column(String(255))


class UsageUserHourly(_RollupMetrics, Base):
    """Per hour x MCP server x user."""

    __tablename__ = "usage_user_hourly"
    __table_args__ = (_uq("usage_user_hourly", "user"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime)
    mcp_server_id: Mapped[int] = mapped_column(Integer)
    user: Mapped[str] = mapped_column(String(255))


class UsageUserDaily(_RollupMetrics, Base):
    """Per UTC day x MCP server x user (per-user activity over long ranges)."""

    __tablename__ = "usage_user_daily"
    __table_args__ = (_uq("usage_user_daily", "user"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime)
    mcp_server_id: Mapped[int] = mapped_column(Integer)
    user: Mapped[str] = mapped_column(String(255))


class UsageServerHourly(_RollupMetrics, Base):
    """Per hour x MCP server (time series: queries, cost, latency, errors)."""

    __tablename__ = "usage_server_hourly"
    __table_args__ = (
        UniqueConstraint("bucket", "mcp_server_id", name="uq_usage_server_hourly_bucket_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime)
    mcp_server_id: Mapped[int] = mapped_column(Integer)
