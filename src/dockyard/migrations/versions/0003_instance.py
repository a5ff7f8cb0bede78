"""The installation's identity, stamped on every Docker object Dockyard creates.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance")),
    )
    op.bulk_insert(table, [{"id": 1, "instance_id": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("instance")
