"""Shapes of the alerts and dashboard APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Address = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+$"),
]
ChannelType = Literal["webhook", "slack", "email", "in_app"]
ConditionKind = Literal[
    "service_down",
    "health_check_failing",
    "node_offline",
    "host_cpu",
    "host_memory",
    "host_disk",
    "container_cpu",
    "container_memory",
    "update_available",
    "update_rolled_back",
    "job_failed",
    "usage_cost_over",
    "error_rate_over",
]
METRIC_KINDS = ("host_cpu", "host_memory", "host_disk", "container_cpu", "container_memory")
# Fired by an event (resolved by acknowledging them), the others by the periodic evaluator.
EVENT_KINDS = ("update_available", "update_rolled_back", "job_failed")
USAGE_KINDS = ("usage_cost_over", "error_rate_over")
AlertStatus = Literal["firing", "resolved"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- channel configs


class WebhookConfig(_Strict):
    url: Annotated[str, StringConstraints(max_length=2048)]
    secret: Annotated[str, StringConstraints(max_length=512)] | None = Field(
        default=None, description="HMAC-SHA256 key: `X-Dockyard-Signature: sha256=<hex>`."
    )
    headers: dict[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")],
        Annotated[str, StringConstraints(max_length=2048)],
    ] = Field(default_factory=dict, max_length=20)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)


class SlackConfig(_Strict):
    url: Annotated[str, StringConstraints(max_length=2048)]

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)


class EmailConfig(_Strict):
    host: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["none", "starttls", "tls"] = "starttls"
    username: Annotated[str, StringConstraints(max_length=320)] | None = None
    password: Annotated[str, StringConstraints(max_length=1024)] | None = None
    from_: Address = Field(alias="from")
    to: list[Address] = Field(min_length=1, max_length=50)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InAppConfig(_Strict):
    pass


def check_http_url(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    if parts.username or parts.password:
        raise ValueError("must not contain credentials (use headers)")
    return value.strip()


# Secret fields of each channel type: stored encrypted, never returned.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "webhook": ("secret", "headers"),
    "slack": ("url",),
    "email": ("password",),
    "in_app": (),
}
CONFIG_MODELS: dict[str, type[BaseModel]] = {
    "webhook": WebhookConfig,
    "slack": SlackConfig,
    "email": EmailConfig,
    "in_app": InAppConfig,
}


class ChannelIn(BaseModel):
    """A channel; secret config fields left out on update keep their stored value."""

    name: Name
    type: ChannelType
    config: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class ChannelOut(BaseModel):
    id: int
    name: str
    type: ChannelType
    config: dict[str, Any] = Field(description="Without secret fields.")
    secrets_set: list[str] = Field(description="Secret fields that have a stored value.")
    enabled: bool
    created_at: datetime
    updated_at: datetime


class ChannelList(BaseModel):
    items: list[ChannelOut]


class ChannelTestResult(BaseModel):
    ok: bool
    error: str | None = None
    latency_ms: float


# ---------------------------------------------------------------- rules


class Condition(BaseModel):
    """`kind` plus its fields (validated per kind by the service)."""

    model_config = ConfigDict(extra="allow")
    kind: ConditionKind


DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class Scope(_Strict):
    type: Literal["all", "node", "service", "mcp"] = "all"
    ids: list[DbId] = Field(default_factory=list, max_length=200)


class RuleIn(BaseModel):
    name: Name
    condition: Condition
    scope: Scope = Field(default_factory=Scope)
    for_s: int = Field(default=0, ge=0, le=7 * 86400)
    cooldown_s: int = Field(default=300, ge=0, le=7 * 86400)
    channels: list[DbId] = Field(default_factory=list, max_length=20)
    enabled: bool = True


class RuleOut(BaseModel):
    id: int
    name: str
    condition: dict[str, Any]
    scope: Scope
    for_s: int
    cooldown_s: int
    channels: list[int]
    enabled: bool
    note: str | None = Field(
        default=None, description="Why the rule cannot evaluate yet (data not collected)."
    )
    firing: int
    created_at: datetime
    updated_at: datetime


class RuleList(BaseModel):
    items: list[RuleOut]


# ---------------------------------------------------------------- alerts


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel_id: int | None
    channel_name: str
    event: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: int
    rule_name: str
    kind: str
    status: AlertStatus
    severity: str
    target: dict[str, Any]
    summary: str
    details: dict[str, Any]
    occurrences: int
    notified: bool
    started_at: datetime
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class AlertDetail(AlertOut):
    deliveries: list[DeliveryOut]


class AlertList(BaseModel):
    items: list[AlertOut]
    total: int
    firing: int
    limit: int
    offset: int


# ---------------------------------------------------------------- dashboard

WidgetId = Literal["stats", "alerts", "charts", "nodes", "schedules", "activity"]
DEFAULT_WIDGETS: tuple[str, ...] = ("stats", "alerts", "charts", "nodes", "schedules", "activity")


class Widget(_Strict):
    id: WidgetId
    visible: bool = True


class DashboardPrefsIO(_Strict):
    widgets: list[Widget] = Field(max_length=20)

    @field_validator("widgets")
    @classmethod
    def _unique(cls, value: list[Widget]) -> list[Widget]:
        ids = [w.id for w in value]
        if len(set(ids)) != len(ids):
            raise ValueError("each widget may appear once")
        return value


class DashboardSummary(BaseModel):
    services_total: int
    services_running: int
    services_unhealthy: int
    services_stopped: int
    nodes_total: int
    nodes_online: int
    updates_available: int
    alerts_firing: int
    jobs_running: int
    jobs_failed_24h: int
    fleet_cpu_pct: float | None = Field(description="Null until host metrics are collected.")
    fleet_memory_pct: float | None


class SeriesPoint(BaseModel):
    ts: datetime
    fired: int
    resolved: int
    jobs_failed: int
    jobs_succeeded: int


class DashboardSeries(BaseModel):
    """Hourly counts over the last 24 hours (alerts and jobs)."""

    points: list[SeriesPoint]


class ActivityItem(BaseModel):
    kind: Literal["audit", "job"]
    id: str
    ts: datetime
    title: str
    outcome: str
    actor: str | None
    target: str | None


class ActivityFeed(BaseModel):
    items: list[ActivityItem]
