"""API token shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="What the token is for.")
    scopes: list[str] = Field(
        min_length=1,
        max_length=200,
        description="Permissions (`resource:action`), a subset of your own.",
    )
    expires_at: datetime | None = Field(
        default=None, description="When the token stops working (in the future); null: never."
    )


class TokenOut(BaseModel):
    """A token as listed: never the token itself."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to recognize it.")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    expired: bool = False


class TokenCreated(TokenOut):
    token: str = Field(description="The token: shown this once, store it now.")
