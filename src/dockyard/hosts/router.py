"""HTTP routes of the host inventory. Logic lives in service.py and csv_io.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import IntegrityError

from dockyard.artifacts import storage
from dockyard.audit.service import record
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.hosts import csv_io, repository, service, ssh
from dockyard.hosts.schemas import (
    BulkTagRequest,
    BulkTagResult,
    HostCreate,
    HostFacets,
    HostList,
    HostOut,
    HostPatch,
    ImportResult,
    SshCommandOut,
    SshTemplateIn,
    SshTemplateOut,
)
from dockyard.kit.clock import utcnow

router = APIRouter(prefix="/api/v1/hosts", tags=["hosts"])

Search = Annotated[
    str | None, Query(max_length=200, description="Part of the hostname, address or notes")
]
EnvironmentFilter = Annotated[str | None, Query(max_length=64)]
TagFilter = Annotated[str | None, Query(max_length=64, description="Hosts with this tag")]


@router.get("", response_model=HostList)
async def list_hosts(
    _: Annotated[Principal, Depends(require("hosts:read"))],
    session: ReadSessionDep,
    q: Search = None,
    environment: EnvironmentFilter = None,
    tag: TagFilter = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HostList:
    """Hosts by hostname, searched and filtered, one offset page at a time."""
    rows, total = await repository.page(
        session, q=q, environment=environment, tag=tag, limit=limit, offset=offset
    )
    counts = await repository.artifact_counts(session, [h.id for h in rows])
    return HostList(
        items=[service.to_out(h, counts.get(h.id, 0)) for h in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/facets", response_model=HostFacets)
async def host_facets(
    _: Annotated[Principal, Depends(require("hosts:read"))], session: ReadSessionDep
) -> HostFacets:
    """Every environment and tag in use, for the list's filters."""
    environments, tags = await repository.facets(session)
    return HostFacets(environments=environments, tags=tags)


@router.post("", response_model=HostOut, status_code=status.HTTP_201_CREATED)
async def create_host(
    body: HostCreate,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    session: SessionDep,
    meta: MetaDep,
    response: Response,
) -> HostOut:
    """Add a host; the owner defaults to the caller. 409 if the hostname exists."""
    host = await service.create_host(session, body, principal, meta)
    await session.commit()
    response.headers["Location"] = f"/api/v1/hosts/{host.id}"
    return service.to_out(host)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_hosts(
    _: Annotated[Principal, Depends(require("hosts:read"))],
    runtime: RuntimeDep,
    q: Search = None,
    environment: EnvironmentFilter = None,
    tag: TagFilter = None,
) -> StreamingResponse:
    """Stream matching hosts as CSV in the import's format (cells that a spreadsheet would
    run as a formula are prefixed with `'`)."""

    async def lines() -> AsyncIterator[str]:
        yield csv_io.header_line()
        async with runtime.db.read_session() as session:
            async for host in repository.iterate(session, q, environment, tag):
                yield csv_io.export_line(host)

    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="dockyard-hosts-{stamp}.csv"'},
    )


@router.post(
    "/import",
    response_model=ImportResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "Header row: " + ",".join(csv_io.COLUMNS),
                    }
                }
            },
        }
    },
    responses={413: {"description": "Body over DOCKYARD_HOST_IMPORT_MAX_BYTES"}, 415: {}},
)
async def import_hosts(
    request: Request,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    runtime: RuntimeDep,
    meta: MetaDep,
    dry_run: bool = False,
) -> ImportResult:
    """Upsert hosts by hostname from a CSV body (see docs/api.md for the format).

    Each bad row is reported (`row`, `field`, `message`) and skipped; the good rows are
    written in one transaction. `dry_run=true` validates and counts without writing.
    """
    csv_io.check_content_type(request.headers.get("content-type"))
    limit = runtime.settings.host_import_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise csv_io.too_large(limit)
    source = await csv_io.spool(request.stream(), limit)
    try:
        if dry_run:
            async with runtime.db.read_session() as session:
                return await csv_io.import_csv(
                    session,
                    source,
                    dry_run=True,
                    actor=principal.actor,
                    owner_id=principal.user.id,
                    meta=meta,
                )
        try:
            async with runtime.db.session() as session:
                result = await csv_io.import_csv(
                    session,
                    source,
                    dry_run=False,
                    actor=principal.actor,
                    owner_id=principal.user.id,
                    meta=meta,
                )
                await session.commit()
                return result
        except IntegrityError as exc:
            raise csv_io.import_conflict() from exc
    finally:
        source.close()


@router.post("/bulk-tag", response_model=BulkTagResult)
async def bulk_tag_hosts(
    body: BulkTagRequest,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> BulkTagResult:
    """Add and remove tags on many hosts at once (all or none: an unknown id is a 404)."""
    updated = await service.bulk_tag(
        session, body.ids, body.add, body.remove, principal.actor, meta
    )
    await session.commit()
    return BulkTagResult(updated=updated)


@router.get("/ssh-template", response_model=SshTemplateOut)
async def get_ssh_template(
    _: Annotated[Principal, Depends(require("hosts:read"))], session: ReadSessionDep
) -> SshTemplateOut:
    """The global SSH command template (the built-in default until one is saved)."""
    row = await service.global_template(session)
    if row is None:
        return SshTemplateOut(template=ssh.DEFAULT_TEMPLATE)
    return SshTemplateOut(template=row.template, updated_at=row.updated_at)


@router.put("/ssh-template", response_model=SshTemplateOut)
async def put_ssh_template(
    body: SshTemplateIn,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> SshTemplateOut:
    """Save the global SSH command template; an unknown placeholder is a 422."""
    row = await service.set_global_template(session, body.template, principal.actor, meta)
    await session.commit()
    return SshTemplateOut(template=row.template, updated_at=row.updated_at)


@router.get("/{host_id}", response_model=HostOut)
async def get_host(
    host_id: int,
    _: Annotated[Principal, Depends(require("hosts:read"))],
    session: ReadSessionDep,
) -> HostOut:
    host = await service.get_or_404(session, host_id)
    counts = await repository.artifact_counts(session, [host.id])
    return service.to_out(host, counts.get(host.id, 0))


@router.patch("/{host_id}", response_model=HostOut)
async def update_host(
    host_id: int,
    body: HostPatch,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> HostOut:
    """Change the given fields; `null` clears an optional one."""
    host = await service.get_or_404(session, host_id)
    await service.update_host(session, host, body, principal.actor, meta)
    await session.commit()
    counts = await repository.artifact_counts(session, [host.id])
    return service.to_out(host, counts.get(host.id, 0))


@router.delete("/{host_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_host(
    host_id: int,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Delete the host and its artifacts (rows and files)."""
    host = await service.get_or_404(session, host_id)
    files = await service.delete_host(session, host, principal.actor, meta)
    await session.commit()
    storage.remove_files(runtime.settings, files)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{host_id}/ssh-command", response_model=SshCommandOut)
async def get_ssh_command(
    host_id: int,
    principal: Annotated[Principal, Depends(require("hosts:ssh"))],
    session: SessionDep,
    meta: MetaDep,
) -> SshCommandOut:
    """The host's SSH command from its template (or the global one), values shell-quoted.

    The UI calls this when the user copies the command: audited as `host.ssh_command.copied`.
    """
    host = await service.get_or_404(session, host_id)
    command = await service.ssh_command(session, host)
    await record(
        session,
        action="host.ssh_command.copied",
        actor=principal.actor,
        target_type="host",
        target_id=host.id,
        details={"hostname": host.hostname},
        meta=meta,
    )
    await session.commit()
    return SshCommandOut(command=command)
