"""HTTP routes for adopting what already runs on a node. Logic lives in adoption.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from dockyard.access.service import sees_all
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.jobs.schemas import JobOut
from dockyard.kit.errors import PermissionDeniedError
from dockyard.quotas.service import audited_policy, policy_context
from dockyard.services import adoption
from dockyard.services.adoption import AdoptRequest, AdoptResult, UnmanagedOut

router = APIRouter(prefix="/api/v1")


def _refuse_tenants(principal: Principal) -> None:
    """Unmanaged containers belong to nobody: only callers who see every service may look."""
    if not sees_all(principal):
        raise PermissionDeniedError(
            "Adopting containers needs access to every service on the node.",
            details={"permission": "services:adopt"},
        )


@router.get("/nodes/{node_id}/unmanaged", response_model=UnmanagedOut, tags=["nodes"])
async def list_unmanaged(
    node_id: int,
    principal: Annotated[Principal, Depends(require("services:adopt"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> UnmanagedOut:
    """Compose projects and loose containers on the node that Dockyard does not manage."""
    _refuse_tenants(principal)
    node = await adoption.node_or_404(session, node_id)
    return await adoption.list_unmanaged(runtime.nodes.engine_for(node), runtime.instance_id)


@router.post(
    "/services/adopt",
    response_model=AdoptResult,
    status_code=status.HTTP_201_CREATED,
    tags=["services"],
)
async def adopt(
    body: AdoptRequest,
    principal: Annotated[Principal, Depends(require("services:adopt"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    response: Response,
) -> AdoptResult:
    """Adopt a compose project or loose containers: a new service and the deploy taking over."""
    _refuse_tenants(principal)
    async with audited_policy(session, runtime.db, principal, meta, operation="adopt"):
        adopted = await adoption.adopt(
            session,
            runtime,
            body,
            user=principal.user,
            actor=principal.actor,
            meta=meta,
            policy=await policy_context(
                session, principal, runtime.settings, service_name=body.name or body.project
            ),
        )
    await session.commit()
    runtime.jobs.submit(adopted.job.id)
    service = adopted.service
    response.headers["ETag"] = f'"rev-{service.latest_revision}"'
    response.headers["Location"] = f"/api/v1/services/{service.id}"
    detail = await runtime.service_views.detail(session, service)
    return AdoptResult(
        **detail.model_dump(),
        job=JobOut.model_validate(adopted.job),
        warnings=adopted.warnings,
    )
