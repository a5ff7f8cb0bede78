"""HTTP routes of health checks. Logic lives in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy import select

from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.health import service as health
from dockyard.health.models import HealthCheck
from dockyard.health.runner import notify_changed
from dockyard.health.schemas import (
    CheckResultOut,
    HealthCheckCreate,
    HealthCheckDetail,
    HealthCheckList,
    HealthCheckOut,
    HealthCheckPatch,
    LatencyPoint,
    RunResult,
    Uptime,
)
from dockyard.kit.pagination import Page

router = APIRouter(tags=["health"])
PREFIX = "/api/v1/health-checks"


@router.get(PREFIX, response_model=HealthCheckList)
async def list_checks(
    _: Annotated[Principal, Depends(require("health:read"))],
    session: ReadSessionDep,
) -> HealthCheckList:
    """Every check with its status, last latency and uptime over 24 h / 7 d / 30 d."""
    rows = list(
        (await session.execute(select(HealthCheck).order_by(HealthCheck.name, HealthCheck.id)))
        .scalars()
        .all()
    )
    uptime = await health.uptimes(session, [r.id for r in rows])
    return HealthCheckList(items=[health.to_out(r, uptime[r.id]) for r in rows])


async def _detail(session: ReadSessionDep, check: HealthCheck) -> HealthCheckDetail:
    uptime = (await health.uptimes(session, [check.id]))[check.id]
    series = await health.latency_series(session, check.id)
    out = health.to_out(check, uptime)
    return HealthCheckDetail(
        **out.model_dump(),
        latency=[
            LatencyPoint(checked_at=r.checked_at, latency_ms=r.latency_ms, status=r.status)
            for r in series
        ],
    )


@router.post(PREFIX, response_model=HealthCheckOut, status_code=status.HTTP_201_CREATED)
async def create_check(
    body: HealthCheckCreate,
    principal: Annotated[Principal, Depends(require("health:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    response: Response,
) -> HealthCheckOut:
    """Add a check. Its target depends on `kind` (see docs/api.md)."""
    check = await health.create_check(
        session,
        body,
        box=health.header_box(runtime.auth.secret),
        user_id=principal.user.id,
        actor=principal.actor,
        meta=meta,
    )
    await session.commit()
    notify_changed(runtime)
    response.headers["Location"] = f"{PREFIX}/{check.id}"
    return health.to_out(check, Uptime(h24=None, d7=None, d30=None))  # no results yet


@router.get(f"{PREFIX}/{{check_id}}", response_model=HealthCheckDetail)
async def get_check(
    check_id: int,
    _: Annotated[Principal, Depends(require("health:read"))],
    session: ReadSessionDep,
) -> HealthCheckDetail:
    """One check with its uptime and the last 24 h of latency."""
    return await _detail(session, await health.get_or_404(session, check_id))


@router.patch(f"{PREFIX}/{{check_id}}", response_model=HealthCheckOut)
async def update_check(
    check_id: int,
    body: HealthCheckPatch,
    principal: Annotated[Principal, Depends(require("health:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> HealthCheckOut:
    """Change a check; header values sent back as `<redacted>` keep the stored ones."""
    check = await health.get_or_404(session, check_id)
    await health.update_check(
        session,
        check,
        body,
        box=health.header_box(runtime.auth.secret),
        actor=principal.actor,
        meta=meta,
    )
    uptime = (await health.uptimes(session, [check.id]))[check.id]
    await session.commit()
    notify_changed(runtime)
    return health.to_out(check, uptime)


@router.delete(f"{PREFIX}/{{check_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_check(
    check_id: int,
    principal: Annotated[Principal, Depends(require("health:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Delete a check and its history."""
    check = await health.get_or_404(session, check_id)
    await health.delete_check(session, check, actor=principal.actor, meta=meta)
    await session.commit()
    notify_changed(runtime)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(f"{PREFIX}/{{check_id}}/run", response_model=RunResult)
async def run_check(
    check_id: int,
    _: Annotated[Principal, Depends(require("health:run"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> RunResult:
    """Probe now; the result is recorded (history, transitions, remediation) and returned."""
    spec = health.CheckSpec.of(await health.get_or_404(session, check_id))
    await session.rollback()  # do not hold a read snapshot while probing
    outcome = await health.run_now(runtime, spec)
    base = CheckResultOut.model_validate(outcome.result)
    return RunResult(
        **base.model_dump(),
        check_status=outcome.check_status,
        transition=outcome.transition,
    )


@router.get(f"{PREFIX}/{{check_id}}/history", response_model=Page[CheckResultOut])
async def check_history(
    check_id: int,
    _: Annotated[Principal, Depends(require("health:read"))],
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[CheckResultOut]:
    """Results, newest first: status, latency_ms, error, remediation, checked_at."""
    await health.get_or_404(session, check_id)
    rows, total = await health.history(session, check_id, limit=limit, offset=offset)
    return Page[CheckResultOut](
        items=[CheckResultOut.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )
