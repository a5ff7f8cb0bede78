"""`roles` (custom roles, and a row per built-in role) and scoped `role_grants`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class Role(Base):
    """A named set of permissions, optionally inheriting a parent role's.

    Built-in roles have a row (`builtin` true) so their names are reserved, but their
    permissions always come from `access.permissions.BUILTIN_ROLES` (the code).
    """

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    parent: Mapped[str | None] = mapped_column(String(64))
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RoleGrant(Base):
    """A role given to a user on a scope: everything (`global`), a node, a cluster or a service."""

    __tablename__ = "role_grants"
    __table_args__ = (
        UniqueConstraint(
            "user_id", "role", "scope_type", "scope_id", name="uq_role_grants_user_scope"
        ),
        Index("ix_role_grants_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(64))
    scope_type: Mapped[str] = mapped_column(String(16))
    # The node, cluster or service id; NULL for `global`.
    scope_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
