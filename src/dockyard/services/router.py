"""HTTP routes for services. Logic lives in service.py, views.py and operations.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import PlainTextResponse

from dockyard.access.guard import service_for
from dockyard.access.service import scope_of, sees_all, visible_filter
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, check_permission, require
from dockyard.jobs.schemas import JobAccepted, JobOut
from dockyard.kit.errors import DockyardError, ValidationFailedError
from dockyard.kit.responses import YamlResponse
from dockyard.placement.service import Placer
from dockyard.quotas.service import audited_policy, policy_context
from dockyard.services import repository
from dockyard.services import service as services
from dockyard.services.compose import ComposeError, parse_definition
from dockyard.services.compose.policy import PolicyViolationError, enforce_container_policy
from dockyard.services.definitions import canonical_json, parse_input, port_conflicts
from dockyard.services.logs import fetch_service_logs, render_json, render_text
from dockyard.services.schemas import (
    ActionRequest,
    DefinitionIssue,
    LogsOut,
    RestoreRequest,
    RevisionDetail,
    RevisionDiff,
    RevisionList,
    RevisionOut,
    ServiceAction,
    ServiceCreate,
    ServiceDetail,
    ServiceList,
    ServiceUpdate,
    ValidateRequest,
    ValidateResult,
)

router = APIRouter(prefix="/api/v1/services", tags=["services"])

# The permission each action of `POST /services/{id}/{action}` needs (beyond services:read).
ACTION_PERMISSIONS: dict[str, str] = {
    "deploy": "services:deploy",
    "start": "services:deploy",
    "stop": "services:deploy",
    "restart": "services:deploy",
    "pull": "services:update",
    "update": "services:update",
    "delete": "services:delete",
}
_ETAG = re.compile(r'^(?:W/)?"rev-(\d+)"$')


def _owner_visible(principal: Principal) -> Callable[[int | None], bool]:
    """Whether the caller may see the name of a service owned by `owner_id`."""
    see_all = sees_all(principal)
    return lambda owner_id: see_all or owner_id == principal.user.id


def _etag(revision: int) -> str:
    return f'"rev-{revision}"'


def _if_match_revision(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    match = _ETAG.match(if_match.strip())
    if match is None:
        raise DockyardError(
            'If-Match must be an ETag of this service, like "rev-3".', code="invalid_if_match"
        )
    return int(match.group(1))


@router.get("", response_model=ServiceList)
async def list_services(
    principal: Annotated[Principal, Depends(require("services:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
    node_id: int | None = None,
    search: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Services with live status from the state cache."""
    # Already `ServiceList` JSON (cached per query); `response_model` documents it.
    # Filtered in the query; the cache key includes who sees what (None: everything).
    body = await runtime.service_views.list_json(
        session,
        node_id=node_id,
        search=search,
        limit=limit,
        offset=offset,
        visible=visible_filter(principal),
        visibility_key=scope_of(principal).cache_key,
    )
    return Response(content=body, media_type="application/json")


