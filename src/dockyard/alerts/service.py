"""Channels, rules and alerts: validation, storage (secrets encrypted), queries, ack."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.alerts import notify
from dockyard.alerts.models import Alert, AlertChannel, AlertDelivery, AlertRule
from dockyard.alerts.schemas import (
    CONFIG_MODELS,
    METRIC_KINDS,
    SECRET_FIELDS,
    USAGE_KINDS,
    ChannelIn,
    ChannelOut,
    ChannelTestResult,
    RuleIn,
    RuleOut,
    Scope,
)
from dockyard.audit.service import Actor, record
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.kit.secrets_box import SecretBox, SecretBoxError
from dockyard.nodes.models import Node
from dockyard.services.models import Service

BOX_PURPOSE = "dockyard.alerts.channel.v1"


def box(runtime: Any) -> SecretBox:
    return SecretBox(runtime.auth.secret, purpose=BOX_PURPOSE)


def _invalid(path: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(
        f"{path}: {message}", details={"errors": [{"path": path, "message": message}]}
    )


def _from_pydantic(prefix: str, exc: ValidationError) -> ValidationFailedError:
    errors = [
        {
            "path": ".".join([prefix, *(str(p) for p in e.get("loc", ()))]),
            "message": str(e.get("msg", "invalid value")),
        }
        for e in exc.errors()
    ]
    return ValidationFailedError(
        f"{errors[0]['path']}: {errors[0]['message']}", details={"errors": errors}
    )


# ---------------------------------------------------------------- channels


def read_secrets(runtime: Any, channel: AlertChannel) -> dict[str, Any]:
    if not channel.secrets_encrypted:
        return {}
    try:
        value = json.loads(box(runtime).decrypt(channel.secrets_encrypted))
    except SecretBoxError as exc:
        raise ValidationFailedError(
            f"The stored secrets of channel {channel.name} cannot be decrypted with the current "
            "secret key; enter them again.",
            code="channel_secret_unreadable",
        ) from exc
    return value if isinstance(value, dict) else {}


def channel_out(runtime: Any, channel: AlertChannel) -> ChannelOut:
    try:
        secrets = read_secrets(runtime, channel)
    except ValidationFailedError:
        secrets = {}
    return ChannelOut(
        id=channel.id,
        name=channel.name,
        type=channel.type,
        config=dict(channel.config or {}),
        secrets_set=sorted(k for k, v in secrets.items() if v),
        enabled=channel.enabled,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


def _split_config(
    channel_type: str, config: dict[str, Any], previous: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate a channel config (missing secrets keep `previous`); → (public, secrets)."""
    secret_names = SECRET_FIELDS[channel_type]
    merged = dict(config)
    for name in secret_names:
        if name not in merged and previous and previous.get(name) is not None:
            merged[name] = previous[name]
    try:
        parsed = CONFIG_MODELS[channel_type].model_validate(merged)
    except ValidationError as exc:
        raise _from_pydantic("config", exc) from exc
    data = parsed.model_dump(by_alias=True, exclude_none=True)
    secrets = {k: data.pop(k) for k in secret_names if k in data}
    return data, {k: v for k, v in secrets.items() if v}


async def _channel(session: AsyncSession, channel_id: int) -> AlertChannel:
    channel = await session.get(AlertChannel, channel_id)
    if channel is None:
        raise NotFoundError(f"Alert channel {channel_id} not found.")
    return channel


async def _name_taken(session: AsyncSession, model: Any, name: str, exclude: int | None) -> bool:
    query = select(model.id).where(model.name == name)
    if exclude is not None:
        query = query.where(model.id != exclude)
    return (await session.execute(query)).first() is not None


async def list_channels(session: AsyncSession) -> Sequence[AlertChannel]:
    return (await session.execute(select(AlertChannel).order_by(AlertChannel.name))).scalars().all()


async def get_channel(session: AsyncSession, channel_id: int) -> AlertChannel:
    return await _channel(session, channel_id)


