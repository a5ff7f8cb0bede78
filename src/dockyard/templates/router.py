"""HTTP routes for templates. Logic lives in service.py, importers.py and variables.py."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import yaml
from fastapi import APIRouter, Depends, Query, Request, Response, status

from dockyard.access.guard import service_for
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, check_permission, require
from dockyard.kit.responses import YamlResponse
from dockyard.quotas.service import audited_policy, policy_context
from dockyard.services.schemas import ServiceDetail
from dockyard.templates import repository
from dockyard.templates import service as templates
from dockyard.templates.importers import export_document
from dockyard.templates.schemas import (
    TemplateCategory,
    TemplateCategoryList,
    TemplateDeployRequest,
    TemplateImportRequest,
    TemplateImportResult,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TemplateUpdateOffer,
)
from dockyard.templates.variables import mask_secrets

router = APIRouter(prefix="/api/v1/templates", tags=["templates"])
# `GET /api/v1/services/{id}/template-update` lives here: it is about the template origin.
origin_router = APIRouter(prefix="/api/v1/services", tags=["templates"])


@router.get("", response_model=TemplateList)
async def list_templates(
    _: Annotated[Principal, Depends(require("templates:read"))],
    session: ReadSessionDep,
    search: Annotated[
        str | None, Query(max_length=200, description="Part of the name, slug or description")
    ] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
) -> TemplateList:
    """The gallery: every template, searched and filtered by category, by name."""
    rows = await repository.search(session, q=search, category=category)
    return TemplateList(items=[TemplateOut.model_validate(t) for t in rows], total=len(rows))


@router.get("/categories", response_model=TemplateCategoryList)
async def list_categories(
    _: Annotated[Principal, Depends(require("templates:read"))], session: ReadSessionDep
) -> TemplateCategoryList:
    """Every category in use with its number of templates."""
    return TemplateCategoryList(
        items=[TemplateCategory(name=n, count=c) for n, c in await repository.categories(session)]
    )


@router.post("", response_model=TemplateOut, status_code=status.HTTP_201_CREATED)
async def create_template(
    body: TemplateIn,
    principal: Annotated[Principal, Depends(require("templates:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> TemplateOut:
    """Add a template in Dockyard's format."""
    template = await templates.create_template(session, body, actor=principal.actor, meta=meta)
    await session.commit()
    return TemplateOut.model_validate(template)


@router.post("/import", response_model=TemplateImportResult, status_code=status.HTTP_201_CREATED)
async def import_templates(
    body: TemplateImportRequest,
    principal: Annotated[Principal, Depends(require("templates:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> TemplateImportResult:
    """Import Portainer (v2/v3), Pterodactyl egg, compose or Dockyard templates: all or none.

    Portainer stacks kept in a git repository cannot be fetched and are listed in `skipped`.
    """
    result = await templates.import_templates(session, body, actor=principal.actor, meta=meta)
    await session.commit()
    return result


@router.get("/{template_id}", response_model=TemplateOut)
async def get_template(
    template_id: int,
    _: Annotated[Principal, Depends(require("templates:read"))],
    session: ReadSessionDep,
) -> TemplateOut:
    """One template with its variables, documentation and compose definition."""
    return TemplateOut.model_validate(await templates.get_or_404(session, template_id))


@router.put("/{template_id}", response_model=TemplateOut)
async def update_template(
    template_id: int,
    body: TemplateIn,
    principal: Annotated[Principal, Depends(require("templates:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> TemplateOut:
    """Replace a template (bump `version` so deployed services are offered the update)."""
    template = await templates.get_or_404(session, template_id)
    await templates.update_template(session, template, body, actor=principal.actor, meta=meta)
    await session.commit()
    return TemplateOut.model_validate(template)


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(
    template_id: int,
    principal: Annotated[Principal, Depends(require("templates:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Remove a template (services created from it are kept)."""
    template = await templates.get_or_404(session, template_id)
    await templates.delete_template(session, template, actor=principal.actor, meta=meta)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{template_id}/export",
    response_class=YamlResponse,
    responses={200: {"content": {"application/yaml": {}, "application/json": {}}}},
)
async def export_template(
    template_id: int,
    _: Annotated[Principal, Depends(require("templates:read"))],
    session: ReadSessionDep,
    format: Literal["yaml", "json"] = "yaml",
) -> Response:
    """The template in Dockyard's format (importable with `format: dockyard`)."""
    template = await templates.get_or_404(session, template_id)
    doc = export_document(templates.to_in(template))
    filename = f"{template.slug}.template.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "json":
        return Response(json.dumps(doc, indent=2), media_type="application/json", headers=headers)
    return YamlResponse(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), headers=headers)


@router.post(
    "/{template_id}/deploy", response_model=ServiceDetail, status_code=status.HTTP_201_CREATED
)
async def deploy_template(
    template_id: int,
    body: TemplateDeployRequest,
    principal: Annotated[Principal, Depends(require("templates:deploy"))],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    response: Response,
) -> ServiceDetail:
    """Create a service from the template with these variable values (not deployed yet).

    The same path as `POST /services`: validation, port conflicts, the container security
    policy for non-admins and quotas apply. Secret values never appear in the answer.
    """
    await check_permission(principal, "services:create", request, runtime)
    template = await templates.get_or_404(session, template_id)
    async with audited_policy(session, runtime.db, principal, meta, operation="create"):
        service, secrets = await templates.deploy_template(
            session,
            template,
            body,
            user=principal.user,
            actor=principal.actor,
            meta=meta,
            policy=await policy_context(
                session, principal, runtime.settings, service_name=body.name
            ),
        )
    await session.commit()
    response.headers["Location"] = f"/api/v1/services/{service.id}"
    detail = await runtime.service_views.detail(session, service)
    return detail.model_copy(update={"definition": mask_secrets(detail.definition, secrets)})


@origin_router.get("/{service_id}/template-update", response_model=TemplateUpdateOffer)
async def template_update(
    service_id: int,
    principal: Annotated[Principal, Depends(require("services:read"))],
    request: Request,
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> TemplateUpdateOffer:
    """For a service created from a template: a newer template version and its diff."""
    service = await service_for(session, service_id, principal, "services:read", request, runtime)
    return await templates.template_update(session, service)
