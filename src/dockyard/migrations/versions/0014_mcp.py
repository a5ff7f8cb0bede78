"""MCP server registry and usage analytics.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from dockyard.kit.db import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BUCKETS = 13


def _metrics() -> list[sa.Column[Any]]:
    cols: list[sa.Column[Any]] = [
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.Column("tokens_cached", sa.BigInteger(), nullable=False),
    ]
    cols += [sa.Column(f"b{i}", sa.BigInteger(), nullable=False) for i in range(_BUCKETS)]
    return cols


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("transport", sa.String(32), nullable=False),
        sa.Column("headers_encrypted", sa.Text(), nullable=True),
        sa.Column("header_names", sa.JSON(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("check_interval_s", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_check_id", sa.Integer(), nullable=True),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.Column("created_by_label", sa.String(320), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_mcp_servers_service_id_services"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_servers")),
        sa.UniqueConstraint("name", name="uq_mcp_servers_name"),
    )
    op.create_index("ix_mcp_servers_next_check_at", "mcp_servers", ["next_check_at"])
    op.create_table(
        "mcp_checks",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("server_name", sa.String(255), nullable=True),
        sa.Column("server_version", sa.String(100), nullable=True),
        sa.Column("protocol_version", sa.String(32), nullable=True),
        sa.Column("tool_count", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["mcp_servers.id"],
            name=op.f("fk_mcp_checks_server_id_mcp_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_checks")),
    )
    op.create_index("ix_mcp_checks_server_id_checked_at", "mcp_checks", ["server_id", "checked_at"])
    op.create_table(
        "mcp_tools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("input_schema", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["mcp_servers.id"],
            name=op.f("fk_mcp_tools_server_id_mcp_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_tools")),
        sa.UniqueConstraint("server_id", "name", name="uq_mcp_tools_server_id_name"),
    )
    op.create_table(
        "mcp_tool_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=True),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("tool_name", sa.String(255), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["mcp_servers.id"],
            name=op.f("fk_mcp_tool_changes_server_id_mcp_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_tool_changes")),
    )
    op.create_index("ix_mcp_tool_changes_server_id_at", "mcp_tool_changes", ["server_id", "at"])
    op.create_table(
        "usage_events",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("mcp_server_id", sa.Integer(), nullable=False),
        sa.Column("tool", sa.String(255), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.Column("tokens_cached", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
    )
    op.create_index("ix_usage_events_ts", "usage_events", ["ts"])
    for table, column in (
        ("usage_tool_hourly", "tool"),
        ("usage_tool_daily", "tool"),
        ("usage_user_hourly", "user"),
        ("usage_user_daily", "user"),
    ):
        op.create_table(
            table,
            sa.Column("id", _BIG_ID, nullable=False),
            sa.Column("bucket", UTCDateTime(), nullable=False),
            sa.Column("mcp_server_id", sa.Integer(), nullable=False),
            sa.Column(column, sa.String(255), nullable=False),
            *_metrics(),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint("bucket", "mcp_server_id", column, name=f"uq_{table}_bucket_key"),
        )
    op.create_table(
        "usage_server_hourly",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("bucket", UTCDateTime(), nullable=False),
        sa.Column("mcp_server_id", sa.Integer(), nullable=False),
        *_metrics(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_server_hourly")),
        sa.UniqueConstraint("bucket", "mcp_server_id", name="uq_usage_server_hourly_bucket_key"),
    )


def downgrade() -> None:
    for table in (
        "usage_server_hourly",
        "usage_user_daily",
        "usage_user_hourly",
        "usage_tool_daily",
        "usage_tool_hourly",
        "usage_events",
        "mcp_tool_changes",
        "mcp_tools",
        "mcp_checks",
        "mcp_servers",
    ):
        op.drop_table(table)