async def save_channel(
    runtime: Any,
    session: AsyncSession,
    body: ChannelIn,
    actor: Actor,
    meta: RequestMeta | None,
    channel_id: int | None = None,
) -> AlertChannel:
    channel = await _channel(session, channel_id) if channel_id is not None else None
    if await _name_taken(session, AlertChannel, body.name, channel_id):
        raise ConflictError(f"An alert channel named {body.name} exists.", code="name_taken")
    previous = (
        read_secrets(runtime, channel) if channel is not None and channel.type == body.type else {}
    )
    public, secrets = _split_config(body.type, body.config, previous)
    encrypted = box(runtime).encrypt(json.dumps(secrets)) if secrets else None
    if channel is None:
        channel = AlertChannel(
            name=body.name,
            type=body.type,
            config=public,
            secrets_encrypted=encrypted,
            enabled=body.enabled,
        )
        session.add(channel)
    else:
        channel.name, channel.type, channel.config = body.name, body.type, public
        channel.secrets_encrypted, channel.enabled = encrypted, body.enabled
    await session.flush()
    await record(
        session,
        action="alert.channel.create" if channel_id is None else "alert.channel.update",
        actor=actor,
        target_type="alert_channel",
        target_id=channel.id,
        details={"name": channel.name, "type": channel.type, "secrets_set": sorted(secrets)},
        meta=meta,
    )
    publish_after_commit(session, "alert.channel", {"channel_id": channel.id})
    return channel


async def delete_channel(
    session: AsyncSession, channel_id: int, actor: Actor, meta: RequestMeta | None
) -> None:
    channel = await _channel(session, channel_id)
    for rule in (await session.execute(select(AlertRule))).scalars().all():
        if channel_id in (rule.channels or []):
            rule.channels = [c for c in rule.channels if c != channel_id]
    await session.delete(channel)
    await record(
        session,
        action="alert.channel.delete",
        actor=actor,
        target_type="alert_channel",
        target_id=channel_id,
        details={"name": channel.name},
        meta=meta,
    )
    publish_after_commit(session, "alert.channel", {"channel_id": channel_id})


def test_payload(channel: AlertChannel) -> dict[str, Any]:
    now = utcnow().isoformat()
    return {
        "alert": {"id": None, "kind": "test"},
        "status": "test",
        "rule": {"id": None, "name": "Test notification"},
        "target": {"type": "channel", "id": channel.id, "name": channel.name},
        "started_at": now,
        "resolved_at": None,
        "summary": f"Test notification from Dockyard to channel {channel.name}.",
    }


async def test_channel(
    runtime: Any, session: AsyncSession, channel_id: int, actor: Actor, meta: RequestMeta | None
) -> ChannelTestResult:
    """Send a test notification now (one attempt); record it as a delivery."""
    channel = await _channel(session, channel_id)
    secrets = read_secrets(runtime, channel)
    payload = test_payload(channel)
    started = time.perf_counter()
    error: str | None = None
    try:
        await notify.send(channel.type, dict(channel.config or {}), secrets, payload)
    except notify.DeliveryError as exc:
        error = str(exc)
    latency = round((time.perf_counter() - started) * 1000, 1)
    now = utcnow()
    session.add(
        AlertDelivery(
            alert_id=None,
            channel_id=channel.id,
            channel_name=channel.name,
            event="test",
            status="sent" if error is None else "failed",
            attempts=1,
            last_error=error,
            payload=payload,
            created_at=now,
            delivered_at=now if error is None else None,
        )
    )
    await record(
        session,
        action="alert.channel.test",
        actor=actor,
        outcome="success" if error is None else "failure",
        target_type="alert_channel",
        target_id=channel.id,
        details={"name": channel.name, "error": error},
        meta=meta,
    )
    return ChannelTestResult(ok=error is None, error=error, latency_ms=latency)


# ---------------------------------------------------------------- rules


class _Threshold(BaseModel):
    model_config = {"extra": "forbid"}
    kind: str
    threshold_pct: float


class _NoFields(BaseModel):
    model_config = {"extra": "forbid"}
    kind: str


class _ServiceDown(BaseModel):
    model_config = {"extra": "forbid"}
    kind: str
    include_unhealthy: bool = True


class _JobFailed(BaseModel):
    model_config = {"extra": "forbid"}
    kind: str
    job_kinds: list[str] | None = None


class _Cost(BaseModel):
    model_config = {"extra": "forbid"}
    kind: str
    threshold: float
    period: str = "day"


