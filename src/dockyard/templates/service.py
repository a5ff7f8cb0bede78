"""Template logic: create, import (all or nothing), deploy through the services path,
update offers, and the starter catalog. Callers commit."""

from __future__ import annotations

import difflib
from importlib import resources
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.kit.db import Database
from dockyard.kit.errors import ConflictError, NotFoundError
from dockyard.kit.request_meta import RequestMeta
from dockyard.services import service as services
from dockyard.services.compose import (
    ComposeError,
    ComposeIssue,
    export_compose_yaml,
    parse_definition,
)
from dockyard.services.compose.policy import PolicyContext
from dockyard.services.models import Service
from dockyard.services.schemas import ServiceCreate
from dockyard.templates import importers, repository
from dockyard.templates.models import Template, TemplateDeployment
from dockyard.templates.schemas import (
    TemplateDeployRequest,
    TemplateImportRequest,
    TemplateImportResult,
    TemplateImportSkipped,
    TemplateIn,
    TemplateOut,
    TemplateUpdateOffer,
    TemplateVariable,
)
from dockyard.templates.variables import (
    SECRET_MASK,
    check_template,
    mask_secrets,
    masked_values,
    public_values,
    render,
    resolve_values,
)
from dockyard.users.models import User

log = structlog.get_logger(__name__)


def variables_of(template: Template) -> list[TemplateVariable]:
    return [TemplateVariable.model_validate(v) for v in template.variables]


def to_in(template: Template) -> TemplateIn:
    return TemplateIn(
        name=template.name,
        slug=template.slug,
        description=template.description,
        category=template.category,
        icon=template.icon,
        documentation=template.documentation,
        version=template.version,
        variables=variables_of(template),
        compose=template.compose,
    )


async def get_or_404(session: AsyncSession, template_id: int) -> Template:
    template = await repository.get(session, template_id)
    if template is None:
        raise NotFoundError(f"Template {template_id} does not exist.", code="template_not_found")
    return template


async def _free_slug(session: AsyncSession, slug: str, taken: set[str]) -> str:
    used = taken | await repository.slugs_like(session, slug)
    if slug not in used:
        return slug
    n = 2
    while f"{slug[:58]}-{n}" in used:
        n += 1
    return f"{slug[:58]}-{n}"


def _apply(template: Template, body: TemplateIn) -> None:
    template.name = body.name
    template.description = body.description
    template.category = body.category.strip().lower()
    template.icon = body.icon
    template.documentation = body.documentation
    template.version = body.version
    template.variables = [v.model_dump() for v in body.variables]
    template.compose = body.compose


async def _add(
    session: AsyncSession,
    body: TemplateIn,
    *,
    slug: str,
    source_format: str,
    builtin: bool = False,
) -> Template:
    template = Template(slug=slug, source_format=source_format, builtin=builtin)
    _apply(template, body)
    session.add(template)
    await session.flush()
    return template


def _slug_conflict(slug: str, path: str = "slug") -> ConflictError:
    return ConflictError(
        f"A template with slug {slug} already exists.",
        code="template_exists",
        details={"errors": [{"path": path, "message": "already exists"}]},
    )


async def create_template(
    session: AsyncSession, body: TemplateIn, *, actor: Actor, meta: RequestMeta | None
) -> Template:
    check_template(body.compose, body.variables)
    if body.slug is not None:
        if await repository.by_slug(session, body.slug):
            raise _slug_conflict(body.slug)
        slug = body.slug
    else:
        slug = await _free_slug(session, importers.slugify(body.name), set())
    template = await _add(session, body, slug=slug, source_format="dockyard")
    await _audit(session, "template.created", template, actor, meta)
    return template


async def update_template(
    session: AsyncSession,
    template: Template,
    body: TemplateIn,
    *,
    actor: Actor,
    meta: RequestMeta | None,
) -> Template:
    check_template(body.compose, body.variables)
    if body.slug is not None and body.slug != template.slug:
        if await repository.by_slug(session, body.slug):
            raise _slug_conflict(body.slug)
        template.slug = body.slug
    _apply(template, body)
    await session.flush()
    await _audit(session, "template.updated", template, actor, meta)
    return template


async def delete_template(
    session: AsyncSession, template: Template, *, actor: Actor, meta: RequestMeta | None
) -> None:
    await _audit(session, "template.deleted", template, actor, meta)
    await session.delete(template)
    await session.flush()


async def _audit(
    session: AsyncSession,
    action: str,
    template: Template,
    actor: Actor,
    meta: RequestMeta | None,
    **extra: Any,
) -> None:
    await record(
        session,
        action=action,
        actor=actor,
        target_type="template",
        target_id=template.id,
        details={"slug": template.slug, "version": template.version, **extra},
        meta=meta,
    )


async def import_templates(
    session: AsyncSession, body: TemplateImportRequest, *, actor: Actor, meta: RequestMeta | None
) -> TemplateImportResult:
    """Every template of the document, or none (the caller commits only on success)."""
    outcome = importers.IMPORTERS[body.format](body.content)
    taken: set[str] = set()
    created: list[Template] = []
    for path, item, explicit in outcome.templates:
        assert item.slug is not None  # importers always set one
        if explicit:
            if item.slug in taken or await repository.by_slug(session, item.slug):
                raise _slug_conflict(item.slug, f"{path}.slug" if path else "slug")
            slug = item.slug
        else:
            slug = await _free_slug(session, item.slug, taken)
        taken.add(slug)
        template = await _add(session, item, slug=slug, source_format=body.format)
        await _audit(session, "template.imported", template, actor, meta, format=body.format)
        created.append(template)
    return TemplateImportResult(
        items=[TemplateOut.model_validate(t) for t in created],
        skipped=[TemplateImportSkipped(**s) for s in outcome.skipped],
    )


