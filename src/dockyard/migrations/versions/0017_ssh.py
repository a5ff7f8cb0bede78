"""SSH credentials and known host keys.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dockyard.kit.db import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ssh_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("auth_type", sa.String(16), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("key_type", sa.String(64), nullable=True),
        sa.Column("key_fingerprint", sa.String(128), nullable=True),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("created_by_label", sa.String(320), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ssh_credentials")),
        sa.UniqueConstraint("name", name=op.f("uq_ssh_credentials_name")),
    )
    op.create_table(
        "host_ssh_credentials",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["hosts.id"],
            name=op.f("fk_host_ssh_credentials_host_id_hosts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["ssh_credentials.id"],
            name=op.f("fk_host_ssh_credentials_credential_id_ssh_credentials"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("host_id", name=op.f("pk_host_ssh_credentials")),
    )
    op.create_index(
        "ix_host_ssh_credentials_credential_id", "host_ssh_credentials", ["credential_id"]
    )
    op.create_table(
        "ssh_known_hosts",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("key_type", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("trusted_by_label", sa.String(320), nullable=True),
        sa.Column("trusted_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["hosts.id"],
            name=op.f("fk_ssh_known_hosts_host_id_hosts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("host_id", name=op.f("pk_ssh_known_hosts")),
    )


def downgrade() -> None:
    op.drop_table("ssh_known_hosts")
    op.drop_index("ix_host_ssh_credentials_credential_id", table_name="host_ssh_credentials")
    op.drop_table("host_ssh_credentials")
    op.drop_table("ssh_credentials")
