"""HTTP routes for a node's images, volumes, networks and cleanup."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import JSONResponse

from dockyard.audit.service import record
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.engine.errors import EngineRequestError
from dockyard.images import policy as cleanup_policy
from dockyard.images import service as inventory
from dockyard.images.cleanup import claim_plan, compute_items, new_plan, plan_out
from dockyard.images.schemas import (
    CleanupPlanOut,
    CleanupPolicyIn,
    CleanupPolicyOut,
    CleanupRequest,
    ImageDetail,
    ImageList,
    NetworkCreate,
    NetworkDetail,
    NetworkList,
    PullRequest,
    VolumeCreate,
    VolumeDetail,
    VolumeList,
)
from dockyard.images.validation import (
    docker_name_problem,
    image_reference_problem,
    invalid,
    label_filter_problem,
)
from dockyard.jobs.schemas import JobAccepted, JobOut
from dockyard.jobs.service import enqueue
from dockyard.kit.errors import ConflictError, NotFoundError

router = APIRouter(prefix="/api/v1/nodes/{node_id}", tags=["images"])

LabelQuery = Annotated[
    str | None,
    Query(max_length=255, description="Only objects with this label (`key` or `key=value`)."),
]
SearchQuery = Annotated[str | None, Query(max_length=255)]


def _check_label(label: str | None, path: str) -> None:
    if label is not None:
        problem = label_filter_problem(label)
        if problem:
            raise invalid(path, problem)


def _engine_conflict(exc: EngineRequestError, code: str) -> ConflictError:
    return ConflictError(exc.message, code=code, details=exc.details)


# ---- images ----------------------------------------------------------------------------------


@router.get("/images", response_model=ImageList)
async def list_images(
    node_id: int,
    _: Annotated[Principal, Depends(require("images:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
    search: SearchQuery = None,
    dangling: bool | None = None,
    in_use: bool | None = None,
    label: LabelQuery = None,
) -> ImageList:
    """Images on the node with the containers and Dockyard services that use them."""
    _check_label(label, "query.label")
    node = await inventory.node_or_404(session, node_id)
    items = await inventory.list_images(
        session,
        runtime.nodes.engine_for(node),
        runtime.instance_id,
        search=search,
        dangling=dangling,
        in_use=in_use,
        label=label,
    )
    return ImageList(items=items, total=len(items), size_bytes=sum(i.size_bytes for i in items))


@router.post("/images/pull", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
async def pull_image(
    node_id: int,
    body: PullRequest,
    principal: Annotated[Principal, Depends(require("images:pull"))],
    runtime: RuntimeDep,
    session: SessionDep,
) -> JobAccepted:
    """Pull an image by reference as a job (progress lines per layer)."""
    reference = body.reference
    problem = image_reference_problem(reference)
    if problem:
        raise invalid("body.reference", problem)
    node = await inventory.node_or_404(session, node_id)
    digest = hashlib.sha256(reference.encode()).hexdigest()[:32]
    job = await enqueue(
        session,
        kind="images.pull",
        actor=principal.actor,
        params={"reference": reference, "node_id": node.id},
        node_id=node.id,
        lock_key=f"node:{node.id}:pull:{digest}",
    )
    await session.commit()
    runtime.jobs.submit(job.id)
    return JobAccepted(job=JobOut.model_validate(job))


_IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{4,64}$")


def _check_image_ref(ref: str) -> None:
    """An image id (or prefix) or a valid reference: nothing else reaches the engine's URL."""
    if _IMAGE_ID.match(ref) or image_reference_problem(ref) is None:
        return
    raise invalid("path.image_ref", "must be an image id or a reference like team/app:1")


async def _image_or_404(runtime: Any, node: Any, ref: str) -> dict[str, Any]:
    _check_image_ref(ref)
    info: dict[str, Any] | None = await runtime.nodes.engine_for(node).inspect_image(ref)
    if info is None:
        raise NotFoundError(f"Image {ref} is not on this node.", code="image_not_found")
    return info


