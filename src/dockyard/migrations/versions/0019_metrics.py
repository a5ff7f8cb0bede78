"""Metrics time series.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_host_points",
        sa.Column("node_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("res", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("cpu_pct", sa.Float(), nullable=False),
        sa.Column("cpu_count", sa.Integer(), nullable=False),
        sa.Column("mem_used", sa.Float(), nullable=False),
        sa.Column("mem_total", sa.Float(), nullable=False),
        sa.Column("disk_used", sa.Float(), nullable=False),
        sa.Column("disk_total", sa.Float(), nullable=False),
        sa.Column("net_rx", sa.BigInteger(), nullable=False),
        sa.Column("net_tx", sa.BigInteger(), nullable=False),
        sa.Column("net_rx_bps", sa.Float(), nullable=False),
        sa.Column("net_tx_bps", sa.Float(), nullable=False),
        sa.Column("load_1", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", "res", "ts", name=op.f("pk_metric_host_points")),
    )
    op.create_table(
        "metric_container_points",
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("res", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("cpu_pct", sa.Float(), nullable=False),
        sa.Column("mem_used", sa.Float(), nullable=False),
        sa.Column("mem_limit", sa.Float(), nullable=False),
        sa.Column("net_rx", sa.BigInteger(), nullable=False),
        sa.Column("net_tx", sa.BigInteger(), nullable=False),
        sa.Column("blk_read", sa.BigInteger(), nullable=False),
        sa.Column("blk_write", sa.BigInteger(), nullable=False),
        sa.Column("net_rx_bps", sa.Float(), nullable=False),
        sa.Column("net_tx_bps", sa.Float(), nullable=False),
        sa.Column("blk_read_bps", sa.Float(), nullable=False),
        sa.Column("blk_write_bps", sa.Float(), nullable=False),
        sa.Column("pids", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "container_id", "res", "ts", name=op.f("pk_metric_container_points")
        ),
    )
    op.create_index(
        "ix_metric_container_points_node", "metric_container_points", ["node_id", "res", "ts"]
    )
    op.create_index(
        "ix_metric_container_points_service",
        "metric_container_points",
        ["service_id", "res", "ts"],
    )


def downgrade() -> None:
    op.drop_index("ix_metric_container_points_service", table_name="metric_container_points")
    op.drop_index("ix_metric_container_points_node", table_name="metric_container_points")
    op.drop_table("metric_container_points")
    op.drop_table("metric_host_points")
