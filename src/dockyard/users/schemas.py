"""User API shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class UserOut(BaseModel):
    """A user as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str | None
    role: str
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime


class UserList(BaseModel):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    role: str = Field(min_length=1, max_length=64)
    display_name: str | None = Field(default=None, max_length=200)


class UserUpdate(BaseModel):
    """An admin's edit. A role change, disabling or a new password ends the user's sessions."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, max_length=200)
    role: str | None = Field(default=None, min_length=1, max_length=64)
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024)


class UserSessionOut(BaseModel):
    """One login session of a user, as an admin sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    ip: str | None
    user_agent: str | None


class UserSessionList(BaseModel):
    items: list[UserSessionOut]
