"""Server replicas, which replica holds each agent, location-free agent addresses.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dockyard.kit.db import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replicas",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("agent_replica", sa.String(128), nullable=True))
        batch.add_column(sa.Column("agent_connected_at", UTCDateTime(), nullable=True))
    # Agent tunnels are per process now: the stored address names the node, not a socket.
    op.execute(
        "UPDATE nodes SET docker_host = 'agent://node-' || CAST(id AS VARCHAR(16)) "
        "WHERE kind = 'agent'"
    )


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("agent_connected_at")
        batch.drop_column("agent_replica")
    op.drop_table("replicas")
