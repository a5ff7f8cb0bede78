"""HTTP routes of host artifacts. Logic lives in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import FileResponse

from dockyard.artifacts import repository, service, storage
from dockyard.artifacts.schemas import ArtifactList, ArtifactOut
from dockyard.audit.service import record
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, require
from dockyard.hosts import service as hosts
from dockyard.kit.errors import NotFoundError

router = APIRouter(tags=["artifacts"])


@router.get("/api/v1/hosts/{host_id}/artifacts", response_model=ArtifactList)
async def list_artifacts(
    host_id: int,
    _: Annotated[Principal, Depends(require("artifacts:read"))],
    session: ReadSessionDep,
) -> ArtifactList:
    """The host's artifacts, newest first."""
    await hosts.get_or_404(session, host_id)
    rows = await repository.of_host(session, host_id)
    return ArtifactList(items=[ArtifactOut.model_validate(r) for r in rows])


@router.post(
    "/api/v1/hosts/{host_id}/artifacts",
    response_model=ArtifactOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            },
        }
    },
    responses={413: {"description": "Over DOCKYARD_ARTIFACT_MAX_BYTES"}, 415: {}},
)
async def upload_artifact(
    host_id: int,
    request: Request,
    principal: Annotated[Principal, Depends(require("artifacts:upload"))],
    runtime: RuntimeDep,
    meta: MetaDep,
    response: Response,
) -> ArtifactOut:
    """Upload a file (multipart field `file`), streamed to disk and hashed on the way."""
    async with runtime.db.read_session() as session:
        await hosts.get_or_404(session, host_id)
    part, filename, size, sha256 = await service.receive_upload(
        runtime,
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        request.stream(),
    )
    artifact = await service.store(runtime, host_id, part, filename, size, sha256, principal, meta)
    response.headers["Location"] = f"/api/v1/artifacts/{artifact.id}/download"
    return ArtifactOut.model_validate(artifact)


@router.get(
    "/api/v1/artifacts/{artifact_id}/download",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download_artifact(
    artifact_id: int,
    principal: Annotated[Principal, Depends(require("artifacts:read"))],
    runtime: RuntimeDep,
    meta: MetaDep,
) -> FileResponse:
    """The file's bytes, streamed, always as `application/octet-stream` attachment."""
    async with runtime.db.session() as session:
        artifact = await service.get_or_404(session, artifact_id)
        await record(
            session,
            action="artifact.downloaded",
            actor=principal.actor,
            target_type="artifact",
            target_id=artifact.id,
            details={"host_id": artifact.host_id, "filename": artifact.filename},
            meta=meta,
        )
        await session.commit()
    path = storage.path_of(runtime.settings, artifact.storage_name)
    if not path.is_file():
        raise NotFoundError(
            "The artifact's file is missing from the data dir.", code="artifact_file_missing"
        )
    return FileResponse(
        path,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": storage.content_disposition(artifact.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "X-Checksum-SHA256": artifact.sha256,
        },
    )


@router.delete("/api/v1/artifacts/{artifact_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_artifact(
    artifact_id: int,
    principal: Annotated[Principal, Depends(require("artifacts:delete"))],
    runtime: RuntimeDep,
    meta: MetaDep,
) -> Response:
    """Delete the artifact's row and file."""
    await service.delete_artifact(runtime, artifact_id, principal.actor, meta)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
