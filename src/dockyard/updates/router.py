"""HTTP routes: update history, rollback, update policy (and run now)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.jobs.schemas import JobAccepted, JobOut
from dockyard.kit.errors import NotFoundError
from dockyard.nodes import repository as nodes
from dockyard.services import service as services
from dockyard.services.models import Service
from dockyard.updates import repository
from dockyard.updates import service as updates
from dockyard.updates.schemas import (
    RollbackRequest,
    UpdateList,
    UpdatePolicyIn,
    UpdatePolicyOut,
)

router = APIRouter(prefix="/api/v1/services", tags=["updates"])


async def _images(runtime: Any, session: AsyncSession, service: Service) -> updates.ImageCheck:
    node = await nodes.get(session, service.node_id)
    if node is None:
        raise NotFoundError("The service's node no longer exists.", code="node_not_found")
    return updates.ImageCheck(runtime.nodes.engine_for(node))


@router.get("/{service_id}/updates", response_model=UpdateList)
async def list_updates(
    service_id: int,
    _: Annotated[Principal, Depends(require("services:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UpdateList:
    """The service's update history (updates and rollbacks), newest first."""
    service = await services.get_or_404(session, service_id)
    rows, total = await repository.list_updates(session, service.id, limit=limit, offset=offset)
    images = await _images(runtime, session, service)
    jobs = await repository.job_statuses(
        session, [r.job_id for r in rows if r.result == "running" and r.job_id]
    )
    return UpdateList(
        items=[
            await updates.update_out(r, images, jobs.get(r.job_id) if r.job_id else None)
            for r in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/{service_id}/rollback", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED
)
async def rollback(
    service_id: int,
    principal: Annotated[Principal, Depends(require("services:update"))],
    runtime: RuntimeDep,
    session: SessionDep,
    body: RollbackRequest | None = None,
) -> JobAccepted:
    """Return to the previous kept images of the last successful update (or `update_id`).

    409 when a previous image was removed from the node.
    """
    service = await services.get_or_404(session, service_id)
    job = await updates.request_rollback(
        session,
        service,
        update_id=body.update_id if body else None,
        images=await _images(runtime, session, service),
        actor=principal.actor,
    )
    await session.commit()
    runtime.jobs.submit(job.id)
    return JobAccepted(job=JobOut.model_validate(job))


@router.get("/{service_id}/update-policy", response_model=UpdatePolicyOut)
async def get_update_policy(
    service_id: int,
    _: Annotated[Principal, Depends(require("services:read"))],
    session: ReadSessionDep,
) -> UpdatePolicyOut:
    """The service's update policy (defaults when never set) and its next scheduled run."""
    service = await services.get_or_404(session, service_id)
    return await updates.policy_out(session, service)


@router.put("/{service_id}/update-policy", response_model=UpdatePolicyOut)
async def put_update_policy(
    service_id: int,
    body: UpdatePolicyIn,
    principal: Annotated[Principal, Depends(require("services:update"))],
    session: SessionDep,
    meta: MetaDep,
) -> UpdatePolicyOut:
    """Set the mode (off, notify, auto), schedule, verification and old-image removal."""
    service = await services.get_or_404(session, service_id)
    out = await updates.put_policy(session, service, body, actor=principal.actor, meta=meta)
    await session.commit()
    return out


@router.post(
    "/{service_id}/update-policy/run",
    response_model=JobAccepted,
    status_code=status.HTTP_202_ACCEPTED,
)
async def run_update_policy(
    service_id: int,
    principal: Annotated[Principal, Depends(require("services:update"))],
    runtime: RuntimeDep,
    session: SessionDep,
) -> JobAccepted:
    """Run the policy now: check for new images; in auto mode also update (a job)."""
    service = await services.get_or_404(session, service_id)
    job = await updates.request_run_now(session, service, actor=principal.actor)
    await session.commit()
    runtime.jobs.submit(job.id)
    return JobAccepted(job=JobOut.model_validate(job))
