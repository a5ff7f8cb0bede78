"""HTTP routes: alert channels, alert rules, alerts; the dashboard (summary, series, prefs)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from dockyard.alerts import dashboard
from dockyard.alerts import service as alerts
from dockyard.alerts.engine import engine_of
from dockyard.alerts.schemas import (
    ActivityFeed,
    AlertDetail,
    AlertList,
    AlertOut,
    ChannelIn,
    ChannelList,
    ChannelOut,
    ChannelTestResult,
    DashboardPrefsIO,
    DashboardSeries,
    DashboardSummary,
    DeliveryOut,
    RuleIn,
    RuleList,
    RuleOut,
)
from dockyard.audit.service import record
from dockyard.auth.service import Principal
from dockyard.deps import AUTHENTICATED, MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require

router = APIRouter(prefix="/api/v1", tags=["alerts"])
dashboard_router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"])

Read = Annotated[Principal, Depends(require("alerts:read"))]
Manage = Annotated[Principal, Depends(require("alerts:manage"))]


# ---------------------------------------------------------------- channels


@router.get("/alert-channels", response_model=ChannelList)
async def list_channels(
    principal: Read, runtime: RuntimeDep, session: ReadSessionDep
) -> ChannelList:
    """Every channel; secret config fields are never returned (see `secrets_set`)."""
    rows = await alerts.list_channels(session)
    return ChannelList(items=[alerts.channel_out(runtime, c) for c in rows])


@router.post("/alert-channels", response_model=ChannelOut, status_code=201)
async def create_channel(
    body: ChannelIn, principal: Manage, runtime: RuntimeDep, session: SessionDep, meta: MetaDep
) -> ChannelOut:
    """`{"name", "type": "webhook|slack|email|in_app", "config": {...}}`; secrets encrypted."""
    channel = await alerts.save_channel(runtime, session, body, principal.actor, meta)
    await session.commit()
    return alerts.channel_out(runtime, channel)


@router.get("/alert-channels/{channel_id}", response_model=ChannelOut)
async def get_channel(
    channel_id: int, principal: Read, runtime: RuntimeDep, session: ReadSessionDep
) -> ChannelOut:
    return alerts.channel_out(runtime, await alerts.get_channel(session, channel_id))


@router.put("/alert-channels/{channel_id}", response_model=ChannelOut)
async def update_channel(
    channel_id: int,
    body: ChannelIn,
    principal: Manage,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> ChannelOut:
    """Replace a channel; secret fields left out keep their stored values."""
    channel = await alerts.save_channel(runtime, session, body, principal.actor, meta, channel_id)
    await session.commit()
    return alerts.channel_out(runtime, channel)


@router.delete("/alert-channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(
    channel_id: int, principal: Manage, session: SessionDep, meta: MetaDep
) -> Response:
    await alerts.delete_channel(session, channel_id, principal.actor, meta)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/alert-channels/{channel_id}/test", response_model=ChannelTestResult)
async def test_channel(
    channel_id: int, principal: Manage, runtime: RuntimeDep, session: SessionDep, meta: MetaDep
) -> ChannelTestResult:
    """Send a test notification now (one attempt) and say whether it was accepted."""
    result = await alerts.test_channel(runtime, session, channel_id, principal.actor, meta)
    await session.commit()
    return result


@router.get("/alert-channels/{channel_id}/deliveries", response_model=list[DeliveryOut])
async def channel_deliveries(
    channel_id: int,
    principal: Read,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryOut]:
    """The latest deliveries (and tests) of a channel."""
    rows = await alerts.channel_deliveries(session, channel_id, limit)
    return [DeliveryOut.model_validate(r) for r in rows]


# ---------------------------------------------------------------- rules


@router.get("/alert-rules", response_model=RuleList)
async def list_rules(principal: Read, session: ReadSessionDep) -> RuleList:
    counts = await alerts.firing_counts(session)
    return RuleList(
        items=[alerts.rule_out(r, counts.get(r.id, 0)) for r in await alerts.list_rules(session)]
    )


@router.post("/alert-rules", response_model=RuleOut, status_code=201)
async def create_rule(
    body: RuleIn, principal: Manage, session: SessionDep, meta: MetaDep
) -> RuleOut:
    """`{"name", "condition": {"kind", ...}, "scope"?, "for_s"?, "channels": [ids]}`."""
    rule = await alerts.save_rule(session, body, principal.actor, meta)
    await session.commit()
    return alerts.rule_out(rule)


@router.get("/alert-rules/{rule_id}", response_model=RuleOut)
async def get_rule(rule_id: int, principal: Read, session: ReadSessionDep) -> RuleOut:
    counts = await alerts.firing_counts(session)
    return alerts.rule_out(await alerts.get_rule(session, rule_id), counts.get(rule_id, 0))


@router.put("/alert-rules/{rule_id}", response_model=RuleOut)
async def update_rule(
    rule_id: int, body: RuleIn, principal: Manage, session: SessionDep, meta: MetaDep
) -> RuleOut:
    rule = await alerts.save_rule(session, body, principal.actor, meta, rule_id)
    await session.commit()
    return alerts.rule_out(rule)


@router.delete("/alert-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(
    rule_id: int, principal: Manage, session: SessionDep, meta: MetaDep
) -> Response:
    """Delete a rule and its alert history."""
    await alerts.delete_rule(session, rule_id, principal.actor, meta)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- alerts


@router.get("/alerts", response_model=AlertList)
async def list_alerts(
    principal: Read,
    session: ReadSessionDep,
    status_: Annotated[Literal["firing", "resolved"] | None, Query(alias="status")] = None,
    rule_id: int | None = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AlertList:
    """Firing and resolved alerts, newest first; filter by status, rule, kind."""
    rows, total, firing = await alerts.list_alerts(
        session, status=status_, rule_id=rule_id, kind=kind, limit=limit, offset=offset
    )
    return AlertList(
        items=[AlertOut.model_validate(a) for a in rows],
        total=total,
        firing=firing,
        limit=limit,
        offset=offset,
    )


@router.get("/alerts/{alert_id}", response_model=AlertDetail)
async def get_alert(alert_id: int, principal: Read, session: ReadSessionDep) -> AlertDetail:
    """One alert with its delivery log."""
    alert, deliveries = await alerts.get_alert(session, alert_id)
    return AlertDetail(
        **AlertOut.model_validate(alert).model_dump(),
        deliveries=[DeliveryOut.model_validate(d) for d in deliveries],
    )


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut)
async def acknowledge_alert(
    alert_id: int, principal: Manage, runtime: RuntimeDep, meta: MetaDep
) -> AlertOut:
    """Acknowledge; alerts of one-off events (updates, failed jobs) are resolved by it."""
    alert = await engine_of(runtime).acknowledge(alert_id, principal.actor, meta)
    return AlertOut.model_validate(alert)


# ---------------------------------------------------------------- dashboard


@dashboard_router.get("/summary", response_model=DashboardSummary)
async def dashboard_summary(
    principal: Annotated[Principal, Depends(require("services:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> DashboardSummary:
    """Hero stats in one call (services, nodes, updates, alerts, jobs)."""
    return await dashboard.summary(runtime, session, principal)


@dashboard_router.get("/series", response_model=DashboardSeries)
async def dashboard_series(
    principal: Annotated[Principal, Depends(require("services:read"))], session: ReadSessionDep
) -> DashboardSeries:
    """Hourly alert and job counts over the last 24 hours."""
    return await dashboard.series(session)


@dashboard_router.get("/activity", response_model=ActivityFeed)
async def dashboard_activity(
    principal: Annotated[Principal, Depends(require(AUTHENTICATED))],
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ActivityFeed:
    """Recent audit events (with audit:read) and jobs, newest first."""
    return await dashboard.activity(session, principal, limit)


@dashboard_router.get("/prefs", response_model=DashboardPrefsIO)
async def get_dashboard_prefs(
    principal: Annotated[Principal, Depends(require(AUTHENTICATED))], session: ReadSessionDep
) -> DashboardPrefsIO:
    """This user's widget order and visibility (defaults until saved)."""
    return await dashboard.get_prefs(session, principal.user.id)


@dashboard_router.put("/prefs", response_model=DashboardPrefsIO)
async def put_dashboard_prefs(
    body: DashboardPrefsIO,
    principal: Annotated[Principal, Depends(require(AUTHENTICATED))],
    session: SessionDep,
    meta: MetaDep,
) -> DashboardPrefsIO:
    """Save this user's widget order and visibility."""
    saved = await dashboard.put_prefs(session, principal.user.id, body)
    await record(
        session,
        action="dashboard.prefs.update",
        actor=principal.actor,
        target_type="user",
        target_id=principal.user.id,
        details={"widgets": [w.id for w in body.widgets if w.visible]},
        meta=meta,
    )
    await session.commit()
    return saved
