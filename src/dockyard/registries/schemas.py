"""Registry and update-check API shapes. A registry's secret is write-only."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dockyard.registries.digests import DOMAIN_RE

_SCHEME = re.compile(r"^(https?)://", re.IGNORECASE)


def parse_registry_url(value: str) -> tuple[str, bool | None]:
    """`host[:port]` or `http(s)://host[:port]` → (lower-case host[:port], plain HTTP?).

    No path, query, fragment or user info: a registry is a host, and anything after it
    (`https://r.example/../x`) is refused rather than guessed at. The second value is
    None when no scheme was given.
    """
    text = value.strip()
    plain: bool | None = None
    match = _SCHEME.match(text)
    if match:
        plain = match.group(1).lower() == "http"
        text = text[match.end() :]
    if text.endswith("/"):
        text = text[:-1]
    if not text or any(c in text for c in "/?#@\\ ") or ".." in text:
        raise ValueError(
            "must be host[:port] or http(s)://host[:port] without a path, query or user info"
        )
    if not DOMAIN_RE.match(text):
        raise ValueError("is not a valid registry host[:port]")
    port = re.search(r":([0-9]+)$", text)
    if port and not 0 < int(port.group(1)) < 65536:
        raise ValueError("has an invalid port")
    return text.lower(), plain


class RegistryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    url: str = Field(
        min_length=1,
        max_length=300,
        description="host[:port] or http(s)://host[:port] (`docker.io` for Docker Hub).",
    )
    username: str | None = Field(default=None, max_length=255)
    password: str | None = Field(
        default=None, max_length=8192, description="Password or access token (write-only)."
    )
    insecure: bool | None = Field(
        default=None,
        description="Plain HTTP for a bare host[:port] (default: only for loopback); "
        "an http:// or https:// URL decides by itself.",
    )
    verify: bool = Field(
        default=False, description="Test the connection first and store nothing if it fails."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_registry_url(value)
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value != value.strip() or any(ord(c) < 32 for c in value):
            raise ValueError("must not start or end with spaces or contain control characters")
        return value


class RegistryPatch(BaseModel):
    """A partial update. `password: null` keeps the stored secret; `""` removes it."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    url: str | None = Field(default=None, min_length=1, max_length=300)
    username: str | None = Field(default=None, max_length=255)
    password: str | None = Field(default=None, max_length=8192)
    insecure: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parse_registry_url(value)
        return value


class RegistryTestRequest(BaseModel):
    """Credentials to try without saving them (the dialog's "Test connection")."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=300)
    username: str | None = Field(default=None, max_length=255)
    password: str | None = Field(default=None, max_length=8192)
    insecure: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_registry_url(value)
        return value


class RegistryOut(BaseModel):
    id: int
    name: str
    url: str
    host: str
    insecure: bool
    username: str | None
    has_secret: bool
    created_by_label: str | None
    created_at: datetime
    updated_at: datetime


class RegistryList(BaseModel):
    items: list[RegistryOut]


class RegistryTestResult(BaseModel):
    ok: bool
    status: int = Field(description="HTTP status of the registry's /v2/ (after auth).")
    message: str
    elapsed_ms: float


class ImageUpdateStatus(BaseModel):
    """The update check of one image reference on one node."""

    image: str
    current_digest: str | None = Field(description="Digest of the local image (RepoDigests).")
    remote_digest: str | None = Field(description="Digest the registry serves for the tag.")
    update_available: bool | None = Field(description="null when it could not be decided.")
    pinned: bool = Field(default=False, description="Referenced by digest: never updates.")
    checked_at: datetime
    error: str | None = None


class UpdateCheckResult(BaseModel):
    """`POST /services/{id}/check-updates`: every image of the service."""

    service_id: int | None = None
    images: list[ImageUpdateStatus]
    checked_at: datetime | None
    update_available: bool | None = Field(
        description="true if any image has an update; null if none could be decided."
    )


class UpdatesCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node_id: int | None = Field(default=None, description="Only services on this node.")
