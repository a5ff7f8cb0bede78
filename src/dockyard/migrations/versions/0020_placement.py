"""Clusters, port ranges and allocations, service placement.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dockyard.kit.db import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("name", name=op.f("uq_clusters_name")),
    )
    op.create_table(
        "cluster_nodes",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_cluster_nodes_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_cluster_nodes_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", "node_id", name=op.f("pk_cluster_nodes")),
    )
    op.create_index("ix_cluster_nodes_node_id", "cluster_nodes", ["node_id"])
    op.create_table(
        "node_port_ranges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_node_port_ranges_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_port_ranges")),
    )
    op.create_index("ix_node_port_ranges_node_id", "node_port_ranges", ["node_id"])
    op.create_table(
        "port_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("host_port", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(8), nullable=False),
        sa.Column("host_ip", sa.String(64), nullable=True),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("port_key", sa.String(200), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_port_allocations_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_port_allocations_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_port_allocations")),
        sa.UniqueConstraint(
            "node_id", "host_port", "protocol", name="uq_port_allocations_node_id_host_port"
        ),
    )
    op.create_index("ix_port_allocations_service_id", "port_allocations", ["service_id"])
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("cluster_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("placement", sa.JSON(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_services_cluster_id_clusters"),
            "clusters",
            ["cluster_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_services_cluster_id", ["cluster_id"])


def downgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.drop_index("ix_services_cluster_id")
        batch.drop_constraint(op.f("fk_services_cluster_id_clusters"), type_="foreignkey")
        batch.drop_column("placement")
        batch.drop_column("cluster_id")
    op.drop_index("ix_port_allocations_service_id", table_name="port_allocations")
    op.drop_table("port_allocations")
    op.drop_index("ix_node_port_ranges_node_id", table_name="node_port_ranges")
    op.drop_table("node_port_ranges")
    op.drop_index("ix_cluster_nodes_node_id", table_name="cluster_nodes")
    op.drop_table("cluster_nodes")
    op.drop_table("clusters")