@router.post("", response_model=ServiceDetail, status_code=status.HTTP_201_CREATED)
async def create_service(
    body: ServiceCreate,
    principal: Annotated[Principal, Depends(require("services:create"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    response: Response,
) -> ServiceDetail:
    """Create a service from a definition object or compose YAML (not deployed yet)."""
    async with audited_policy(session, runtime.db, principal, meta, operation="create"):
        service = await services.create_service(
            session,
            body,
            user=principal.user,
            actor=principal.actor,
            meta=meta,
            policy=await policy_context(
                session, principal, runtime.settings, service_name=body.name
            ),
            placer=Placer(runtime, can_see=_owner_visible(principal)),
        )
    await session.commit()
    response.headers["ETag"] = _etag(service.latest_revision)
    response.headers["Location"] = f"/api/v1/services/{service.id}"
    return await runtime.service_views.detail(session, service)


@router.post("/validate", response_model=ValidateResult)
async def validate_definition(
    body: ValidateRequest,
    principal: Annotated[Principal, Depends(require("services:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> ValidateResult:
    """Check a definition without saving it (the editor's inline errors).

    For a non-admin the container security policy is checked too (issues carry its `rule`)
    and the definition returned is the one that would be saved, forced limits included.
    """
    try:
        defn = parse_input(definition=body.definition, compose=body.compose, env=body.env)
        context = await policy_context(session, principal, runtime.settings)
        defn = enforce_container_policy(defn, context)
    except (ValidationFailedError, PolicyViolationError) as exc:
        issues = [DefinitionIssue(**e) for e in exc.details.get("errors", [])]
        return ValidateResult(valid=False, issues=issues, definition=None)
    issues = []
    if body.node_id is not None:
        others = [
            s for s in await repository.on_node(session, body.node_id) if s.id != body.service_id
        ]
        latest = await repository.latest_revisions(session, others)
        try:
            # A tenant learns that a port is taken, not other people's service names.
            see_all = sees_all(principal)
            pairs = [
                (
                    s.name if see_all or s.owner_id == principal.user.id else "another service",
                    parse_definition(latest[s.id].definition, validate=False),
                )
                for s in others
                if s.id in latest
            ]
        except ComposeError:
            pairs = []
        issues = [
            DefinitionIssue(path=i.path, message=i.message) for i in port_conflicts(defn, pairs)
        ]
    return ValidateResult(valid=not issues, issues=issues, definition=canonical_json(defn))


@router.get("/{service_id}", response_model=ServiceDetail)
async def get_service(
    service_id: int,
    principal: Annotated[Principal, Depends(require("services:read"))],
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
    response: Response,
) -> ServiceDetail:
    """One service with its containers, status, drift and latest definition."""
    service = await service_for(session, service_id, principal, "services:read", request, runtime)
    response.headers["ETag"] = _etag(service.latest_revision)
    return await runtime.service_views.detail(session, service)


@router.put("/{service_id}", response_model=ServiceDetail)
async def update_service(
    service_id: int,
    body: ServiceUpdate,
    principal: Annotated[Principal, Depends(require("services:edit"))],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> ServiceDetail:
    """Edit a service; a changed definition becomes a new revision (409 when stale)."""
    service = await service_for(session, service_id, principal, "services:edit", request, runtime)
    async with audited_policy(
        session, runtime.db, principal, meta, operation="update", target_id=service_id
    ):
        await services.update_service(
            session,
            service,
            body,
            expected_revision=_if_match_revision(if_match),
            user=principal.user,
            actor=principal.actor,
            meta=meta,
            policy=await policy_context(
                session, principal, runtime.settings, service_name=service.name
            ),
            placer=Placer(runtime, can_see=_owner_visible(principal)),
        )
    await session.commit()
    response.headers["ETag"] = _etag(service.latest_revision)
    return await runtime.service_views.detail(session, service)


@router.post(
    "/{service_id}/{action}",
    response_model=JobAccepted,
    status_code=status.HTTP_202_ACCEPTED,
)
async def service_action(
    request: Request,
    service_id: int,
    action: ServiceAction,
    principal: Annotated[Principal, Depends(require("services:read"))],
    runtime: RuntimeDep,
    session: SessionDep,
    body: ActionRequest | None = None,
) -> JobAccepted:
    """Start an operation as a job: deploy, start, stop, restart, pull, update or delete."""
    await check_permission(principal, ACTION_PERMISSIONS[action], request, runtime)
    service = await service_for(
        session, service_id, principal, ACTION_PERMISSIONS[action], request, runtime
    )
    params: dict[str, object] = {}
    if action == "delete" and body is not None and body.remove_volumes:
        if body.confirm != service.name:
            raise ValidationFailedError(
                "Removing volumes deletes their data: confirm with the service name.",
                code="confirmation_required",
                details={
                    "errors": [{"path": "body.confirm", "message": "must be the service name"}]
                },
            )
        params["remove_volumes"] = True
    job = await services.request_action(
        session, service, action, actor=principal.actor, params=params
    )
    await session.commit()
    runtime.jobs.submit(job.id)
    return JobAccepted(job=JobOut.model_validate(job))


@router.get(
    "/{service_id}/compose",
    response_class=YamlResponse,
    responses={200: {"content": {"application/yaml": {}}}},
)
async def export_compose(
    service_id: int,
    principal: Annotated[Principal, Depends(require("services:read"))],
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
    revision: int | None = None,
) -> YamlResponse:
    """The service (latest or a given revision) as docker-compose YAML."""
    service = await service_for(session, service_id, principal, "services:read", request, runtime)
    rev = await services.revision_or_404(session, service, revision or service.latest_revision)
    return YamlResponse(
        services.revision_yaml(service, rev),
        headers={"Content-Disposition": f'inline; filename="{service.name}.compose.yaml"'},
    )


@router.get("/{service_id}/logs", response_model=LogsOut)
async def service_logs(
    service_id: int,
    principal: Annotated[Principal, Depends(require("services:logs"))],
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
    tail: Annotated[int, Query(ge=1, le=100_000)] = 100,
    container: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[int | None, Query(ge=0, description="Unix seconds")] = None,
    timestamps: bool = True,
    download: bool = False,
) -> Response:
    """The last `tail` lines of each container of the service, running or stopped."""
    service = await service_for(session, service_id, principal, "services:logs", request, runtime)
    lines = await fetch_service_logs(runtime, service, tail=tail, container=container, since=since)
    if download:
        return PlainTextResponse(
            render_text(lines, timestamps=timestamps),
            headers={"Content-Disposition": f'attachment; filename="{service.name}.log"'},
        )
    # Already `LogsOut` JSON; `response_model` documents it.
    return Response(render_json(lines, timestamps=timestamps), media_type="application/json")


@router.get("/{service_id}/revisions", response_model=RevisionList)
async def list_revisions(
    service_id: int,
    principal: Annotated[Principal, Depends(require("services:read"))],
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> RevisionList:
    """Every saved revision, newest first."""
    service = await service_for(session, service_id, principal, "services:read", request, runtime)
    rows = await repository.revisions(session, service.id)
    return RevisionList(
        items=[RevisionOut.model_validate(r) for r in rows],
        deployed_revision=service.deployed_revision,
        latest_revision=service.latest_revision,
    )


@router.get("/{service_id}/revisions/diff", response_model=RevisionDiff)
async def diff_revisions(
    service_id: int,
    principal: Annotated[Principal, Depends(require("services:read"))],
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
    from_: Annotated[int, Query(alias="from", ge=1)],
    to: Annotated[int, Query(ge=1)],
) -> RevisionDiff:
    """A unified diff between two revisions' compose YAML."""
    service = await service_for(session, service_id, principal, "services:read", request, runtime)
    return await services.diff_revisions(session, service, from_, to)


@router.get("/{service_id}/revisions/{number}", response_model=RevisionDetail)
async def get_revision(
    service_id: int,
    number: int,
    principal: Annotated[Principal, Depends(require("services:read"))],
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> RevisionDetail:
    """One revision with its definition and compose YAML."""
    service = await service_for(session, service_id, principal, "services:read", request, runtime)
    return services.revision_detail(
        service, await services.revision_or_404(session, service, number)
    )


@router.post(
    "/{service_id}/revisions/{number}/restore",
    response_model=RevisionDetail,
    status_code=status.HTTP_201_CREATED,
)
async def restore_revision(
    service_id: int,
    number: int,
    principal: Annotated[Principal, Depends(require("services:edit"))],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    body: RestoreRequest | None = None,
) -> RevisionDetail:
    """Save an old revision's definition as the new latest revision (not deployed)."""
    service = await service_for(session, service_id, principal, "services:edit", request, runtime)
    async with audited_policy(
        session, runtime.db, principal, meta, operation="restore", target_id=service_id
    ):
        rev = await services.restore_revision(
            session,
            service,
            number,
            comment=body.comment if body else "",
            user=principal.user,
            actor=principal.actor,
            meta=meta,
            policy=await policy_context(
                session, principal, runtime.settings, service_name=service.name
            ),
        )
    await session.commit()
    return services.revision_detail(service, rev)
