"""MCP registry, usage ingest and analytics API shapes. Header values are write-only."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_URL = re.compile(r"^https?://[^\s/?#@]+(/[^\s]*)?$", re.IGNORECASE)
Transport = Literal["streamable_http", "sse"]


def _check_url(value: str) -> str:
    text = value.strip()
    if not _URL.match(text):
        raise ValueError("must be an http:// or https:// URL without user info")
    return text


def _check_headers(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    for name, header in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if "\n" in header or "\r" in header or len(header) > 8192:
            raise ValueError(f"the value of {name!r} is not a valid header value")
    return value


def _check_tags(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    cleaned = []
    for tag in value:
        text = tag.strip()
        if not text or len(text) > 50:
            raise ValueError("tags must be 1 to 50 characters")
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


class McpServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    url: str = Field(min_length=1, max_length=2048)
    transport: Transport = "streamable_http"
    headers: dict[str, str] | None = Field(
        default=None, description="Request headers such as Authorization (write-only)."
    )
    description: str = Field(default="", max_length=2000)
    service_id: int | None = None
    enabled: bool = True
    tags: list[str] = Field(default_factory=list, max_length=20)
    check_interval_s: int = Field(default=60, ge=10, le=86400)
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    _url = field_validator("url")(_check_url)
    _headers = field_validator("headers")(_check_headers)
    _tags = field_validator("tags")(_check_tags)


class McpServerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$"
    )
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    transport: Transport | None = None
    headers: dict[str, str] | None = Field(
        default=None, description="Replaces all headers; `{}` removes them (write-only)."
    )
    description: str | None = Field(default=None, max_length=2000)
    service_id: int | None = None
    enabled: bool | None = None
    tags: list[str] | None = Field(default=None, max_length=20)
    check_interval_s: int | None = Field(default=None, ge=10, le=86400)
    timeout_s: float | None = Field(default=None, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    _headers = field_validator("headers")(_check_headers)
    _tags = field_validator("tags")(_check_tags)


class ToolSummary(BaseModel):
    name: str
    description: str | None = None


class McpCheckOut(BaseModel):
    """The outcome of one check (the `POST .../check` contract, plus when and who)."""

    id: int | None = None
    checked_at: datetime | None = None
    healthy: bool
    latency_ms: float
    server_name: str | None = None
    server_version: str | None = None
    protocol_version: str | None = None
    tool_count: int | None = None
    tools: list[ToolSummary] = Field(default_factory=list)
    error: str | None = None


class McpServerOut(BaseModel):
    id: int
    name: str
    description: str
    url: str
    transport: str
    header_names: list[str]
    service_id: int | None
    enabled: bool
    tags: list[str]
    check_interval_s: int
    timeout_s: float
    status: str = Field(description="unknown | up | down")
    tool_count: int
    last_check: McpCheckOut | None
    created_at: datetime
    updated_at: datetime


class McpServerList(BaseModel):
    items: list[McpServerOut]


class McpCheckHistory(BaseModel):
    items: list[McpCheckOut]


class McpToolOut(BaseModel):
    name: str
    description: str | None
    input_schema: dict[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime


class McpToolList(BaseModel):
    items: list[McpToolOut]


class McpToolChangeOut(BaseModel):
    id: int
    change: str = Field(description="added | removed")
    tool_name: str
    check_id: int | None
    at: datetime


class McpToolChangeList(BaseModel):
    items: list[McpToolChangeOut]


# ---------------------------------------------------------------- usage ingest

MAX_BATCH = 10_000


class UsageEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, description="Client-supplied; idempotent.")
    timestamp: datetime
    user: str = Field(min_length=1, max_length=255)
    mcp_server: int | str = Field(description="The MCP server's id or name.")
    tool: str = Field(min_length=1, max_length=255)
    duration_ms: float = Field(ge=0, le=86_400_000)
    success: bool
    error: str | None = Field(default=None, max_length=4000)
    tokens_in: int = Field(default=0, ge=0, le=10**15)
    tokens_out: int = Field(default=0, ge=0, le=10**15)
    tokens_cached: int = Field(default=0, ge=0, le=10**15)
    cost_estimate: float = Field(default=0.0, ge=0, le=10**12)

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must include a time zone (e.g. Z)")
        return value


class UsageBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[UsageEventIn] = Field(max_length=MAX_BATCH)


class UsageBatchRaw(BaseModel):
    """The ingest body as received: each event is validated one by one (see `UsageEventIn`),
    so errors name `events[i].field`."""

    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(
        description="At most 10,000 events, each shaped like UsageEventIn."
    )


class UsageIngestResult(BaseModel):
    received: int
    stored: int = Field(description="New events; duplicates of stored ids are not counted.")
    duplicates: int


# ---------------------------------------------------------------- analytics


class Range(BaseModel):
    since: datetime
    until: datetime
    mcp_server_id: int | None = None


class HourPoint(BaseModel):
    hour: datetime
    queries: int
    errors: int
    cost: float
    avg_ms: float | None
    p95_ms: float | None
    error_rate: float


class DayCost(BaseModel):
    day: str
    cost: float
    queries: int


class ServerDayCost(BaseModel):
    day: str
    mcp_server_id: int
    mcp_server: str
    cost: float


class OverviewOut(BaseModel):
    range: Range
    queries: int
    errors: int
    error_rate: float
    cost: float
    cost_today: float
    avg_ms: float | None
    p95_ms: float | None
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    per_hour: list[HourPoint]


class CostOut(BaseModel):
    range: Range
    total: float
    cost_today: float
    per_day: list[DayCost]
    by_server_per_day: list[ServerDayCost]


class PerformanceOut(BaseModel):
    range: Range
    avg_ms: float | None
    p95_ms: float | None
    per_hour: list[HourPoint]


class ErrorsOut(BaseModel):
    range: Range
    queries: int
    errors: int
    error_rate: float
    per_hour: list[HourPoint]


class ToolRow(BaseModel):
    tool: str
    mcp_server_id: int
    mcp_server: str
    queries: int
    errors: int
    error_rate: float
    avg_ms: float | None
    p95_ms: float | None
    cost: float


class ToolsOut(BaseModel):
    range: Range
    items: list[ToolRow]


class UserRow(BaseModel):
    user: str
    queries: int
    errors: int
    error_rate: float
    avg_ms: float | None
    cost: float
    tokens_in: int
    tokens_out: int
    tokens_cached: int


class UsersOut(BaseModel):
    range: Range
    items: list[UserRow]
