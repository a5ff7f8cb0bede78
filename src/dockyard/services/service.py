"""Service lifecycle in the database: create, edit, revisions, restore, actions as jobs."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.jobs.models import Job
from dockyard.jobs.service import enqueue
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.nodes import repository as nodes
from dockyard.nodes.models import Node
from dockyard.quotas.service import apply_policy
from dockyard.services import repository
from dockyard.services.compose import ComposeDefinition, export_compose_yaml, parse_definition
from dockyard.services.compose.policy import PolicyContext
from dockyard.services.definitions import (
    canonical_json,
    definition_hash,
    invalid_definition,
    parse_input,
    port_conflicts,
)
from dockyard.services.models import Service, ServiceRevision
from dockyard.services.schemas import (
    RevisionDetail,
    RevisionDiff,
    RevisionOut,
    ServiceAction,
    ServiceCreate,
    ServiceUpdate,
)
from dockyard.users.models import User

if TYPE_CHECKING:
    from dockyard.placement.service import Placer

# The actions that need existing containers, and those that change or remove them.
ACTION_KINDS: dict[str, str] = {
    "deploy": "service.deploy",
    "start": "service.start",
    "stop": "service.stop",
    "restart": "service.restart",
    "pull": "service.pull",
    "update": "service.update",
    "delete": "service.delete",
}


def lock_key(service_id: int) -> str:
    return f"service:{service_id}"


async def get_or_404(session: AsyncSession, service_id: int) -> Service:
    service = await repository.get(session, service_id)
    if service is None:
        raise NotFoundError(f"Service {service_id} does not exist.", code="service_not_found")
    return service


async def revision_or_404(session: AsyncSession, service: Service, number: int) -> ServiceRevision:
    revision = await repository.revision(session, service.id, number)
    if revision is None:
        raise NotFoundError(
            f"Service {service.name} has no revision {number}.", code="revision_not_found"
        )
    return revision


async def _check_ports(
    session: AsyncSession,
    defn: ComposeDefinition,
    node_id: int,
    exclude_id: int | None,
    policy: PolicyContext | None = None,
) -> None:
    others = [s for s in await repository.on_node(session, node_id) if s.id != exclude_id]
    latest = await repository.latest_revisions(session, others)

    def label(other: Service) -> str:
        # A tenant learns that a port is taken, not the names of other people's services.
        if policy is None or policy.sees_all or other.owner_id == policy.user_id:
            return other.name
        return "another service"

    issues = port_conflicts(
        defn,
        (
            (label(s), parse_definition(latest[s.id].definition, validate=False))
            for s in others
            if s.id in latest
        ),
    )
    if issues:
        raise invalid_definition(issues)


async def _choose_node(
    session: AsyncSession,
    body: ServiceCreate,
    defn: ComposeDefinition,
    placer: Placer | None,
    policy: PolicyContext | None,
) -> tuple[Node, dict[str, Any] | None]:
    """The node a new service goes to and, when the scheduler chose it, the explanation."""
    from dockyard.placement.schemas import PlacementSpec

    try:
        spec = PlacementSpec.model_validate(body.placement or {})
    except ValidationError as exc:
        raise ValidationFailedError(
            "Invalid placement.",
            code="invalid_placement",
            details={
                "errors": [
                    {
                        "path": ".".join(["placement", *(str(p) for p in e["loc"])]),
                        "message": e["msg"],
                    }
                    for e in exc.errors()
                ]
            },
        ) from None
    labels = spec.constraints.labels
    if body.node_id is not None:
        node = await nodes.get(session, body.node_id)
        if node is None:
            raise ValidationFailedError(
                f"Node {body.node_id} does not exist.",
                code="node_not_found",
                details={"errors": [{"path": "node_id", "message": "unknown node"}]},
            )
        if body.cluster_id is not None:
            from dockyard.placement.models import ClusterNode

            if await session.get(ClusterNode, (body.cluster_id, node.id)) is None:
                raise ValidationFailedError(
                    f"Node {node.name} is not a member of cluster {body.cluster_id}.",
                    code="node_not_in_cluster",
                    details={"errors": [{"path": "node_id", "message": "not in the cluster"}]},
                )
        return node, None
    if placer is None:
        if body.cluster_id is not None or labels:
            raise ValidationFailedError(
                "Placement by cluster or labels is only available through the API.",
                code="placement_unavailable",
            )
        local = await nodes.get_local(session)
        if local is None:
            raise NotFoundError("There is no local node.", code="node_not_found")
        return local, None
    try:
        return await placer.choose(session, defn, cluster_id=body.cluster_id, labels=labels)
    except ValidationFailedError as exc:
        # A node refused only for its host ports: the port conflict (422 `invalid_definition`
        # naming the service holding the port) is the clearer answer.
        for candidate in exc.details.get("explanation", {}).get("candidates", []):
            reasons = candidate.get("reasons") or []
            if reasons and all(r.startswith("host port ") for r in reasons):
                await _check_ports(session, defn, candidate["node_id"], None, policy)
        raise


async def _allocate_ports(
    session: AsyncSession,
    service: Service,
    defn: ComposeDefinition,
    placer: Placer | None,
    policy: PolicyContext | None,
) -> ComposeDefinition:
    """Record the service's host ports (`auto` ones chosen); see placement.ports."""
    from dockyard.placement.ports import legacy_published, sync_allocations
    from dockyard.settings import Settings

    others = [s for s in await repository.on_node(session, service.node_id) if s.id != service.id]
    latest = await repository.latest_revisions(session, others)
    legacy = legacy_published(
        parse_definition(r.definition, validate=False) for r in latest.values()
    )
    listening: set[int] | None = None
    range_text = str(Settings.model_fields["placement_port_range"].default)
    if placer is not None:
        range_text = placer.settings.placement_port_range
        node = await nodes.get(session, service.node_id)
        if node is not None and any(w for w in _auto_ports(defn)):
            listening = await placer.host_ports(node)

    def can_see(owner_id: int | None) -> bool:
        return policy is None or policy.sees_all or owner_id == policy.user_id

    return await sync_allocations(
        session,
        service,
        defn,
        default_range_text=range_text,
        host_listening=listening,
        legacy_ports=legacy,
        can_see=can_see,
    )


