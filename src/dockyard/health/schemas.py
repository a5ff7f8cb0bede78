"""Pydantic shapes of health checks, their targets per kind, results and history."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dockyard.kit.errors import ValidationFailedError

CheckKind = Literal["http", "tcp", "mcp", "docker"]
CheckStatus = Literal["unknown", "up", "down"]
RemediationAction = Literal["restart_container", "redeploy_service"]
# Header values are never returned; sending this value back in a PATCH keeps the stored one.
REDACTED = "<redacted>"
MAX_ID = 2**31 - 1
_STATUS_PART = re.compile(r"^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$")


def parse_status_ranges(spec: str) -> list[tuple[int, int]]:
    """`"200-399"`, `"200,204"` or `"200-299, 301"` as inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for part in spec.split(","):
        match = _STATUS_PART.match(part)
        if match is None:
            raise ValueError(f"{part.strip()!r} is not a status code or a range like 200-399")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not (100 <= low <= high <= 599):
            raise ValueError(f"{part.strip()!r}: codes must be 100-599, low to high")
        ranges.append((low, high))
    return ranges


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpTarget(_Strict):
    url: str = Field(max_length=2048, description="http:// or https:// URL.")
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    expected_status: str = Field(default="200-399", max_length=100)
    keyword: str | None = Field(default=None, max_length=1000, description="Body must contain it.")
    json_path: str | None = Field(
        default=None, max_length=500, description="Dotted path into a JSON body (`a.b.0.c`)."
    )
    expected_value: Any = Field(
        default=None, description="With json_path: the value it must equal (null: must exist)."
    )
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("expected_status")
    @classmethod
    def _status(cls, value: str) -> str:
        parse_status_ranges(value)
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 30:
            raise ValueError("at most 30 headers")
        for name in value:
            if not re.match(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$", name):
                raise ValueError(f"{name!r} is not a valid header name")
        return value


class TcpTarget(_Strict):
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)


class DockerTarget(_Strict):
    """A service's containers, or one container by name, from the node state cache."""

    service_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    container: str | None = Field(default=None, min_length=1, max_length=255)
    node_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Default: the service's or local node."
    )

    @model_validator(mode="after")
    def _one(self) -> DockerTarget:
        if (self.service_id is None) == (self.container is None):
            raise ValueError("give exactly one of service_id and container")
        return self


class McpTarget(_Strict):
    mcp_server_id: int = Field(ge=1, le=MAX_ID)


TARGET_MODELS: dict[str, type[BaseModel]] = {
    "http": HttpTarget,
    "tcp": TcpTarget,
    "docker": DockerTarget,
    "mcp": McpTarget,
}


def parse_target(kind: str, target: dict[str, Any]) -> BaseModel:
    """The target of a kind, or a 422 naming `target.<field>`."""
    model = TARGET_MODELS[kind]
    try:
        return model.model_validate(target)
    except ValidationError as exc:
        errors = [
            {
                "path": ".".join(["target", *(str(p) for p in err["loc"])]).rstrip("."),
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"path": "target", "message": "invalid"}
        raise ValidationFailedError(
            f"The {kind} target is not valid: {first['path']}: {first['message']}.",
            details={"errors": errors},
        ) from exc


class Remediation(_Strict):
    action: RemediationAction
    after_failures: int = Field(default=3, ge=1, le=100)
    max_per_hour: int = Field(default=3, ge=1, le=60)
    service_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The service to act on (default: a docker target's service).",
    )


class HealthCheckCreate(_Strict):
    name: str = Field(min_length=1, max_length=100)
    kind: CheckKind
    target: dict[str, Any]
    interval_s: int = Field(default=60, ge=5, le=86400)
    timeout_s: float = Field(default=10, gt=0, le=120)
    retries: int = Field(default=1, ge=1, le=20, description="Consecutive failures before down.")
    remediation: Remediation | None = None
    enabled: bool = True


class HealthCheckPatch(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    target: dict[str, Any] | None = None
    interval_s: int | None = Field(default=None, ge=5, le=86400)
    timeout_s: float | None = Field(default=None, gt=0, le=120)
    retries: int | None = Field(default=None, ge=1, le=20)
    remediation: Remediation | None = None
    enabled: bool | None = None


class Uptime(BaseModel):
    """Share of `up` results (percent) over each window; null without results."""

    h24: float | None
    d7: float | None
    d30: float | None


class HealthCheckOut(BaseModel):
    id: int
    name: str
    kind: CheckKind
    target: dict[str, Any]
    interval_s: int
    timeout_s: float
    retries: int
    remediation: Remediation | None
    enabled: bool
    status: CheckStatus
    consecutive_failures: int
    last_checked_at: datetime | None
    last_latency_ms: float | None
    last_error: str | None
    status_changed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    uptime: Uptime


class LatencyPoint(BaseModel):
    checked_at: datetime
    latency_ms: float | None
    status: Literal["up", "down"]


class HealthCheckDetail(HealthCheckOut):
    latency: list[LatencyPoint] = Field(description="The last 24 h, oldest first (at most 500).")


class HealthCheckList(BaseModel):
    items: list[HealthCheckOut]


class CheckResultOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: Literal["up", "down"]
    latency_ms: float | None
    error: str | None
    remediation: str | None
    checked_at: datetime


class RunResult(CheckResultOut):
    """`POST /run`: the result of this run and the check's status after it."""

    check_status: CheckStatus
    transition: Literal["up", "down"] | None
