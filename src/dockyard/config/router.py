"""HTTP routes for configuration as code: export, import, snapshots, diff, rollback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select

from dockyard.auth.service import Principal
from dockyard.config import service as config
from dockyard.config.kinds import KINDS, KindContext, invalid
from dockyard.config.models import ConfigSnapshot
from dockyard.config.schemas import (
    ConfigChange,
    ConfigImportResult,
    ConfigRollbackRequest,
    ConfigSnapshotDiff,
    ConfigSnapshotList,
    ConfigSnapshotOut,
)
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, check_permission, require
from dockyard.kit.responses import YamlResponse

router = APIRouter(prefix="/api/v1/config", tags=["config"])

_KINDS_DOC = f"Comma-separated kinds ({', '.join(sorted(KINDS))}); default: all."
# The document is a YAML mapping (`version`, `kinds`): clients that parse it get an object.
_YAML_DOCUMENT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/yaml": {"schema": {"type": "object"}}}}
}
_YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string"}}},
    }
}


def _changes(changes: list[config.Change]) -> list[ConfigChange]:
    return [ConfigChange(kind=c.kind, name=c.name, change=c.change) for c in changes]


@router.get(
    "/export",
    response_class=YamlResponse,
    responses=_YAML_DOCUMENT,
)
async def export_config(
    principal: Annotated[Principal, Depends(require("config:read"))],
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
    kinds: Annotated[str | None, Query(description=_KINDS_DOC)] = None,
) -> YamlResponse:
    """The configuration as one YAML document (secrets by reference only)."""
    names = config.parse_kinds(kinds)
    if names is None:
        names = [n for n, k in KINDS.items() if principal.can(k.read_permission)]
    else:
        for name in names:
            await check_permission(principal, KINDS[name].read_permission, request, runtime)
    document = await config.export_document(KindContext(session, runtime, principal), names)
    return YamlResponse(
        document,
        headers={"Content-Disposition": 'attachment; filename="dockyard-config.yaml"'},
    )


async def _read_yaml(request: Request) -> str:
    body = await request.body()
    if len(body) > config.MAX_DOCUMENT_BYTES:
        raise invalid("body", "the document is larger than 16 MiB")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid("body", "not UTF-8 text") from exc


@router.post("/import", response_model=ConfigImportResult, openapi_extra=_YAML_BODY)
async def import_config(
    principal: Annotated[Principal, Depends(require("config:import"))],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    dry_run: bool = False,
    prune: Annotated[
        bool,
        Query(description="Remove objects of the imported kinds that the document lacks."),
    ] = False,
    kinds: Annotated[str | None, Query(description=_KINDS_DOC)] = None,
) -> ConfigImportResult:
    """Apply a YAML document atomically (or only plan it with `dry_run=true`).

    Only the kinds present in the document (and named by `kinds`, if given) are touched.
    Any invalid object fails the whole import with 422 naming its path
    (`kinds.services[2].definition...`); nothing is applied.
    """
    only = config.parse_kinds(kinds)
    doc = config.load_document(await _read_yaml(request))
    names = [n for n in doc if only is None or n in only]
    for perm in config.write_permissions(names, prune):
        await check_permission(principal, perm, request, runtime)
    ctx = KindContext(session, runtime, principal, meta)
    changes = await config.apply_document(ctx, doc, only=only, prune=prune)
    if dry_run:
        await session.rollback()
        return ConfigImportResult(changes=_changes(changes), dry_run=True)
    await config.audit_import(
        ctx,
        action="config.imported",
        changes=changes,
        details={"kinds": sorted(names), "prune": prune},
    )
    snapshot = await config.store_snapshot(
        session,
        await config.export_document(KindContext(session, runtime)),
        source="import",
        actor=principal.actor,
        retention=runtime.settings.config_snapshot_retention,
    )
    await session.commit()
    for callback in ctx.after_commit:
        callback()
    return ConfigImportResult(
        changes=_changes(changes), snapshot_id=snapshot.id if snapshot is not None else None
    )


@router.get("/snapshots", response_model=ConfigSnapshotList)
async def list_snapshots(
    principal: Annotated[Principal, Depends(require("config:read"))],
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ConfigSnapshotList:
    """Configuration snapshots, newest first."""
    total = (await session.execute(select(func.count(ConfigSnapshot.id)))).scalar_one()
    rows = (
        await session.execute(
            select(ConfigSnapshot).order_by(ConfigSnapshot.id.desc()).limit(limit).offset(offset)
        )
    ).scalars()
    return ConfigSnapshotList(
        items=[ConfigSnapshotOut.model_validate(r) for r in rows],
        total=int(total),
        limit=limit,
        offset=offset,
    )


@router.get("/snapshots/diff", response_model=ConfigSnapshotDiff)
async def diff_snapshots(
    principal: Annotated[Principal, Depends(require("config:read"))],
    session: ReadSessionDep,
    from_: Annotated[int, Query(alias="from", ge=1)],
    to: Annotated[int, Query(ge=1)],
) -> ConfigSnapshotDiff:
    """Per-object changes and a unified diff from one snapshot to another."""
    left = config.decompress((await config.snapshot_or_404(session, from_)).document)
    right = config.decompress((await config.snapshot_or_404(session, to)).document)
    return ConfigSnapshotDiff(
        from_id=from_,
        to_id=to,
        changes=_changes(config.diff_documents(left, right)),
        diff=config.unified_diff(left, right, f"snapshot {from_}", f"snapshot {to}"),
    )


@router.get(
    "/snapshots/{snapshot_id}",
    response_class=YamlResponse,
    responses=_YAML_DOCUMENT,
)
async def get_snapshot(
    snapshot_id: int,
    principal: Annotated[Principal, Depends(require("config:read"))],
    session: ReadSessionDep,
) -> YamlResponse:
    """One snapshot's document (YAML)."""
    row = await config.snapshot_or_404(session, snapshot_id)
    return YamlResponse(
        config.decompress(row.document),
        headers={"Content-Disposition": f'inline; filename="dockyard-config-{row.id}.yaml"'},
    )


@router.post("/rollback", response_model=ConfigImportResult)
async def rollback(
    body: ConfigRollbackRequest,
    principal: Annotated[Principal, Depends(require("config:import"))],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> ConfigImportResult:
    """Apply a snapshot's document like an import with prune for the kinds it holds.

    Recorded as a new snapshot (source `rollback`) and audited as `config.rolled_back`.
    """
    row = await config.snapshot_or_404(session, body.snapshot_id)
    doc = config.load_document(config.decompress(row.document))
    for perm in config.write_permissions(doc, True):
        await check_permission(principal, perm, request, runtime)
    ctx = KindContext(session, runtime, principal, meta)
    changes = await config.apply_document(ctx, doc, only=None, prune=True)
    await config.audit_import(
        ctx,
        action="config.rolled_back",
        changes=changes,
        details={"snapshot_id": row.id},
    )
    snapshot = await config.store_snapshot(
        session,
        await config.export_document(KindContext(session, runtime)),
        source="rollback",
        actor=principal.actor,
        retention=runtime.settings.config_snapshot_retention,
        summary=f"Rolled back to snapshot {row.id}",
        force=True,
    )
    await session.commit()
    for callback in ctx.after_commit:
        callback()
    return ConfigImportResult(
        changes=_changes(changes), snapshot_id=snapshot.id if snapshot is not None else None
    )