def _auto_ports(defn: ComposeDefinition) -> list[str]:
    return [
        f"{name}/{port.target}"
        for name, spec in defn.services.items()
        for port in spec.ports
        if port.auto
    ]


def _new_revision(
    service_id: int,
    number: int,
    definition: dict[str, Any],
    *,
    source: str,
    comment: str,
    user: User | None,
) -> ServiceRevision:
    return ServiceRevision(
        service_id=service_id,
        number=number,
        definition=definition,
        definition_hash=definition_hash(definition),
        source=source,
        comment=comment,
        created_by_id=user.id if user else None,
        created_by_label=user.email if user else None,
        created_at=utcnow(),
    )


async def create_service(
    session: AsyncSession,
    body: ServiceCreate,
    *,
    user: User | None,
    actor: Actor,
    meta: RequestMeta | None = None,
    origin: str | None = None,
    policy: PolicyContext | None = None,
    placer: Placer | None = None,
) -> Service:
    """Validate and store a new service with revision 1 (caller commits).

    `policy` (a non-admin's context) applies the container security policy and the quota:
    403 `policy_violation` / 422 `quota_exceeded`, or the forced settings are saved.
    Without `node_id`, a `placer` (the API passes one) chooses the node (422
    `placement_failed` when none fits); without a placer the service goes to the local node.
    Host ports are allocated (`auto` ports chosen) in the same transaction.
    """
    defn = parse_input(definition=body.definition, compose=body.compose, env=body.env)
    if policy is not None:
        defn = await apply_policy(session, defn, policy, exclude_service_id=None, new_service=True)
    node, explanation = await _choose_node(session, body, defn, placer, policy)
    if await repository.get_by_name(session, node.id, body.name):
        raise ConflictError(
            f"A service named {body.name} already exists on node {node.name}.",
            code="service_exists",
            details={"errors": [{"path": "name", "message": "already exists on this node"}]},
        )
    await _check_ports(session, defn, node.id, exclude_id=None, policy=policy)
    service = Service(
        name=body.name,
        description=body.description,
        node_id=node.id,
        owner_id=user.id if user else None,
        labels=body.labels,
        latest_revision=1,
        origin=origin or body.source,
        cluster_id=body.cluster_id,
        placement=explanation,
    )
    session.add(service)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # lost a race with a concurrent create
        raise ConflictError(
            f"A service named {body.name} already exists.", code="service_exists"
        ) from exc
    defn = await _allocate_ports(session, service, defn, placer, policy)
    session.add(
        _new_revision(
            service.id,
            1,
            canonical_json(defn),
            source=body.source,
            comment=body.comment,
            user=user,
        )
    )
    await record(
        session,
        action="service.created",
        actor=actor,
        target_type="service",
        target_id=service.id,
        details={"name": service.name, "node_id": node.id, "source": body.source},
        meta=meta,
    )
    publish_after_commit(session, "service.status", {"service_id": service.id})
    return service


