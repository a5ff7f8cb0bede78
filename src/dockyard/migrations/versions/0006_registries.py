"""Registry credentials and cached update checks.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dockyard.kit.db import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("insecure", sa.Boolean(), nullable=False),
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("secret_encrypted", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_label", sa.String(320), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_registries_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registries")),
        sa.UniqueConstraint("host", name="uq_registries_host"),
    )
    op.create_table(
        "image_update_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("current_digest", sa.String(100), nullable=True),
        sa.Column("remote_digest", sa.String(100), nullable=True),
        sa.Column("update_available", sa.Boolean(), nullable=True),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_image_update_checks_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_update_checks")),
        sa.UniqueConstraint("node_id", "image", name="uq_image_update_checks_node_id_image"),
    )
    op.create_index("ix_image_update_checks_checked_at", "image_update_checks", ["checked_at"])


def downgrade() -> None:
    op.drop_index("ix_image_update_checks_checked_at", table_name="image_update_checks")
    op.drop_table("image_update_checks")
    op.drop_table("registries")
