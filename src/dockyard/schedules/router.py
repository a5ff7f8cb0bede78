"""HTTP routes for schedules (read-only list, run now). Owners edit them via their domain,
e.g. `PUT /api/v1/services/{id}/update-policy`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from dockyard.auth.service import Principal
from dockyard.deps import ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.jobs.schemas import JobAccepted, JobOut
from dockyard.schedules import service
from dockyard.schedules.schemas import ScheduleList, ScheduleOut

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])


@router.get("", response_model=ScheduleList)
async def list_schedules(
    principal: Annotated[Principal, Depends(require("jobs:read"))],
    session: ReadSessionDep,
) -> ScheduleList:
    """Every schedule with its job kind, next and last run and the last job's status."""
    items = []
    for row, job in await service.list_schedules(session):
        items.append(
            ScheduleOut(
                key=row.key,
                job_kind=row.job_kind,
                description=row.description,
                enabled=row.enabled,
                spec=row.spec,
                params=row.params,
                service_id=row.service_id,
                node_id=row.node_id,
                next_run_at=row.next_run_at,
                last_run_at=row.last_run_at,
                last_job_id=row.last_job_id,
                last_job_status=job.status if job is not None else None,
                claimed_by=row.claimed_by,
                claimed_until=row.claimed_until,
            )
        )
    return ScheduleList(items=items)


@router.post("/{key}/run", response_model=JobAccepted, status_code=202)
async def run_schedule_now(
    key: Annotated[str, Path(max_length=128)],
    principal: Annotated[Principal, Depends(require("services:update"))],
    runtime: RuntimeDep,
    session: SessionDep,
) -> JobAccepted:
    """Run the schedule's job now (its next regular run is unchanged)."""
    job = await service.run_now(session, key, principal.actor)
    await session.commit()
    runtime.jobs.submit(job.id)
    return JobAccepted(job=JobOut.model_validate(job))