class _ErrorRate(BaseModel):
    model_config = {"extra": "forbid"}
    kind: str
    threshold_pct: float
    window_s: int = 3600


_CONDITION_MODELS: dict[str, type[BaseModel]] = {
    "service_down": _ServiceDown,
    "health_check_failing": _NoFields,
    "node_offline": _NoFields,
    "update_available": _NoFields,
    "update_rolled_back": _NoFields,
    "job_failed": _JobFailed,
    "usage_cost_over": _Cost,
    "error_rate_over": _ErrorRate,
    **dict.fromkeys(METRIC_KINDS, _Threshold),
}
# Scope types each kind can be narrowed by.
_SCOPES: dict[str, tuple[str, ...]] = {
    "service_down": ("all", "node", "service"),
    "health_check_failing": ("all", "node", "service", "mcp"),
    "node_offline": ("all", "node"),
    "host_cpu": ("all", "node"),
    "host_memory": ("all", "node"),
    "host_disk": ("all", "node"),
    "container_cpu": ("all", "node", "service"),
    "container_memory": ("all", "node", "service"),
    "update_available": ("all", "node", "service"),
    "update_rolled_back": ("all", "node", "service"),
    "job_failed": ("all", "node", "service"),
    "usage_cost_over": ("all", "mcp"),
    "error_rate_over": ("all", "mcp"),
}


def usage_available() -> bool:
    """Whether usage analytics (the MCP domain's usage tables) exist in this build."""
    try:
        from dockyard.mcp_registry.models import UsageEvent  # noqa: F401
    except ImportError:
        return False
    return True


def rule_note(kind: str) -> str | None:
    if kind in METRIC_KINDS:
        return "Host and container metrics are not collected yet; this rule fires once they are."
    return None


def _validate_condition(condition: dict[str, Any]) -> dict[str, Any]:
    kind = str(condition.get("kind"))
    if kind in USAGE_KINDS and not usage_available():
        raise _invalid(
            "condition.kind",
            f"{kind} is not available: usage analytics are not collected by this server.",
        )
    try:
        parsed = _CONDITION_MODELS[kind].model_validate(condition)
    except ValidationError as exc:
        raise _from_pydantic("condition", exc) from exc
    data = parsed.model_dump()
    if "threshold_pct" in data and not 0 < data["threshold_pct"] <= 100:
        raise _invalid("condition.threshold_pct", "must be > 0 and ≤ 100")
    if "threshold" in data and not data["threshold"] > 0:
        raise _invalid("condition.threshold", "must be > 0")
    if "period" in data and data["period"] not in ("hour", "day", "week", "month"):
        raise _invalid("condition.period", "must be hour, day, week or month")
    if "window_s" in data and not 60 <= data["window_s"] <= 30 * 86400:
        raise _invalid("condition.window_s", "must be between 60 and 2592000")
    return data


async def _validate_scope(session: AsyncSession, kind: str, scope: Scope) -> None:
    if scope.type not in _SCOPES[kind]:
        raise _invalid("scope.type", f"{kind} can be scoped to: {', '.join(_SCOPES[kind])}")
    if scope.type == "all":
        if scope.ids:
            raise _invalid("scope.ids", "must be empty for scope all")
        return
    if not scope.ids:
        raise _invalid("scope.ids", f"name at least one {scope.type}")
    model: Any = {"node": Node, "service": Service}.get(scope.type)
    if model is not None:
        found = set(
            (await session.execute(select(model.id).where(model.id.in_(scope.ids)))).scalars()
        )
        missing = sorted(set(scope.ids) - found)
        if missing:
            raise _invalid("scope.ids", f"unknown {scope.type} ids: {missing}")


async def _validate_channels(session: AsyncSession, ids: list[int]) -> list[int]:
    unique = list(dict.fromkeys(ids))
    found = set(
        (await session.execute(select(AlertChannel.id).where(AlertChannel.id.in_(unique))))
        .scalars()
        .all()
    )
    missing = [i for i in unique if i not in found]
    if missing:
        raise _invalid("channels", f"unknown channel ids: {missing}")
    return unique