async def update_service(
    session: AsyncSession,
    service: Service,
    body: ServiceUpdate,
    *,
    expected_revision: int | None,
    user: User | None,
    actor: Actor,
    meta: RequestMeta | None = None,
    policy: PolicyContext | None = None,
    placer: Placer | None = None,
) -> Service:
    """Apply an edit; a changed definition becomes a new revision. Stale edits get 409."""
    expected = body.revision if body.revision is not None else expected_revision
    if expected is not None and expected != service.latest_revision:
        raise ConflictError(
            f"The service changed since you loaded it (you edited revision {expected}, the "
            f"latest is {service.latest_revision}). Reload and apply your change again.",
            code="revision_conflict",
            details={"expected": expected, "latest": service.latest_revision},
        )
    changes: dict[str, Any] = {}
    if body.description is not None and body.description != service.description:
        service.description = body.description
        changes["description"] = True
    if body.labels is not None and body.labels != service.labels:
        service.labels = body.labels
        changes["labels"] = True
    if body.definition is not None or body.compose is not None:
        defn = parse_input(definition=body.definition, compose=body.compose, env=body.env)
        if policy is not None:
            defn = await apply_policy(
                session, defn, policy, exclude_service_id=service.id, new_service=False
            )
        await _check_ports(session, defn, service.node_id, exclude_id=service.id, policy=policy)
        defn = await _allocate_ports(session, service, defn, placer, policy)
        definition = canonical_json(defn)
        current = await repository.revision(session, service.id, service.latest_revision)
        if current is None or current.definition_hash != definition_hash(definition):
            number = service.latest_revision + 1
            session.add(
                _new_revision(
                    service.id,
                    number,
                    definition,
                    source=body.source,
                    comment=body.comment,
                    user=user,
                )
            )
            service.latest_revision = number
            changes["revision"] = number
    if not changes:
        return service
    service.updated_at = utcnow()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent edit took the same revision number
        raise ConflictError(
            "Someone saved this service at the same moment. Reload and try again.",
            code="revision_conflict",
        ) from exc
    await record(
        session,
        action="service.updated",
        actor=actor,
        target_type="service",
        target_id=service.id,
        details={"name": service.name, **changes},
        meta=meta,
    )
    publish_after_commit(session, "service.status", {"service_id": service.id})
    return service


async def restore_revision(
    session: AsyncSession,
    service: Service,
    number: int,
    *,
    comment: str,
    user: User | None,
    actor: Actor,
    meta: RequestMeta | None = None,
    policy: PolicyContext | None = None,
) -> ServiceRevision:
    """Copy an old revision's definition into a new revision (policy as in create)."""
    old = await revision_or_404(session, service, number)
    defn = parse_definition(old.definition)
    definition = old.definition
    if policy is not None:
        defn = await apply_policy(
            session, defn, policy, exclude_service_id=service.id, new_service=False
        )
        definition = canonical_json(defn)
    await _check_ports(session, defn, service.node_id, exclude_id=service.id, policy=policy)
    allocated = await _allocate_ports(session, service, defn, None, policy)
    if allocated is not defn:
        definition = canonical_json(allocated)
    new_number = service.latest_revision + 1
    revision = _new_revision(
        service.id,
        new_number,
        definition,
        source="restore",
        comment=comment or f"Restored revision {number}",
        user=user,
    )
    session.add(revision)
    service.latest_revision = new_number
    service.updated_at = utcnow()
    await session.flush()
    await record(
        session,
        action="service.revision.restored",
        actor=actor,
        target_type="service",
        target_id=service.id,
        details={"name": service.name, "restored": number, "revision": new_number},
        meta=meta,
    )
    publish_after_commit(session, "service.status", {"service_id": service.id})
    return revision


def revision_detail(service: Service, revision: ServiceRevision) -> RevisionDetail:
    """A revision with its definition and compose YAML."""
    return RevisionDetail(
        **RevisionOut.model_validate(revision).model_dump(),
        definition=revision.definition,
        compose=revision_yaml(service, revision),
    )


def revision_yaml(service: Service, revision: ServiceRevision) -> str:
    return export_compose_yaml(
        parse_definition(revision.definition, validate=False), project_name=service.name
    )


async def diff_revisions(session: AsyncSession, service: Service, a: int, b: int) -> RevisionDiff:
    """A unified diff between the compose YAML of two revisions."""
    left = await revision_or_404(session, service, a)
    right = await revision_or_404(session, service, b)
    left_yaml = revision_yaml(service, left)
    right_yaml = revision_yaml(service, right)
    diff = "".join(
        difflib.unified_diff(
            left_yaml.splitlines(keepends=True),
            right_yaml.splitlines(keepends=True),
            fromfile=f"revision {a}",
            tofile=f"revision {b}",
        )
    )
    left_services = left.definition.get("services", {})
    right_services = right.definition.get("services", {})
    changed = sorted(
        name
        for name in set(left_services) | set(right_services)
        if left_services.get(name) != right_services.get(name)
    )
    return RevisionDiff(from_revision=a, to_revision=b, diff=diff, changed_services=changed)


async def request_action(
    session: AsyncSession,
    service: Service,
    action: ServiceAction,
    *,
    actor: Actor,
    params: dict[str, Any] | None = None,
) -> Job:
    """Queue the job for an action; a second operation on the same service is a 409."""
    if action in ("start", "stop", "restart") and service.deployed_revision is None:
        raise ConflictError(
            f"Service {service.name} has not been deployed yet; deploy it first.",
            code="service_not_deployed",
        )
    job_params: dict[str, Any] = {"service": service.name, **(params or {})}
    if action in ("deploy", "update"):
        job_params.setdefault("revision", service.latest_revision)
    return await enqueue(
        session,
        kind=ACTION_KINDS[action],
        actor=actor,
        params=job_params,
        service_id=service.id,
        node_id=service.node_id,
        lock_key=lock_key(service.id),
    )
