"""Agent enrollment and credentials on nodes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dockyard.kit.db import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("enrollment_token_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("enrollment_expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("enrollment_used_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("credential_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("pending_credential_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("credential_rotated_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("revoked_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("agent_version", sa.String(64), nullable=True))
        batch.add_column(sa.Column("agent_docker_host", sa.String(512), nullable=True))
        batch.add_column(sa.Column("agent_hostname", sa.String(255), nullable=True))
    op.create_index(
        "ix_nodes_enrollment_token_hash", "nodes", ["enrollment_token_hash"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_nodes_enrollment_token_hash", table_name="nodes")
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("agent_hostname")
        batch.drop_column("agent_docker_host")
        batch.drop_column("agent_version")
        batch.drop_column("revoked_at")
        batch.drop_column("credential_rotated_at")
        batch.drop_column("pending_credential_hash")
        batch.drop_column("credential_hash")
        batch.drop_column("enrollment_used_at")
        batch.drop_column("enrollment_expires_at")
        batch.drop_column("enrollment_token_hash")
