"""HTTP routes: registry credentials and update checks. Logic lives in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from dockyard.audit.service import record
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.jobs.schemas import JobAccepted, JobOut
from dockyard.jobs.service import enqueue
from dockyard.registries import jobs as registry_jobs
from dockyard.registries import repository
from dockyard.registries import service as registries
from dockyard.registries.schemas import (
    ImageUpdateStatus,
    RegistryCreate,
    RegistryList,
    RegistryOut,
    RegistryPatch,
    RegistryTestRequest,
    RegistryTestResult,
    UpdateCheckResult,
    UpdatesCheckRequest,
)
from dockyard.services import service as services

router = APIRouter(tags=["registries"])
PREFIX = "/api/v1/registries"


@router.get(PREFIX, response_model=RegistryList)
async def list_registries(
    _: Annotated[Principal, Depends(require("registries:read"))],
    session: ReadSessionDep,
) -> RegistryList:
    """Stored registries. Secrets are never returned, only `has_secret`."""
    rows = await repository.all_registries(session)
    return RegistryList(items=[registries.to_out(r) for r in rows])


@router.post(PREFIX, response_model=RegistryOut, status_code=status.HTTP_201_CREATED)
async def create_registry(
    body: RegistryCreate,
    principal: Annotated[Principal, Depends(require("registries:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    response: Response,
) -> RegistryOut:
    """Store registry credentials (the secret encrypted at rest); `verify` tests them first."""
    registry = await registries.create_registry(
        runtime, session, body, user=principal.user, actor=principal.actor, meta=meta
    )
    await session.commit()
    response.headers["Location"] = f"{PREFIX}/{registry.id}"
    return registries.to_out(registry)


@router.post(f"{PREFIX}/test", response_model=RegistryTestResult)
async def try_registry_credentials(
    body: RegistryTestRequest,
    _: Annotated[Principal, Depends(require("registries:manage"))],
    runtime: RuntimeDep,
) -> RegistryTestResult:
    """Try credentials without storing them (`GET /v2/`); a failure is a 400 or 502."""
    result = await registries.test_credentials(runtime, body)
    registries.raise_for_test(body.url, result)
    return result


@router.get(f"{PREFIX}/{{registry_id}}", response_model=RegistryOut)
async def get_registry(
    registry_id: int,
    _: Annotated[Principal, Depends(require("registries:read"))],
    session: ReadSessionDep,
) -> RegistryOut:
    """One registry (without its secret)."""
    return registries.to_out(await registries.get_or_404(session, registry_id))


@router.patch(f"{PREFIX}/{{registry_id}}", response_model=RegistryOut)
async def update_registry(
    registry_id: int,
    body: RegistryPatch,
    principal: Annotated[Principal, Depends(require("registries:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> RegistryOut:
    """Change a registry; `password` null keeps the stored secret, "" removes it."""
    registry = await registries.get_or_404(session, registry_id)
    await registries.update_registry(
        runtime, session, registry, body, actor=principal.actor, meta=meta
    )
    await session.commit()
    return registries.to_out(registry)


@router.delete(f"{PREFIX}/{{registry_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_registry(
    registry_id: int,
    principal: Annotated[Principal, Depends(require("registries:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Forget a registry and its credentials."""
    registry = await registries.get_or_404(session, registry_id)
    await registries.delete_registry(session, registry, actor=principal.actor, meta=meta)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(f"{PREFIX}/{{registry_id}}/test", response_model=RegistryTestResult)
async def test_registry_connection(
    registry_id: int,
    principal: Annotated[Principal, Depends(require("registries:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> RegistryTestResult:
    """Test the stored credentials (`GET /v2/` with Basic or a Bearer token)."""
    registry = await registries.get_or_404(session, registry_id)
    result = await registries.test_stored_registry(runtime, registry)
    await record(
        session,
        action="registry.test",
        actor=principal.actor,
        outcome="success" if result.ok else "failure",
        target_type="registry",
        target_id=registry.id,
        details={"host": registry.host, "status": result.status, "message": result.message},
        meta=meta,
    )
    await session.commit()
    registries.raise_for_test(registry.host, result)
    return result


# ---------------------------------------------------------------- update checks


@router.post("/api/v1/services/{service_id}/check-updates", response_model=UpdateCheckResult)
async def check_service_updates(
    service_id: int,
    _: Annotated[Principal, Depends(require("services:update"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> UpdateCheckResult:
    """HEAD each image's manifest in its registry and compare with the local digest.

    Never pulls. The result is stored: the service then shows `update_available`.
    """
    service = await services.get_or_404(session, service_id)
    return await registries.check_service_updates(runtime, session, service)


@router.get("/api/v1/services/{service_id}/update-check", response_model=UpdateCheckResult)
async def last_service_update_check(
    service_id: int,
    _: Annotated[Principal, Depends(require("services:read"))],
    session: ReadSessionDep,
) -> UpdateCheckResult:
    """The stored result of the last check of each image (`checked_at` null if never)."""
    service = await services.get_or_404(session, service_id)
    images = await registries.service_images(session, service)
    rows = {
        r.image: r for r in await repository.checks_for(session, [service.node_id], list(images))
    }
    statuses: list[ImageUpdateStatus] = [
        registries.status_of_row(rows[image]) for image in images if image in rows
    ]
    flags = await registries.stored_update_flags(session, [(service.node_id, list(images))])
    return UpdateCheckResult(
        service_id=service.id,
        images=statuses,
        checked_at=max((s.checked_at for s in statuses), default=None),
        update_available=flags[0],
    )


@router.post(
    "/api/v1/updates/check", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED
)
async def check_all_updates(
    principal: Annotated[Principal, Depends(require("services:update"))],
    runtime: RuntimeDep,
    session: SessionDep,
    body: UpdatesCheckRequest | None = None,
) -> JobAccepted:
    """Check every service's images as a job (one at a time)."""
    params = {"node_id": body.node_id} if body and body.node_id is not None else {}
    job = await enqueue(
        session,
        kind=registry_jobs.CHECK_ALL_KIND,
        actor=principal.actor,
        params=params,
        lock_key=registry_jobs.CHECK_ALL_LOCK,
    )
    await session.commit()
    runtime.jobs.submit(job.id)
    return JobAccepted(job=JobOut.model_validate(job))
