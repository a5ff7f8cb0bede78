"""Update history and update policies.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dockyard.kit.db import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("containers", sa.JSON(), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("rolled_back", sa.Boolean(), nullable=False),
        sa.Column("triggered_by", sa.String(16), nullable=False),
        sa.Column("actor_label", sa.String(320), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_updates_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_updates")),
    )
    op.create_index("ix_service_updates_service_id_id", "service_updates", ["service_id", "id"])
    op.create_table(
        "service_update_policies",
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("maintenance_window", sa.JSON(), nullable=True),
        sa.Column("verify_timeout_s", sa.Integer(), nullable=False),
        sa.Column("verify_settle_s", sa.Integer(), nullable=False),
        sa.Column("remove_old_images", sa.Boolean(), nullable=False),
        sa.Column("last_check", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(320), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_update_policies_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_id", name=op.f("pk_service_update_policies")),
    )


def downgrade() -> None:
    op.drop_table("service_update_policies")
    op.drop_index("ix_service_updates_service_id_id", table_name="service_updates")
    op.drop_table("service_updates")