def _masked_issue_error(exc: ComposeError, secrets: list[str]) -> ComposeError:
    return ComposeError(
        [ComposeIssue(i.path, str(mask_secrets(i.message, secrets))) for i in exc.issues]
    )


async def deploy_template(
    session: AsyncSession,
    template: Template,
    body: TemplateDeployRequest,
    *,
    user: User | None,
    actor: Actor,
    meta: RequestMeta | None,
    policy: PolicyContext | None,
) -> tuple[Service, list[str]]:
    """Create a service from the template (not deployed yet); returns it and the secret values.

    Goes through `services.service.create_service`, so validation, port conflicts, the
    container policy and quotas apply exactly as for a service created by hand.
    """
    variables = variables_of(template)
    values = resolve_values(variables, dict(body.variables))
    secrets = [values[v.name] for v in variables if v.type == "secret" and values.get(v.name)]
    try:
        rendered = render(template.compose, values)
    except ComposeError as exc:
        raise _masked_issue_error(exc, secrets) from None
    create = ServiceCreate(
        name=body.name,
        node_id=body.node_id,
        definition=rendered,
        comment=f"from template {template.slug} {template.version}"[:500],
        source="api",
    )
    try:
        service = await services.create_service(
            session, create, user=user, actor=actor, meta=meta, origin="template", policy=policy
        )
    except ComposeError as exc:
        raise _masked_issue_error(exc, secrets) from None
    public = public_values(variables, values)
    session.add(
        TemplateDeployment(
            service_id=service.id,
            template_id=template.id,
            template_slug=template.slug,
            version=template.version,
            variables=public,
            rendered=_safe_render(template.compose, masked_values(variables, values)),
        )
    )
    await _audit(
        session,
        "template.deployed",
        template,
        actor,
        meta,
        service_id=service.id,
        service=service.name,
        variables=public,
    )
    return service, secrets


def _safe_render(compose: str, values: dict[str, str]) -> dict[str, Any]:
    try:
        return render(compose, values)
    except ComposeError:
        return {}


def _yaml(rendered: dict[str, Any], project: str) -> str:
    if not rendered:
        return ""
    try:
        return export_compose_yaml(parse_definition(rendered, validate=False), project_name=project)
    except (ComposeError, ValueError, TypeError):
        return ""


async def template_update(session: AsyncSession, service: Service) -> TemplateUpdateOffer:
    """Whether the service's template has a newer version, with a diff of the rendering."""
    deployment = await repository.deployment_of(session, service.id)
    if deployment is None:
        return TemplateUpdateOffer(
            service_id=service.id,
            from_template=False,
            template_id=None,
            template_slug=None,
            current_version=None,
            latest_version=None,
            update_available=False,
            diff="",
            changed_services=[],
        )
    template = (
        await repository.get(session, deployment.template_id)
        if deployment.template_id is not None
        else None
    )
    if template is None or template.version == deployment.version:
        return TemplateUpdateOffer(
            service_id=service.id,
            from_template=True,
            template_id=deployment.template_id,
            template_slug=deployment.template_slug,
            current_version=deployment.version,
            latest_version=template.version if template else None,
            update_available=False,
            diff="",
            changed_services=[],
        )
    values: dict[str, str] = {}
    for var in variables_of(template):
        if var.type == "secret":
            values[var.name] = SECRET_MASK
        else:
            values[var.name] = str(deployment.variables.get(var.name, var.default or ""))
    new = _safe_render(template.compose, values)
    old_yaml = _yaml(deployment.rendered, service.name)
    new_yaml = _yaml(new, service.name)
    diff = "".join(
        difflib.unified_diff(
            old_yaml.splitlines(keepends=True),
            new_yaml.splitlines(keepends=True),
            fromfile=f"{template.slug} {deployment.version}",
            tofile=f"{template.slug} {template.version}",
        )
    )
    old_services = deployment.rendered.get("services", {}) or {}
    new_services = new.get("services", {}) or {}
    changed = sorted(
        name
        for name in set(old_services) | set(new_services)
        if old_services.get(name) != new_services.get(name)
    )
    return TemplateUpdateOffer(
        service_id=service.id,
        from_template=True,
        template_id=template.id,
        template_slug=template.slug,
        current_version=deployment.version,
        latest_version=template.version,
        update_available=True,
        diff=diff,
        changed_services=changed,
    )


# ---------------------------------------------------------------- starter catalog


def catalog_templates() -> list[TemplateIn]:
    """The templates shipped in `dockyard/templates/catalog/*.yaml`."""
    folder = resources.files("dockyard.templates").joinpath("catalog")
    found: list[TemplateIn] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yaml", ".yml")):
            outcome = importers.import_dockyard(entry.read_text(encoding="utf-8"))
            found.extend(item for _, item, _ in outcome.templates)
    return found


async def load_catalog(db: Database) -> int:
    """Add missing catalog templates; update shipped ones whose version changed. Idempotent.

    A template an admin created with the same slug is left alone. Safe when several
    processes start at once (the loser of the race changes nothing).
    """
    changed = 0
    async with db.session() as session:
        for item in catalog_templates():
            assert item.slug is not None
            existing = await repository.by_slug(session, item.slug)
            if existing is None:
                await _add(session, item, slug=item.slug, source_format="dockyard", builtin=True)
                changed += 1
            elif existing.builtin and existing.version != item.version:
                _apply(existing, item)
                changed += 1
        try:
            await session.commit()
        except IntegrityError:  # another process (a worker starting too) added them first
            await session.rollback()
            return 0
    if changed:
        log.info("template_catalog_loaded", changed=changed)
    return changed
