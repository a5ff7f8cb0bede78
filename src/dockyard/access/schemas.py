"""Roles and grants API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ROLE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{1,63}$"


class RoleOut(BaseModel):
    name: str
    description: str
    parent: str | None
    builtin: bool
    # The role's own permissions (for a built-in role: all of them).
    permissions: list[str]
    # Own and inherited.
    effective_permissions: list[str]
    # Tenants act only on the services they own (the `user` role and its descendants).
    tenant: bool
    users: int
    # Users whose own role this is must enroll MFA (`DOCKYARD_MFA_REQUIRED_ROLES`, read-only).
    mfa_required: bool = False


class RoleList(BaseModel):
    items: list[RoleOut]


class RoleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ROLE_NAME_PATTERN)
    description: str = Field(default="", max_length=500)
    parent: str | None = Field(default=None, max_length=64)
    permissions: list[str] = Field(default_factory=list, max_length=500)


class RoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=500)
    # Send `"parent": null` to remove the parent.
    parent: str | None = Field(default=None, max_length=64)
    permissions: list[str] | None = Field(default=None, max_length=500)


class PermissionGroup(BaseModel):
    resource: str
    permissions: list[str]


class PermissionCatalog(BaseModel):
    groups: list[PermissionGroup]


ScopeType = Literal["global", "node", "cluster", "service"]


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(max_length=64)
    scope_type: ScopeType
    scope_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    role: str
    scope_type: str
    scope_id: int | None
    # The node's or service's name (null for `global`, `cluster`, or a target since deleted).
    scope_name: str | None = None
    created_at: datetime


class GrantList(BaseModel):
    items: list[GrantOut]