@router.get("/images/{image_ref:path}", response_model=ImageDetail)
async def get_image(
    node_id: int,
    image_ref: str,
    _: Annotated[Principal, Depends(require("images:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> ImageDetail:
    """One image (by id, short id or reference) with the engine's inspect document."""
    node = await inventory.node_or_404(session, node_id)
    info = await _image_or_404(runtime, node, image_ref)
    engine = runtime.nodes.engine_for(node)
    use = await inventory.usage(session, engine, runtime.instance_id)
    summary = {**info, "Labels": (info.get("Config") or {}).get("Labels") or {}}
    out = inventory.image_out(summary, use)
    return ImageDetail(**out.model_dump(), inspect=info)


@router.delete("/images/{image_ref:path}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_image(
    node_id: int,
    image_ref: str,
    principal: Annotated[Principal, Depends(require("images:remove"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    force: bool = False,
) -> Response:
    """Remove an image or one of its tags; refused (409) while containers use it unless forced."""
    node = await inventory.node_or_404(session, node_id)
    info = await _image_or_404(runtime, node, image_ref)
    engine = runtime.nodes.engine_for(node)
    use = await inventory.usage(session, engine, runtime.instance_id)
    users = use.by_image.get(str(info["Id"]), [])
    if users and not force:
        services = inventory.Usage.services_of(users)
        reason = "Image {ref} is used by container{s} {names}".format(
            ref=image_ref,
            s="s" if len(users) > 1 else "",
            names=", ".join(c.name for c in users),
        )
        if services:
            reason += " of service " + ", ".join(s.name for s in services)
        raise ConflictError(
            reason + "; remove them first or force the removal.",
            code="image_in_use",
            details={
                "containers": [c.model_dump() for c in users],
                "services": [s.model_dump() for s in services],
            },
        )
    try:
        result = await engine.remove_image(image_ref, force=force)
    except EngineRequestError as exc:
        if exc.details.get("status") == 409:
            raise _engine_conflict(exc, "image_conflict") from exc
        raise
    await record(
        session,
        action="images.remove",
        actor=principal.actor,
        target_type="image",
        target_id=str(info["Id"]),
        details={
            "node_id": node.id,
            "reference": image_ref,
            "force": force,
            "in_use_by": [c.name for c in users],
            "untagged": [str(r["Untagged"]) for r in result if "Untagged" in r],
            "deleted": [str(r["Deleted"]) for r in result if "Deleted" in r],
        },
        meta=meta,
    )
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- volumes ---------------------------------------------------------------------------------


@router.get("/volumes", response_model=VolumeList)
async def list_volumes(
    node_id: int,
    _: Annotated[Principal, Depends(require("images:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
    search: SearchQuery = None,
    label: LabelQuery = None,
    in_use: bool | None = None,
    with_sizes: Annotated[
        bool, Query(description="Add sizes from `docker system df` (slow on big hosts).")
    ] = False,
) -> VolumeList:
    """Volumes with driver, in-use containers and the services whose definitions name them."""
    _check_label(label, "query.label")
    node = await inventory.node_or_404(session, node_id)
    engine = runtime.nodes.engine_for(node)
    volumes = await engine.list_volumes(filters={"label": [label]} if label else None)
    use = await inventory.usage(session, engine, runtime.instance_id)
    refs = await inventory.definition_refs(session, node.id)
    sizes = inventory.volume_sizes(await engine.system_df()) if with_sizes else None
    items = [inventory.volume_out(v, use, refs, sizes) for v in volumes]
    if search:
        items = [v for v in items if search.lower() in v.name.lower()]
    if in_use is not None:
        items = [v for v in items if v.in_use == in_use]
    items.sort(key=lambda v: v.name)
    return VolumeList(items=items, total=len(items))


@router.post("/volumes", response_model=VolumeDetail, status_code=status.HTTP_201_CREATED)
async def create_volume(
    node_id: int,
    body: VolumeCreate,
    principal: Annotated[Principal, Depends(require("images:pull"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> VolumeDetail:
    """Create a named volume (409 when the name is taken)."""
    problem = docker_name_problem(body.name)
    if problem:
        raise invalid("body.name", problem)
    node = await inventory.node_or_404(session, node_id)
    engine = runtime.nodes.engine_for(node)
    if await engine.inspect_volume(body.name) is not None:
        raise ConflictError(f"Volume {body.name} already exists.", code="volume_exists")
    await engine.create_volume(
        body.name,
        driver=body.driver,
        driver_opts=body.driver_opts or None,
        labels=body.labels or None,
    )
    await record(
        session,
        action="volumes.create",
        actor=principal.actor,
        target_type="volume",
        target_id=body.name,
        details={"node_id": node.id, "driver": body.driver, "labels": body.labels},
        meta=meta,
    )
    await session.commit()
    return await _volume_detail(runtime, session, node, body.name)


async def _volume_detail(runtime: Any, session: Any, node: Any, name: str) -> VolumeDetail:
    engine = runtime.nodes.engine_for(node)
    info = await engine.inspect_volume(name)
    if info is None:
        raise NotFoundError(f"Volume {name} does not exist on this node.", code="volume_not_found")
    use = await inventory.usage(session, engine, runtime.instance_id)
    refs = await inventory.definition_refs(session, node.id)
    out = inventory.volume_out(info, use, refs, None)
    return VolumeDetail(**out.model_dump(), inspect=info)


@router.get("/volumes/{name}", response_model=VolumeDetail)
async def get_volume(
    node_id: int,
    name: str,
    _: Annotated[Principal, Depends(require("images:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> VolumeDetail:
    """One volume with the engine's inspect document."""
    node = await inventory.node_or_404(session, node_id)
    return await _volume_detail(runtime, session, node, name)


@router.delete("/volumes/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_volume(
    node_id: int,
    name: str,
    principal: Annotated[Principal, Depends(require("images:remove"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Remove a volume and its data; refused (409) while any container or service uses it."""
    node = await inventory.node_or_404(session, node_id)
    detail = await _volume_detail(runtime, session, node, name)
    if detail.in_use:
        parts = []
        if detail.containers:
            parts.append("container " + ", ".join(c.name for c in detail.containers))
        if detail.services:
            parts.append("service " + ", ".join(s.name for s in detail.services))
        raise ConflictError(
            f"Volume {name} is used by {' and '.join(parts)}; it cannot be removed.",
            code="volume_in_use",
            details={
                "containers": [c.model_dump() for c in detail.containers],
                "services": [s.model_dump() for s in detail.services],
            },
        )
    try:
        await runtime.nodes.engine_for(node).remove_volume(name)
    except EngineRequestError as exc:
        if exc.details.get("status") == 409:
            raise _engine_conflict(exc, "volume_in_use") from exc
        raise
    await record(
        session,
        action="volumes.remove",
        actor=principal.actor,
        target_type="volume",
        target_id=name,
        details={"node_id": node.id, "driver": detail.driver},
        meta=meta,
    )
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- networks --------------------------------------------------------------------------------


@router.get("/networks", response_model=NetworkList)
async def list_networks(
    node_id: int,
    _: Annotated[Principal, Depends(require("images:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
    search: SearchQuery = None,
    label: LabelQuery = None,
    in_use: bool | None = None,
) -> NetworkList:
    """Networks with driver, subnets, attached containers and the services that name them."""
    _check_label(label, "query.label")
    node = await inventory.node_or_404(session, node_id)
    engine = runtime.nodes.engine_for(node)
    networks = await engine.list_networks(filters={"label": [label]} if label else None)
    use = await inventory.usage(session, engine, runtime.instance_id)
    refs = await inventory.definition_refs(session, node.id)
    items = [inventory.network_out(n, use, refs) for n in networks]
    if search:
        needle = search.lower()
        items = [n for n in items if needle in n.name.lower() or n.id.startswith(needle)]
    if in_use is not None:
        items = [n for n in items if n.in_use == in_use]
    items.sort(key=lambda n: (not n.builtin, n.name))
    return NetworkList(items=items, total=len(items))


async def _network_detail(runtime: Any, session: Any, node: Any, ref: str) -> NetworkDetail:
    engine = runtime.nodes.engine_for(node)
    info = await engine.inspect_network(ref)
    if info is None:
        raise NotFoundError(f"Network {ref} does not exist on this node.", code="network_not_found")
    use = await inventory.usage(session, engine, runtime.instance_id)
    refs = await inventory.definition_refs(session, node.id)
    out = inventory.network_out(info, use, refs)
    return NetworkDetail(**out.model_dump(), inspect=info)


@router.post("/networks", response_model=NetworkDetail, status_code=status.HTTP_201_CREATED)
async def create_network(
    node_id: int,
    body: NetworkCreate,
    principal: Annotated[Principal, Depends(require("images:pull"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> NetworkDetail:
    """Create a network (409 when the name is taken)."""
    problem = docker_name_problem(body.name)
    if problem:
        raise invalid("body.name", problem)
    ipam: dict[str, Any] | None = None
    if body.subnet is not None:
        try:
            subnet = ipaddress.ip_network(body.subnet, strict=True)
        except ValueError as exc:
            raise invalid(
                "body.subnet", "must be a network in CIDR form, like 172.30.5.0/24"
            ) from exc
        ipam = {"Driver": "default", "Config": [{"Subnet": str(subnet)}]}
    node = await inventory.node_or_404(session, node_id)
    engine = runtime.nodes.engine_for(node)
    if await engine.inspect_network(body.name) is not None:
        raise ConflictError(f"Network {body.name} already exists.", code="network_exists")
    try:
        net_id = await engine.create_network(
            body.name,
            driver=body.driver,
            internal=body.internal,
            attachable=body.attachable,
            labels=body.labels or None,
            ipam=ipam,
            check_duplicate=True,
        )
    except EngineRequestError as exc:
        if exc.details.get("status") in (400, 403, 409):
            raise _engine_conflict(exc, "network_conflict") from exc
        raise
    await record(
        session,
        action="networks.create",
        actor=principal.actor,
        target_type="network",
        target_id=net_id,
        details={
            "node_id": node.id,
            "name": body.name,
            "driver": body.driver,
            "subnet": body.subnet,
            "labels": body.labels,
        },
        meta=meta,
    )
    await session.commit()
    return await _network_detail(runtime, session, node, net_id)


@router.get("/networks/{network_ref}", response_model=NetworkDetail)
async def get_network(
    node_id: int,
    network_ref: str,
    _: Annotated[Principal, Depends(require("images:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> NetworkDetail:
    """One network (by id or name) with the engine's inspect document."""
    node = await inventory.node_or_404(session, node_id)
    return await _network_detail(runtime, session, node, network_ref)


@router.delete("/networks/{network_ref}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_network(
    node_id: int,
    network_ref: str,
    principal: Annotated[Principal, Depends(require("images:remove"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Remove a network; refused (409) for bridge/host/none and while anything uses it."""
    node = await inventory.node_or_404(session, node_id)
    detail = await _network_detail(runtime, session, node, network_ref)
    if detail.builtin:
        raise ConflictError(
            f"Network {detail.name} is built into Docker and cannot be removed.",
            code="network_builtin",
        )
    if detail.in_use:
        parts = []
        if detail.containers:
            parts.append("container " + ", ".join(c.name for c in detail.containers))
        if detail.services:
            parts.append("service " + ", ".join(s.name for s in detail.services))
        raise ConflictError(
            f"Network {detail.name} is used by {' and '.join(parts)}; it cannot be removed.",
            code="network_in_use",
            details={
                "containers": [c.model_dump() for c in detail.containers],
                "services": [s.model_dump() for s in detail.services],
            },
        )
    try:
        await runtime.nodes.engine_for(node).remove_network(detail.id)
    except EngineRequestError as exc:
        if exc.details.get("status") in (403, 409):
            raise _engine_conflict(exc, "network_in_use") from exc
        raise
    await record(
        session,
        action="networks.remove",
        actor=principal.actor,
        target_type="network",
        target_id=detail.id,
        details={"node_id": node.id, "name": detail.name, "driver": detail.driver},
        meta=meta,
    )
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- cleanup ---------------------------------------------------------------------------------


@router.post(
    "/cleanup",
    response_model=CleanupPlanOut,
    responses={202: {"model": JobAccepted, "description": "Cleanup started as a job."}},
)
async def cleanup(
    node_id: int,
    body: CleanupRequest,
    principal: Annotated[Principal, Depends(require("images:cleanup"))],
    runtime: RuntimeDep,
    meta: MetaDep,
) -> CleanupPlanOut | JSONResponse:
    """Dry run: the exact list and a `plan_id` (200). Otherwise remove, as a job (202).

    With `plan_id` the job removes exactly that dry run's items, skipping (and reporting)
    any that came into use since.
    """
    _check_label(body.label, "body.label")
    if body.dry_run and body.plan_id:
        raise invalid("body.plan_id", "executes a plan: send it with dry_run false")
    if not body.plan_id and not body.targets:
        raise invalid("body.targets", "choose at least one target")
    if len(set(body.targets)) != len(body.targets):
        raise invalid("body.targets", "lists a target twice")
    targets: list[str] = list(body.targets)
    async with runtime.db.read_session() as read:
        node = await inventory.node_or_404(read, node_id)
        if body.dry_run:
            items = await compute_items(
                read,
                runtime.nodes.engine_for(node),
                runtime.instance_id,
                node.id,
                targets=targets,
                include_managed=body.include_managed,
                label=body.label,
            )
    async with runtime.db.session() as session:
        if body.dry_run:
            plan = new_plan(
                node.id,
                items,
                targets=targets,
                include_managed=body.include_managed,
                label=body.label,
                actor=principal.actor,
            )
            session.add(plan)
            await record(
                session,
                action="images.cleanup_planned",
                actor=principal.actor,
                target_type="node",
                target_id=node.id,
                details={
                    "plan_id": plan.id,
                    "targets": plan.targets,
                    "include_managed": plan.include_managed,
                    "label": plan.label,
                    "count": len(items),
                    "reclaimable_bytes": plan.reclaimable_bytes,
                },
                meta=meta,
            )
            await session.commit()
            return plan_out(plan)
        params: dict[str, Any] = {"node_id": node.id}
        if body.plan_id:
            params["plan_id"] = body.plan_id
        else:
            params.update(
                {"targets": targets, "include_managed": body.include_managed, "label": body.label}
            )
        job = await enqueue(
            session,
            kind="images.cleanup",
            actor=principal.actor,
            params=params,
            node_id=node.id,
            lock_key=cleanup_policy.lock_key(node.id),
        )
        if body.plan_id:
            await claim_plan(session, body.plan_id, node.id, job.id)
        await session.commit()
        runtime.jobs.submit(job.id)
        accepted = JobAccepted(job=JobOut.model_validate(job))
    return JSONResponse(status_code=202, content=accepted.model_dump(mode="json"))


@router.get("/cleanup-policy", response_model=CleanupPolicyOut)
async def get_cleanup_policy(
    node_id: int,
    _: Annotated[Principal, Depends(require("images:read"))],
    session: ReadSessionDep,
) -> CleanupPolicyOut:
    """The node's scheduled cleanup (disabled until set)."""
    node = await inventory.node_or_404(session, node_id)
    return await cleanup_policy.get(session, node.id)


@router.put("/cleanup-policy", response_model=CleanupPolicyOut)
async def put_cleanup_policy(
    node_id: int,
    body: CleanupPolicyIn,
    principal: Annotated[Principal, Depends(require("images:cleanup"))],
    session: SessionDep,
    meta: MetaDep,
) -> CleanupPolicyOut:
    """Set the node's scheduled cleanup (a job `node.scheduled_cleanup` on the schedule)."""
    _check_label(body.label, "body.label")
    if body.enabled and not body.targets:
        raise invalid("body.targets", "choose at least one target")
    if len(set(body.targets)) != len(body.targets):
        raise invalid("body.targets", "lists a target twice")
    node = await inventory.node_or_404(session, node_id)
    out = await cleanup_policy.put(session, node.id, body, actor=principal.actor, meta=meta)
    await session.commit()
    return out