async def firing_counts(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(
        select(Alert.rule_id, func.count()).where(Alert.status == "firing").group_by(Alert.rule_id)
    )
    return {int(r): int(n) for r, n in rows.all()}


def rule_out(rule: AlertRule, firing: int = 0) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        condition=dict(rule.condition),
        scope=Scope.model_validate(rule.scope or {}),
        for_s=rule.for_s,
        cooldown_s=rule.cooldown_s,
        channels=list(rule.channels or []),
        enabled=rule.enabled,
        note=rule_note(str(rule.condition.get("kind"))),
        firing=firing,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


async def _rule(session: AsyncSession, rule_id: int) -> AlertRule:
    rule = await session.get(AlertRule, rule_id)
    if rule is None:
        raise NotFoundError(f"Alert rule {rule_id} not found.")
    return rule


async def list_rules(session: AsyncSession) -> Sequence[AlertRule]:
    return (await session.execute(select(AlertRule).order_by(AlertRule.name))).scalars().all()


async def get_rule(session: AsyncSession, rule_id: int) -> AlertRule:
    return await _rule(session, rule_id)


async def save_rule(
    session: AsyncSession,
    body: RuleIn,
    actor: Actor,
    meta: RequestMeta | None,
    rule_id: int | None = None,
) -> AlertRule:
    rule = await _rule(session, rule_id) if rule_id is not None else None
    condition = _validate_condition(body.condition.model_dump())
    await _validate_scope(session, condition["kind"], body.scope)
    channels = await _validate_channels(session, body.channels)
    if await _name_taken(session, AlertRule, body.name, rule_id):
        raise ConflictError(f"An alert rule named {body.name} exists.", code="name_taken")
    values = {
        "name": body.name,
        "condition": condition,
        "scope": body.scope.model_dump(),
        "for_s": body.for_s,
        "cooldown_s": body.cooldown_s,
        "channels": channels,
        "enabled": body.enabled,
    }
    if rule is None:
        rule = AlertRule(**values)
        session.add(rule)
    else:
        for key, value in values.items():
            setattr(rule, key, value)
    await session.flush()
    await record(
        session,
        action="alert.rule.create" if rule_id is None else "alert.rule.update",
        actor=actor,
        target_type="alert_rule",
        target_id=rule.id,
        details={k: v for k, v in values.items()},
        meta=meta,
    )
    publish_after_commit(session, "alert.rule", {"rule_id": rule.id})
    return rule


async def delete_rule(
    session: AsyncSession, rule_id: int, actor: Actor, meta: RequestMeta | None
) -> None:
    rule = await _rule(session, rule_id)
    await session.delete(rule)
    await record(
        session,
        action="alert.rule.delete",
        actor=actor,
        target_type="alert_rule",
        target_id=rule_id,
        details={"name": rule.name},
        meta=meta,
    )
    publish_after_commit(session, "alert.rule", {"rule_id": rule_id})


# ---------------------------------------------------------------- alerts


async def list_alerts(
    session: AsyncSession,
    *,
    status: str | None,
    rule_id: int | None,
    kind: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Alert], int, int]:
    query = select(Alert)
    if status is not None:
        query = query.where(Alert.status == status)
    if rule_id is not None:
        query = query.where(Alert.rule_id == rule_id)
    if kind is not None:
        query = query.where(Alert.kind == kind)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    firing = (
        await session.execute(select(func.count()).where(Alert.status == "firing"))
    ).scalar_one()
    rows = (
        (
            await session.execute(
                query.order_by(Alert.started_at.desc(), Alert.id.desc()).limit(limit).offset(offset)
            )
        )
        .scalars()
        .all()
    )
    return rows, int(total), int(firing)


async def get_alert(session: AsyncSession, alert_id: int) -> tuple[Alert, Sequence[AlertDelivery]]:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError(f"Alert {alert_id} not found.")
    deliveries = (
        (
            await session.execute(
                select(AlertDelivery)
                .where(AlertDelivery.alert_id == alert_id)
                .order_by(AlertDelivery.id)
            )
        )
        .scalars()
        .all()
    )
    return alert, deliveries


async def channel_deliveries(
    session: AsyncSession, channel_id: int, limit: int
) -> Sequence[AlertDelivery]:
    await _channel(session, channel_id)
    return (
        (
            await session.execute(
                select(AlertDelivery)
                .where(AlertDelivery.channel_id == channel_id)
                .order_by(AlertDelivery.id.desc())
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
