"""Images, volumes, networks and cleanup.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dockyard.kit.db import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cleanup_plans",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("include_managed", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(255), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("reclaimable_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("executed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_cleanup_plans_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cleanup_plans")),
    )
    op.create_index("ix_cleanup_plans_node_id", "cleanup_plans", ["node_id"])
    op.create_table(
        "cleanup_policies",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("include_managed", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(255), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(320), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_cleanup_policies_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_cleanup_policies")),
    )


def downgrade() -> None:
    op.drop_table("cleanup_policies")
    op.drop_index("ix_cleanup_plans_node_id", table_name="cleanup_plans")
    op.drop_table("cleanup_plans")
