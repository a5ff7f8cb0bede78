"""HTTP routes for jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from dockyard.access.guard import deny
from dockyard.access.jobs import job_visible, visible_jobs
from dockyard.auth.service import Principal
from dockyard.deps import ReadSessionDep, RuntimeDep, require
from dockyard.jobs import repository
from dockyard.jobs.schemas import JobDetail, JobLineOut, JobList, JobOut, JobStatus
from dockyard.kit.errors import NotFoundError

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("", response_model=JobList)
async def list_jobs(
    principal: Annotated[Principal, Depends(require("jobs:read"))],
    session: ReadSessionDep,
    service_id: int | None = None,
    status: JobStatus | None = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobList:
    """Jobs, newest first, filtered by service, status or kind."""
    rows, total = await repository.list_page(
        session,
        service_id=service_id,
        status=status,
        kind=kind,
        limit=limit,
        offset=offset,
        where=visible_jobs(principal),
    )
    return JobList(
        items=[JobOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{job_id}", response_model=JobDetail)
async def get_job(
    job_id: str,
    principal: Annotated[Principal, Depends(require("jobs:read"))],
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> JobDetail:
    """One job with its progress lines (404 for a job of a service the caller cannot see)."""
    job = await repository.get(session, job_id)
    if job is not None and not await job_visible(session, principal, job):
        # Audited like any denial, answered like a missing id.
        await deny(
            principal,
            "jobs:read",
            request,
            runtime,
            target_type="job",
            target_id=job.id,
            reason="not_visible",
        )
        job = None
    if job is None:
        raise NotFoundError(f"Job {job_id} does not exist.", code="job_not_found")
    lines = await repository.lines(session, job_id)
    return JobDetail(
        **JobOut.model_validate(job).model_dump(),
        lines=[JobLineOut.model_validate(line) for line in lines],
    )
