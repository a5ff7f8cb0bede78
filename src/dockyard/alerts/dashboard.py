"""The dashboard's data: hero stats in one call, 24 h series, activity feed, widget prefs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access.service import sees_all, visible_filter
from dockyard.alerts.models import Alert, DashboardPrefs
from dockyard.alerts.schemas import (
    DEFAULT_WIDGETS,
    ActivityFeed,
    ActivityItem,
    DashboardPrefsIO,
    DashboardSeries,
    DashboardSummary,
    SeriesPoint,
    Widget,
)
from dockyard.audit.models import AuditEvent
from dockyard.auth.service import Principal
from dockyard.jobs.models import Job
from dockyard.kit.clock import utcnow
from dockyard.nodes.models import Node
from dockyard.registries import repository as update_checks
from dockyard.services.models import Service


async def summary(runtime: Any, session: AsyncSession, principal: Principal) -> DashboardSummary:
    services = (
        (await session.execute(select(Service).where(visible_filter(principal)))).scalars().all()
    )
    updates = await update_checks.update_index(session, {s.node_id for s in services})
    running = unhealthy = stopped = with_update = 0
    for svc in services:
        out = await runtime.service_views.build(session, svc, None, updates=updates)
        running += out.status == "running"
        unhealthy += out.status == "unhealthy"
        stopped += out.status in ("stopped", "partial", "error", "restarting")
        with_update += bool(out.update_available)
    nodes = (await session.execute(select(Node.id))).scalars().all()
    online = sum(1 for n in nodes if runtime.state.reachable(n) is True)
    firing = (
        await session.execute(select(func.count()).where(Alert.status == "firing"))
    ).scalar_one()
    since = utcnow() - timedelta(hours=24)
    job_filter = [] if sees_all(principal) else [Job.service_id.in_([s.id for s in services])]
    jobs_running = (
        await session.execute(
            select(func.count()).where(Job.status.in_(("queued", "running")), *job_filter)
        )
    ).scalar_one()
    jobs_failed = (
        await session.execute(
            select(func.count()).where(
                Job.status == "failed", Job.finished_at >= since, *job_filter
            )
        )
    ).scalar_one()
    fleet: dict[str, Any] = {}
    if principal.can("nodes:read"):  # host figures, as on GET /api/v1/metrics/fleet
        from dockyard.metrics import service as metrics

        since_ts = metrics.epoch(utcnow()) - metrics.freshness_s(runtime.settings)
        fleet = metrics.fleet_now(await metrics.latest_host_points(session, since_ts))
    return DashboardSummary(
        services_total=len(services),
        services_running=running,
        services_unhealthy=unhealthy,
        services_stopped=stopped,
        nodes_total=len(nodes),
        nodes_online=online,
        updates_available=with_update,
        alerts_firing=int(firing) if principal.can("alerts:read") else 0,
        jobs_running=int(jobs_running),
        jobs_failed_24h=int(jobs_failed),
        fleet_cpu_pct=fleet.get("cpu_pct"),
        fleet_memory_pct=fleet.get("mem_pct"),
    )


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


async def series(session: AsyncSession, now: datetime | None = None) -> DashboardSeries:
    """Hourly counts over the last 24 h: alerts fired/resolved, jobs failed/succeeded."""
    now = now or utcnow()
    start = _hour(now) - timedelta(hours=23)
    buckets = {start + timedelta(hours=i): [0, 0, 0, 0] for i in range(24)}
    fired = (
        await session.execute(select(Alert.started_at).where(Alert.started_at >= start))
    ).scalars()
    for ts in fired:
        buckets.get(_hour(ts), [0, 0, 0, 0])[0] += 1
    resolved = (
        await session.execute(select(Alert.resolved_at).where(Alert.resolved_at >= start))
    ).scalars()
    for done in resolved:
        if done is not None:
            buckets.get(_hour(done), [0, 0, 0, 0])[1] += 1
    jobs = await session.execute(
        select(Job.finished_at, Job.status).where(
            Job.finished_at >= start, Job.status.in_(("failed", "succeeded"))
        )
    )
    for finished, status in jobs.all():
        if finished is not None:
            buckets.get(_hour(finished), [0, 0, 0, 0])[2 if status == "failed" else 3] += 1
    return DashboardSeries(
        points=[
            SeriesPoint(ts=ts, fired=v[0], resolved=v[1], jobs_failed=v[2], jobs_succeeded=v[3])
            for ts, v in sorted(buckets.items())
        ]
    )


async def activity(session: AsyncSession, principal: Principal, limit: int) -> ActivityFeed:
    """Latest audit events (with audit:read) and jobs, newest first."""
    items: list[ActivityItem] = []
    if principal.can("audit:read"):
        rows = (
            (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.action != "audit.checkpoint")
                    .order_by(AuditEvent.id.desc())
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        items += [
            ActivityItem(
                kind="audit",
                id=f"audit:{r.id}",
                ts=r.ts,
                title=r.action,
                outcome=r.outcome,
                actor=r.actor_label,
                target=f"{r.target_type}:{r.target_id}" if r.target_type else None,
            )
            for r in rows
        ]
    if principal.can("jobs:read"):
        query = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if not sees_all(principal):
            query = query.join(Service, Service.id == Job.service_id).where(
                visible_filter(principal)
            )
        jobs = (await session.execute(query)).scalars().all()
        items += [
            ActivityItem(
                kind="job",
                id=f"job:{j.id}",
                ts=j.finished_at or j.started_at or j.created_at,
                title=j.kind,
                outcome=j.status,
                actor=j.actor_label,
                target=f"service:{j.service_id}" if j.service_id else None,
            )
            for j in jobs
        ]
    items.sort(key=lambda i: i.ts, reverse=True)
    return ActivityFeed(items=items[:limit])


def default_prefs() -> DashboardPrefsIO:
    return DashboardPrefsIO(widgets=[Widget(id=w, visible=True) for w in DEFAULT_WIDGETS])


def _complete(prefs: DashboardPrefsIO) -> DashboardPrefsIO:
    """Saved order first; widgets added since are appended, visible."""
    seen = {w.id for w in prefs.widgets}
    extra = [Widget(id=w, visible=True) for w in DEFAULT_WIDGETS if w not in seen]
    return DashboardPrefsIO(widgets=[*prefs.widgets, *extra])


async def get_prefs(session: AsyncSession, user_id: int) -> DashboardPrefsIO:
    row = await session.get(DashboardPrefs, user_id)
    if row is None:
        return default_prefs()
    return _complete(DashboardPrefsIO.model_validate({"widgets": row.widgets}))


async def put_prefs(
    session: AsyncSession, user_id: int, body: DashboardPrefsIO
) -> DashboardPrefsIO:
    row = await session.get(DashboardPrefs, user_id)
    widgets = [w.model_dump() for w in body.widgets]
    if row is None:
        session.add(DashboardPrefs(user_id=user_id, widgets=widgets))
    else:
        row.widgets = widgets
    return _complete(body)
