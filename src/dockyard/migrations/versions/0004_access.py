"""Custom roles, scoped grants and service ownership (RBAC).

`services.owner_id` already exists (0002); NULL means admin-owned, so no backfill is needed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from dockyard.kit.db import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUILTIN = {
    "admin": "Everything.",
    "operator": "Manages services, nodes, images, registries and hosts.",
    "auditor": "Reads everything, including the audit log and its exports.",
    "viewer": "Read-only basics.",
    "user": "A tenant: creates and manages only their own services.",
}


def upgrade() -> None:
    roles = op.create_table(
        "roles",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("parent", sa.String(64), nullable=True),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_roles")),
    )
    stamp = datetime.now(UTC)
    op.bulk_insert(
        roles,
        [
            {
                "name": name,
                "description": description,
                "parent": None,
                "permissions": [],
                "builtin": True,
                "created_at": stamp,
                "updated_at": stamp,
            }
            for name, description in BUILTIN.items()
        ],
    )
    op.create_table(
        "role_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("scope_type", sa.String(16), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_role_grants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grants")),
        sa.UniqueConstraint(
            "user_id", "role", "scope_type", "scope_id", name="uq_role_grants_user_scope"
        ),
    )
    op.create_index("ix_role_grants_user_id", "role_grants", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_role_grants_user_id", table_name="role_grants")
    op.drop_table("role_grants")
    op.drop_table("roles")
