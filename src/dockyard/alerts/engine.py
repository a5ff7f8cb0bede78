"""The alert engine: events and periodic evaluation → alerts → deliveries.

- Event-driven: `update.rolled_back` / `update.rollback_failed` (update_rolled_back),
  `update.available`, `job.finished` with status failed (job_failed), and
  `health.check.down` / `health.check.up` (health_check_failing) are handled as they are
  published. Events fired once (updates, jobs) stay firing until acknowledged.
- Periodic (`evaluate(runtime, now)`, every `TICK_S`): conditions that must hold `for_s`
  seconds (service_down, node_offline, health checks still failing). A condition first seen
  true is remembered in `alert_pending`; it fires once it held `for_s`, and resolves (with a
  resolve notification) when it no longer holds.
- Dedup: at most one firing alert per rule and target (`alerts.firing_key` is unique, also
  across processes); a repeat only counts `occurrences`. Cooldown: an alert that starts
  within `cooldown_s` of the previous notified alert of the same rule and target is
  recorded but not notified (nor is its resolution).
- Deliveries: one row per channel and notification, sent right away and retried with
  exponential backoff (`BACKOFF_S * 2**attempt`, at most `MAX_ATTEMPTS`), claimed in the
  database so two processes never send the same one.

Metric kinds (host CPU/memory/disk, container CPU/memory) read each node's newest raw
metrics sample (`dockyard.metrics`); a node with no recent sample yields no hit (that is
`node_offline`'s case), so its metric alerts resolve.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.alerts import notify
from dockyard.alerts.models import Alert, AlertChannel, AlertDelivery, AlertPending, AlertRule
from dockyard.alerts.schemas import METRIC_KINDS
from dockyard.alerts.service import read_secrets
from dockyard.audit.service import Actor, record
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import NotFoundError
from dockyard.kit.events import Event
from dockyard.kit.request_meta import RequestMeta
from dockyard.services.models import Service

log = structlog.get_logger(__name__)

TICK_S = 10.0
MAX_ATTEMPTS = 5
BACKOFF_S = 5.0
CLAIM_S = 60.0
EVENT_ONLY_KINDS = ("update_available", "update_rolled_back", "job_failed")
DOWN_STATUSES = ("stopped", "partial", "restarting", "error")
PERIOD_S = {"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400}


@dataclass(frozen=True)
class Hit:
    """A condition true for one target."""

    key: str
    target: dict[str, Any]
    summary: str
    details: dict[str, Any]


def _kind(rule: AlertRule) -> str:
    return str((rule.condition or {}).get("kind"))


def _in_scope(
    rule: AlertRule, *, node_id: int | None, service_id: int | None, mcp_id: int | None = None
) -> bool:
    scope = rule.scope or {}
    kind, ids = scope.get("type", "all"), set(scope.get("ids") or [])
    if kind == "all":
        return True
    value = {"node": node_id, "service": service_id, "mcp": mcp_id}.get(kind)
    return value is not None and value in ids


def payload_of(alert: Alert, status: str) -> dict[str, Any]:
    """The webhook body: `alert`, `status`, `rule`, `target`, `started_at`, `summary`."""
    return {
        "alert": {
            "id": alert.id,
            "kind": alert.kind,
            "severity": alert.severity,
            "occurrences": alert.occurrences,
            "details": alert.details,
        },
        "status": status,
        "rule": {"id": alert.rule_id, "name": alert.rule_name, "kind": alert.kind},
        "target": alert.target,
        "started_at": alert.started_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "summary": alert.summary,
    }


async def _queue_deliveries(
    session: AsyncSession, rule: AlertRule | None, alert: Alert, status: str, now: datetime
) -> int:
    if rule is None or not rule.channels:
        return 0
    channels = (
        (
            await session.execute(
                select(AlertChannel).where(
                    AlertChannel.id.in_(rule.channels), AlertChannel.enabled.is_(True)
                )
            )
        )
        .scalars()
        .all()
    )
    body = payload_of(alert, status)
    for channel in channels:
        session.add(
            AlertDelivery(
                alert_id=alert.id,
                channel_id=channel.id,
                channel_name=channel.name,
                event=status,
                status="pending",
                payload=body,
                # Real time, not the evaluation's `now`: deliveries go out right away.
                next_attempt_at=utcnow(),
                created_at=now,
            )
        )
    return len(channels)


class AlertEngine:
    """Fires and resolves alerts for one runtime; `deliver_due` sends what is queued."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._kick: asyncio.Task[Any] | None = None

    # -- firing and resolving

    async def fire(
        self, rule: AlertRule, hit: Hit, now: datetime, *, dedup_count: bool = True
    ) -> Alert | None:
        """Open an alert (or count a repeat of the firing one). Returns the new alert."""
        firing_key = f"{rule.id}:{hit.key}"
        try:
            async with self.runtime.db.session() as session:
                current = (
                    await session.execute(select(Alert).where(Alert.firing_key == firing_key))
                ).scalar_one_or_none()
                if current is not None:
                    if dedup_count:
                        current.occurrences += 1
                        await session.commit()
                    return None
                last = (
                    await session.execute(
                        select(Alert)
                        .where(
                            Alert.rule_id == rule.id,
                            Alert.target_key == hit.key,
                            Alert.notified.is_(True),
                        )
                        .order_by(Alert.started_at.desc())
                        .limit(1)
                    )
                ).scalar_one_or_none()
                cooling = (
                    last is not None
                    and rule.cooldown_s > 0
                    and (now - last.started_at).total_seconds() < rule.cooldown_s
                )
                alert = Alert(
                    rule_id=rule.id,
                    rule_name=rule.name,
                    kind=_kind(rule),
                    target_key=hit.key,
                    target=hit.target,
                    firing_key=firing_key,
                    status="firing",
                    severity=str((rule.condition or {}).get("severity") or "warning"),
                    summary=hit.summary,
                    details=hit.details,
                    occurrences=1,
                    notified=not cooling,
                    started_at=now,
                )
                session.add(alert)
                await session.flush()
                await session.execute(
                    delete(AlertPending).where(
                        AlertPending.rule_id == rule.id, AlertPending.target_key == hit.key
                    )
                )
                queued = (
                    await _queue_deliveries(session, rule, alert, "firing", now)
                    if not cooling
                    else 0
                )
                await record(
                    session,
                    action="alert.fired",
                    actor=Actor.system("alerts"),
                    target_type="alert",
                    target_id=alert.id,
                    details={
                        "rule_id": rule.id,
                        "rule": rule.name,
                        "target": hit.target,
                        "summary": hit.summary,
                        "notified": not cooling,
                    },
                    ts=now,
                )
                publish_after_commit(
                    session,
                    "alert.firing",
                    {"alert_id": alert.id, "rule_id": rule.id, "summary": hit.summary},
                )
                await session.commit()
        except IntegrityError:  # another process opened it first: that is the dedup
            return None
        log.info("alert_fired", rule=rule.name, target=hit.key, notified=not cooling)
        if queued:
            self.kick()
        return alert

    async def resolve(
        self, session: AsyncSession, alert: Alert, now: datetime, *, by: str | None = None
    ) -> None:
        """Mark resolved in the caller's transaction, queueing resolve notifications."""
        alert.status = "resolved"
        alert.resolved_at = now
        alert.firing_key = None
        rule = await session.get(AlertRule, alert.rule_id)
        if alert.notified:
            await _queue_deliveries(session, rule, alert, "resolved", now)
        await record(
            session,
            action="alert.resolved",
            actor=Actor.system("alerts"),
            target_type="alert",
            target_id=alert.id,
            details={"rule_id": alert.rule_id, "rule": alert.rule_name, "by": by},
            ts=now,
        )
        publish_after_commit(
            session, "alert.resolved", {"alert_id": alert.id, "rule_id": alert.rule_id}
        )

    async def resolve_target(self, rule_id: int, key: str, now: datetime) -> bool:
        async with self.runtime.db.session() as session:
            await session.execute(
                delete(AlertPending).where(
                    AlertPending.rule_id == rule_id, AlertPending.target_key == key
                )
            )
            alert = (
                await session.execute(select(Alert).where(Alert.firing_key == f"{rule_id}:{key}"))
            ).scalar_one_or_none()
            if alert is not None:
                await self.resolve(session, alert, now)
            await session.commit()
        if alert is not None:
            self.kick()
        return alert is not None

    async def acknowledge(
        self, alert_id: int, actor: Actor, meta: RequestMeta | None, now: datetime | None = None
    ) -> Alert:
        """Acknowledge; an event alert (update, job) is also resolved by it."""
        now = now or utcnow()
        async with self.runtime.db.session() as session:
            alert: Alert | None = await session.get(Alert, alert_id)
            if alert is None:
                raise NotFoundError(f"Alert {alert_id} not found.")
            if alert.acknowledged_at is None:
                alert.acknowledged_at = now
                alert.acknowledged_by = actor.label
            if alert.status == "firing" and alert.kind in EVENT_ONLY_KINDS:
                await self.resolve(session, alert, now, by=actor.label)
            await record(
                session,
                action="alert.acknowledge",
                actor=actor,
                target_type="alert",
                target_id=alert.id,
                details={"rule": alert.rule_name, "status": alert.status},
                meta=meta,
            )
            publish_after_commit(session, "alert.acknowledged", {"alert_id": alert.id})
            await session.commit()
        self.kick()
        return alert

    # -- events

    async def rules(self, kinds: Sequence[str] | None = None) -> list[AlertRule]:
        async with self.runtime.db.read_session() as session:
            rows = (
                (await session.execute(select(AlertRule).where(AlertRule.enabled.is_(True))))
                .scalars()
                .all()
            )
        return [r for r in rows if kinds is None or _kind(r) in kinds]

    async def _service(self, service_id: Any) -> Service | None:
        if not isinstance(service_id, int):
            return None
        async with self.runtime.db.read_session() as session:
            service: Service | None = await session.get(Service, service_id)
        return service

    async def handle_event(self, event: Event, now: datetime | None = None) -> list[Alert]:
        """Fire or resolve for one bus event; returns the alerts opened."""
        now = now or utcnow()
        kind: str | None = None
        data = event.data
        if event.type in ("update.rolled_back", "update.rollback_failed"):
            kind = "update_rolled_back"
        elif event.type == "update.available":
            kind = "update_available"
        elif event.type == "job.finished" and data.get("status") == "failed":
            kind = "job_failed"
        elif event.type in ("health.check.down", "health.check.up"):
            return await self._health_event(event, now)
        if kind is None:
            return []
        rules = await self.rules([kind])
        if not rules:
            return []
        service = await self._service(data.get("service_id"))
        svc_name = service.name if service else data.get("service")
        target: dict[str, Any]
        if kind == "job_failed":
            job_kind = str(data.get("kind") or "")
            target = {"type": "job", "id": data.get("job_id"), "name": job_kind}
            if service is not None:
                target.update(service_id=service.id, service=service.name)
            key = f"job:{data.get('job_id')}"
            summary = f"Job {job_kind} failed" + (f" on {svc_name}" if svc_name else "")
            if data.get("error"):
                summary += f": {str(data['error'])[:300]}"
        else:
            target = {"type": "service", "id": data.get("service_id"), "name": svc_name}
            key = f"service:{data.get('service_id')}"
            if kind == "update_available":
                images = [
                    str(i.get("image")) for i in data.get("images") or [] if isinstance(i, dict)
                ]
                summary = f"Update available for {svc_name}: {', '.join(images) or 'images'}"
            elif event.type == "update.rollback_failed":
                summary = f"Update of {svc_name} failed and could not be rolled back"
            else:
                reason = data.get("reason") or data.get("failure") or ""
                summary = f"Update of {svc_name} was rolled back" + (
                    f": {reason}" if reason else ""
                )
        opened = []
        for rule in rules:
            node_id = service.node_id if service else None
            if not _in_scope(rule, node_id=node_id, service_id=service.id if service else None):
                continue
            job_kinds = (rule.condition or {}).get("job_kinds")
            if kind == "job_failed" and job_kinds and data.get("kind") not in job_kinds:
                continue
            hit = Hit(key, target, summary[:1000], {"event": event.type})
            alert = await self.fire(rule, hit, now)
            if alert is not None:
                opened.append(alert)
        return opened

    async def _health_event(self, event: Event, now: datetime) -> list[Alert]:
        data = event.data
        check_id = data.get("check_id", data.get("id"))
        key = f"check:{check_id}"
        target = {
            "type": "health_check",
            "id": check_id,
            "name": data.get("name"),
            "check_kind": data.get("kind"),
            "target": data.get("target"),
        }
        service_id = data.get("service_id")
        service = await self._service(service_id)
        opened: list[Alert] = []
        for rule in await self.rules(["health_check_failing"]):
            if not _in_scope(
                rule,
                node_id=service.node_id if service else data.get("node_id"),
                service_id=service_id if isinstance(service_id, int) else None,
                mcp_id=data.get("mcp_server_id"),
            ):
                continue
            if event.type == "health.check.up":
                await self.resolve_target(rule.id, key, now)
                continue
            summary = f"Health check {data.get('name')} is failing"
            if data.get("error"):
                summary += f": {str(data['error'])[:300]}"
            hit = Hit(key, target, summary, {"error": data.get("error")})
            if rule.for_s <= 0:
                alert = await self.fire(rule, hit, now, dedup_count=False)
                if alert is not None:
                    opened.append(alert)
            else:
                await self._remember(rule, hit, now)
        return opened

    async def _remember(self, rule: AlertRule, hit: Hit, now: datetime) -> AlertPending:
        async with self.runtime.db.session() as session:
            row: AlertPending | None = (
                await session.execute(
                    select(AlertPending).where(
                        AlertPending.rule_id == rule.id, AlertPending.target_key == hit.key
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                row = AlertPending(
                    rule_id=rule.id,
                    target_key=hit.key,
                    target=hit.target,
                    summary=hit.summary,
                    since=now,
                )
                session.add(row)
                try:
                    await session.commit()
                except IntegrityError:
                    await session.rollback()
            return row

    # -- periodic evaluation

    async def _service_hits(self, rule: AlertRule) -> dict[str, Hit]:
        include_unhealthy = bool((rule.condition or {}).get("include_unhealthy", True))
        bad = DOWN_STATUSES + (("unhealthy",) if include_unhealthy else ())
        hits: dict[str, Hit] = {}
        views = self.runtime.service_views
        async with self.runtime.db.read_session() as session:
            services = (await session.execute(select(Service))).scalars().all()
            for svc in services:
                if not _in_scope(rule, node_id=svc.node_id, service_id=svc.id):
                    continue
                if svc.deployed_revision is None:
                    continue
                if self.runtime.state.reachable(svc.node_id) is not True:
                    continue  # node_offline covers an unreachable node; no guessing here
                out = await views.build(session, svc, None, updates={})
                if out.status in bad:
                    hits[f"service:{svc.id}"] = Hit(
                        f"service:{svc.id}",
                        {"type": "service", "id": svc.id, "name": svc.name, "node_id": svc.node_id},
                        f"Service {svc.name} is {out.status} "
                        f"({out.containers_running}/{out.containers_total} containers running)",
                        {"status": out.status},
                    )
        return hits

    async def _node_hits(self, rule: AlertRule) -> dict[str, Hit]:
        from dockyard.nodes.models import Node

        hits: dict[str, Hit] = {}
        async with self.runtime.db.read_session() as session:
            nodes = (await session.execute(select(Node))).scalars().all()
        for node in nodes:
            if not _in_scope(rule, node_id=node.id, service_id=None):
                continue
            if self.runtime.state.reachable(node.id) is False:
                hits[f"node:{node.id}"] = Hit(
                    f"node:{node.id}",
                    {"type": "node", "id": node.id, "name": node.name},
                    f"Node {node.name} is offline",
                    {},
                )
        return hits

    async def _usage_hits(self, rule: AlertRule, now: datetime) -> dict[str, Hit]:
        """usage_cost_over / error_rate_over over the ingested MCP usage events."""
        from sqlalchemy import case, func

        from dockyard.mcp_registry.models import UsageEvent

        condition = rule.condition or {}
        kind = _kind(rule)
        if kind == "usage_cost_over":
            period = str(condition.get("period") or "day")
            since = now - timedelta(seconds=PERIOD_S.get(period, 86400))
        else:
            since = now - timedelta(seconds=int(condition.get("window_s") or 3600))
        scope = rule.scope or {}
        per_server = scope.get("type") == "mcp"
        key_column = UsageEvent.mcp_server_id if per_server else None
        columns: list[Any] = [
            func.count(),
            func.coalesce(func.sum(UsageEvent.cost), 0.0),
            func.coalesce(func.sum(case((UsageEvent.success.is_(False), 1), else_=0)), 0),
        ]
        query = select(*(([key_column] if key_column is not None else []) + columns)).where(
            UsageEvent.ts >= since, UsageEvent.ts <= now
        )
        if per_server:
            query = query.where(UsageEvent.mcp_server_id.in_(scope.get("ids") or [])).group_by(
                UsageEvent.mcp_server_id
            )
        async with self.runtime.db.read_session() as session:
            rows = (await session.execute(query)).all()
        hits: dict[str, Hit] = {}
        for row in rows:
            server_id, count, cost, errors = row if per_server else (None, *row)
            key = f"mcp:{server_id}" if per_server else "usage:all"
            target = {"type": "mcp" if per_server else "usage", "id": server_id}
            if kind == "usage_cost_over":
                threshold = float(condition.get("threshold") or 0)
                if float(cost) > threshold:
                    hits[key] = Hit(
                        key,
                        target,
                        f"Usage cost {float(cost):.2f} over {threshold:g} per "
                        f"{condition.get('period', 'day')}",
                        {"cost": float(cost), "events": int(count)},
                    )
            elif count:
                rate = 100.0 * int(errors) / int(count)
                if rate > float(condition.get("threshold_pct") or 100):
                    hits[key] = Hit(
                        key,
                        target,
                        f"Error rate {rate:.1f}% over {condition.get('threshold_pct')}% "
                        f"({int(errors)} of {int(count)} calls)",
                        {"error_rate_pct": rate, "events": int(count)},
                    )
        return hits

    async def _metric_hits(self, rule: AlertRule, now: datetime) -> dict[str, Hit]:
        """host_* / container_* over X%: each node's newest metrics sample."""
        from dockyard.metrics import service as metrics
        from dockyard.nodes.models import Node

        kind = _kind(rule)
        threshold = float((rule.condition or {}).get("threshold_pct") or 100)
        since = metrics.epoch(now) - metrics.freshness_s(self.runtime.settings)
        what = {"cpu": "CPU", "memory": "memory", "disk": "disk"}[kind.split("_", 1)[1]]
        hits: dict[str, Hit] = {}
        async with self.runtime.db.read_session() as session:
            names = {row.id: row.name for row in await session.execute(select(Node.id, Node.name))}
            if kind.startswith("host_"):
                for h in await metrics.latest_host_points(session, since):
                    if not _in_scope(rule, node_id=h.node_id, service_id=None):
                        continue
                    value = {
                        "host_cpu": h.cpu_pct,
                        "host_memory": 100.0 * h.mem_used / h.mem_total if h.mem_total else 0.0,
                        "host_disk": 100.0 * h.disk_used / h.disk_total if h.disk_total else 0.0,
                    }[kind]
                    if value > threshold:
                        name = names.get(h.node_id, f"#{h.node_id}")
                        hits[f"node:{h.node_id}"] = Hit(
                            f"node:{h.node_id}",
                            {"type": "node", "id": h.node_id, "name": name},
                            f"Node {name} {what} at {value:.0f}% (over {threshold:g}%)",
                            {"value_pct": round(value, 2), "threshold_pct": threshold},
                        )
                return hits
            for c in await metrics.latest_container_points(session, since):
                if not _in_scope(rule, node_id=c.node_id, service_id=c.service_id):
                    continue
                if kind == "container_cpu":
                    value = c.cpu_pct  # docker stats' figure: 100 = one full core
                else:
                    value = 100.0 * c.mem_used / c.mem_limit if c.mem_limit else 0.0
                if value > threshold:
                    short = c.container_id[:12]
                    key = f"container:{c.node_id}:{short}"
                    hits[key] = Hit(
                        key,
                        {
                            "type": "container",
                            "id": short,
                            "node_id": c.node_id,
                            "service_id": c.service_id,
                        },
                        f"Container {short} on {names.get(c.node_id, f'#{c.node_id}')} "
                        f"{what} at {value:.0f}% (over {threshold:g}%)",
                        {"value_pct": round(value, 2), "threshold_pct": threshold},
                    )
        return hits

    async def evaluate(self, now: datetime | None = None) -> list[Alert]:
        """One pass over the state rules; returns the alerts opened."""
        now = now or utcnow()
        opened: list[Alert] = []
        for rule in await self.rules():
            kind = _kind(rule)
            try:
                if kind == "service_down":
                    hits: dict[str, Hit] | None = await self._service_hits(rule)
                elif kind == "node_offline":
                    hits = await self._node_hits(rule)
                elif kind in ("usage_cost_over", "error_rate_over"):
                    hits = await self._usage_hits(rule, now)
                elif kind == "health_check_failing":
                    hits = None  # pending rows come from health events; promote them
                elif kind in METRIC_KINDS:
                    hits = await self._metric_hits(rule, now)
                else:
                    continue
                opened.extend(await self._apply(rule, hits, now))
            except Exception:
                log.exception("alert_rule_failed", rule=rule.name)
        return opened

    async def _apply(
        self, rule: AlertRule, hits: dict[str, Hit] | None, now: datetime
    ) -> list[Alert]:
        opened: list[Alert] = []
        async with self.runtime.db.read_session() as session:
            pending = {
                p.target_key: p
                for p in (
                    await session.execute(
                        select(AlertPending).where(AlertPending.rule_id == rule.id)
                    )
                ).scalars()
            }
            firing = {
                a.target_key
                for a in (
                    await session.execute(
                        select(Alert).where(Alert.rule_id == rule.id, Alert.status == "firing")
                    )
                ).scalars()
            }
        if hits is None:  # event-fed: promote pending rows that held long enough
            for key, row in pending.items():
                if (now - row.since).total_seconds() >= rule.for_s:
                    hit = Hit(key, dict(row.target), row.summary, {"since": row.since.isoformat()})
                    alert = await self.fire(rule, hit, now, dedup_count=False)
                    if alert is not None:
                        opened.append(alert)
            return opened
        for key, hit in hits.items():
            if key in firing:
                continue
            since = pending[key].since if key in pending else None
            if since is None and rule.for_s > 0:
                await self._remember(rule, hit, now)
                continue
            if since is None or (now - since).total_seconds() >= rule.for_s:
                details = {**hit.details, "since": (since or now).isoformat()}
                alert = await self.fire(
                    rule, Hit(key, hit.target, hit.summary, details), now, dedup_count=False
                )
                if alert is not None:
                    opened.append(alert)
        for key in (set(pending) | firing) - set(hits):
            await self.resolve_target(rule.id, key, now)
        return opened

    # -- deliveries

    def kick(self) -> None:
        """Send queued deliveries soon, in the background."""
        if self._kick is None or self._kick.done():
            with contextlib.suppress(RuntimeError):
                self._kick = asyncio.get_running_loop().create_task(self.deliver_due())

    async def deliver_due(self, now: datetime | None = None) -> int:
        """Send every delivery due now (claimed first); returns how many were sent."""
        now = now or utcnow()
        async with self.runtime.db.read_session() as session:
            due = (
                await session.execute(
                    select(AlertDelivery.id, AlertDelivery.next_attempt_at)
                    .where(
                        AlertDelivery.status == "pending",
                        AlertDelivery.next_attempt_at <= now,
                    )
                    .order_by(AlertDelivery.id)
                    .limit(100)
                )
            ).all()
        sent = 0
        for delivery_id, when in due:  # rows unpack as tuples
            if await self._deliver_one(delivery_id, when, now):
                sent += 1
        return sent

    async def _deliver_one(self, delivery_id: int, when: datetime | None, now: datetime) -> bool:
        async with self.runtime.db.session() as session:
            claimed = await session.execute(
                update(AlertDelivery)
                .where(
                    AlertDelivery.id == delivery_id,
                    AlertDelivery.status == "pending",
                    AlertDelivery.next_attempt_at == when,
                )
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_S))
            )
            await session.commit()
            if getattr(claimed, "rowcount", 0) != 1:
                return False
        async with self.runtime.db.read_session() as session:
            delivery = await session.get(AlertDelivery, delivery_id)
            channel = (
                await session.get(AlertChannel, delivery.channel_id)
                if delivery and delivery.channel_id
                else None
            )
        if delivery is None:
            return False
        error: str | None = None
        if channel is None:
            error = "the channel was deleted"
        else:
            try:
                secrets = read_secrets(self.runtime, channel)
                await notify.send(
                    channel.type, dict(channel.config or {}), secrets, delivery.payload
                )
            except notify.DeliveryError as exc:
                error = str(exc)
            except Exception as exc:  # a bad channel must not stop the others
                error = f"{type(exc).__name__}: {exc}"[:300]
        done = utcnow()
        async with self.runtime.db.session() as session:
            row = await session.get(AlertDelivery, delivery_id)
            if row is None:
                return False
            row.attempts += 1
            if error is None:
                row.status, row.delivered_at, row.next_attempt_at, row.last_error = (
                    "sent",
                    done,
                    None,
                    None,
                )
            else:
                row.last_error = error
                if row.attempts >= MAX_ATTEMPTS or channel is None:
                    row.status, row.next_attempt_at = "failed", None
                else:
                    row.next_attempt_at = done + timedelta(
                        seconds=BACKOFF_S * 2 ** (row.attempts - 1)
                    )
            publish_after_commit(
                session,
                "alert.delivery",
                {"alert_id": row.alert_id, "delivery_id": row.id, "status": row.status},
            )
            await session.commit()
        if error is not None:
            log.warning("alert_delivery_failed", delivery_id=delivery_id, error=error)
        return error is None

    # -- running

    def handles(self, event: Event) -> bool:
        """Local events always; remote ones in beat, or from workers (no engine of their own)."""
        if event.origin is None:
            return True
        return self.runtime.role == "beat" or event.origin.startswith("worker@")

    async def run_events(self) -> None:
        """Consume the bus forever (cancel to stop)."""
        async with self.runtime.events.subscribe() as subscription:
            while True:
                event = await subscription.get()
                if not event.type.startswith(("update.", "job.finished", "health.check.")):
                    continue
                if not self.handles(event):
                    continue
                try:
                    await self.handle_event(event)
                except Exception:
                    log.exception("alert_event_failed", type=event.type)

    async def tick(self, now: datetime | None = None) -> None:
        await self.evaluate(now)
        await self.deliver_due(now)


def engine_of(runtime: Any) -> AlertEngine:
    """The runtime's engine (created on first use)."""
    engine: AlertEngine | None = getattr(runtime, "_alert_engine", None)
    if engine is None:
        engine = AlertEngine(runtime)
        runtime._alert_engine = engine
    return engine


async def alerts_tick(runtime: Any) -> None:
    """Periodic: evaluate the state rules and send due deliveries."""
    await engine_of(runtime).tick()


async def alert_events(runtime: Any) -> None:
    """Long-running: fire alerts for bus events (restarted by the scheduler if it fails)."""
    await engine_of(runtime).run_events()
