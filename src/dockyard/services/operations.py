"""Job handlers that act on Docker: deploy, start, stop, restart, pull, update, delete.

Everything here runs inside a job (see `dockyard.jobs.runner`): progress goes to the job,
failures raise `DockyardError` whose message names the step that failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import delete as sql_delete

from dockyard.engine.adapter import DockerEngine
from dockyard.engine.errors import EngineNotFoundError
from dockyard.jobs.runner import JobContext, job_handler
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import DockyardError
from dockyard.nodes import repository as nodes
from dockyard.registries.service import auth_config_for
from dockyard.services import repository
from dockyard.services.adoption import adopted_containers
from dockyard.services.compose import (
    ComposeDefinition,
    ContainerSpec,
    container_create_args,
    network_create_args,
    network_name,
    parse_definition,
    parse_duration,
    service_networks,
    volume_create_args,
    volume_name,
)
from dockyard.services.compose.docker_args import CONFIG_HASH_LABEL, PROJECT_LABEL
from dockyard.services.compose.model import NetworkSpec, VolumeSpec
from dockyard.services.models import Service
from dockyard.services.status import (
    COMPOSE_SERVICE_LABEL,
    INSTANCE_LABEL,
    REVISION_LABEL,
    SERVICE_ID_LABEL,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")
POLL_S = 0.5
DEFAULT_GRACE_S = 10


class StepFailedError(DockyardError):
    """A deploy step failed; the message says which."""

    status_code = 500
    code = "operation_failed"


@dataclass
class Target:
    """The service, its definition and the engine it lives on, loaded for one job."""

    service: Service
    revision: int
    defn: ComposeDefinition
    engine: DockerEngine
    project_dir: str
    instance_id: str


async def _load(ctx: JobContext, revision: int | None) -> Target:
    async with ctx.runtime.db.read_session() as session:
        service = await repository.get(session, ctx.service_id or 0)
        if service is None:
            raise DockyardError("The service no longer exists.", code="service_not_found")
        number = revision or service.deployed_revision or service.latest_revision
        rev = await repository.revision(session, service.id, number)
        if rev is None:
            raise DockyardError(
                f"Service {service.name} has no revision {number}.", code="revision_not_found"
            )
        node = await nodes.get(session, service.node_id)
    if node is None:
        raise DockyardError("The service's node no longer exists.", code="node_not_found")
    # Relative bind sources (`./data`) resolve under the data dir, per service.
    project_dir = await asyncio.to_thread(
        lambda: Path(ctx.runtime.settings.data_dir).resolve() / "projects" / service.name
    )
    return Target(
        service=service,
        revision=number,
        defn=parse_definition(rev.definition, validate=False),
        engine=ctx.runtime.nodes.engine_for(node),
        project_dir=str(project_dir),
        instance_id=ctx.runtime.instance_id,
    )


async def _step(ctx: JobContext, description: str, action: Awaitable[T]) -> T:
    """Run one step; a failure becomes a message that names the step."""
    try:
        return await action
    except DockyardError as exc:
        raise StepFailedError(f"{description} failed: {exc.message}") from exc


def dependency_order(defn: ComposeDefinition) -> list[str]:
    """Services so that each comes after what it depends on (names sorted within a level)."""
    remaining = {name: set(spec.depends_on) for name, spec in defn.services.items()}
    order: list[str] = []
    while remaining:
        ready = sorted(name for name, deps in remaining.items() if not deps - set(order))
        if not ready:  # validation refuses cycles; stay safe anyway
            raise DockyardError("The services depend on each other in a cycle.")
        order.extend(ready)
        for name in ready:
            del remaining[name]
    return order


def _labels_filter(target: Target) -> dict[str, Any]:
    return {
        "label": [
            f"{SERVICE_ID_LABEL}={target.service.id}",
            f"{INSTANCE_LABEL}={target.instance_id}",
        ]
    }


def _owner_labels(target: Target) -> dict[str, str]:
    return {INSTANCE_LABEL: target.instance_id, SERVICE_ID_LABEL: str(target.service.id)}


async def _project_containers(target: Target) -> dict[str, list[dict[str, Any]]]:
    """The service's containers by compose service name (from one list call)."""
    containers = await target.engine.list_containers(all=True, filters=_labels_filter(target))
    grouped: dict[str, list[dict[str, Any]]] = {}
    for c in containers:
        grouped.setdefault(c["Labels"].get(COMPOSE_SERVICE_LABEL, ""), []).append(c)
    return grouped


def _grace_s(spec: ContainerSpec) -> int:
    if spec.stop_grace_period:
        return max(0, parse_duration(spec.stop_grace_period) // 1_000_000_000)
    return DEFAULT_GRACE_S


def _name(c: dict[str, Any]) -> str:
    names = c.get("Names") or [c["Id"][:12]]
    return str(names[0]).lstrip("/")


# ---- networks, volumes, images ------------------------------------------------------------


async def _ensure_object(
    ctx: JobContext,
    target: Target,
    *,
    kind: str,
    name: str,
    create_args: dict[str, Any] | None,
    inspect: Callable[[str], Awaitable[dict[str, Any] | None]],
    create: Callable[..., Awaitable[Any]],
) -> None:
    """Create a project network or volume unless it exists; an external one must exist."""
    existing = await inspect(name)
    if create_args is None:
        if existing is None:
            raise StepFailedError(f"External {kind} {name} does not exist on the node.")
        return
    if existing is None:
        create_args.pop("name")
        create_args["labels"] = {**create_args["labels"], **_owner_labels(target)}
        await _step(ctx, f"Creating {kind} {name}", create(name, **create_args))
        await ctx.progress(f"Created {kind} {name}")


async def _ensure_networks(ctx: JobContext, target: Target) -> None:
    project = target.service.name
    keys = sorted({key for spec in target.defn.services.values() for key in service_networks(spec)})
    for key in keys:
        spec = target.defn.networks.get(key) or NetworkSpec()
        await _ensure_object(
            ctx,
            target,
            kind="network",
            name=network_name(project, key, spec),
            create_args=network_create_args(project, key, spec),
            inspect=target.engine.inspect_network,
            create=target.engine.create_network,
        )


async def _ensure_volumes(ctx: JobContext, target: Target) -> None:
    project = target.service.name
    used = sorted(
        {
            m.source
            for spec in target.defn.services.values()
            for m in spec.volumes
            if m.type == "volume" and m.source
        }
    )
    for key in used:
        spec = target.defn.volumes.get(key) or VolumeSpec()
        await _ensure_object(
            ctx,
            target,
            kind="volume",
            name=volume_name(project, key, spec),
            create_args=volume_create_args(project, key, spec),
            inspect=target.engine.inspect_volume,
            create=target.engine.create_volume,
        )


class _PullReporter:
    """Turns Docker's per-layer pull messages into a few readable progress lines."""

    def __init__(self, ctx: JobContext, image: str) -> None:
        self.ctx = ctx
        self.image = image
        self.layers: dict[str, str] = {}
        self.last_report = 0.0
        self.pending: set[asyncio.Task[None]] = set()

    def __call__(self, message: dict[str, Any]) -> None:
        layer = message.get("id")
        status = str(message.get("status", ""))
        if layer and status and not status.startswith(("Pulling from", "Digest", "Status")):
            self.layers[layer] = status
        now = time.monotonic()
        if self.layers and now - self.last_report >= 2.0:
            self.last_report = now
            done = sum(1 for s in self.layers.values() if s in ("Pull complete", "Already exists"))
            task = asyncio.create_task(
                self.ctx.progress(f"Pulling {self.image}: {done}/{len(self.layers)} layers")
            )
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def drain(self) -> None:
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)


async def _pull(ctx: JobContext, engine: DockerEngine, image: str) -> str | None:
    await ctx.progress(f"Pulling {image}")
    reporter = _PullReporter(ctx, image)
    # Credentials of a stored registry matching the image's host, if any.
    auth = await auth_config_for(ctx.runtime, image)
    last = await _step(
        ctx, f"Pulling {image}", engine.pull_image(image, reporter, auth_config=auth)
    )
    await reporter.drain()
    info = await engine.inspect_image(image)
    digest = next(iter(info.get("RepoDigests") or []), None) if info else None
    status = str(last.get("status", "done"))
    await ctx.progress(f"Pulled {image}: {status}" + (f" ({digest})" if digest else ""))
    return digest


async def _ensure_images(ctx: JobContext, target: Target, *, force_pull: bool) -> dict[str, str]:
    """Pull what is missing (or everything when forced); return image -> local image id."""
    ids: dict[str, str] = {}
    for image in sorted({spec.image for spec in target.defn.services.values()}):
        policies = {s.pull_policy for s in target.defn.services.values() if s.image == image}
        info = await target.engine.inspect_image(image)
        if "never" in policies and info is None:
            raise StepFailedError(f"Image {image} is not on the node and its pull_policy is never.")
        if force_pull or "always" in policies or info is None:
            await _pull(ctx, target.engine, image)
            info = await target.engine.inspect_image(image)
        if info is None:
            raise StepFailedError(f"Image {image} is still missing after the pull.")
        ids[image] = str(info["Id"])
    return ids


# ---- containers ------------------------------------------------------------------------------


async def _wait_for(
    ctx: JobContext,
    target: Target,
    dependency: str,
    condition: str,
    timeout_s: float,
) -> None:
    """Wait until `dependency` meets a compose `depends_on` condition."""
    if condition == "service_started":
        return
    containers = (await _project_containers(target)).get(dependency, [])
    if not containers:
        raise StepFailedError(f"Dependency {dependency} has no container.")
    container_id = containers[0]["Id"]
    what = "healthy" if condition == "service_healthy" else "completed successfully"
    await ctx.progress(f"Waiting for {dependency} to be {what}")
    deadline = time.monotonic() + timeout_s
    while True:
        state = (await target.engine.inspect_container(container_id))["State"]
        if condition == "service_healthy":
            health = (state.get("Health") or {}).get("Status")
            if health is None:
                raise StepFailedError(
                    f"{dependency} has no healthcheck, so service_healthy cannot be met."
                )
            if health == "healthy":
                return
            if health == "unhealthy" or state.get("Status") in ("exited", "dead"):
                raise StepFailedError(
                    f"Dependency {dependency} is {health or state.get('Status')}."
                )
        elif state.get("Status") in ("exited", "dead"):
            if state.get("ExitCode") == 0:
                return
            raise StepFailedError(
                f"Dependency {dependency} exited with code {state.get('ExitCode')} "
                "instead of completing successfully."
            )
        if time.monotonic() > deadline:
            raise StepFailedError(
                f"Dependency {dependency} was not {what} within {int(timeout_s)} s."
            )
        await asyncio.sleep(POLL_S)


async def _create_and_start(target: Target, args: Any) -> str:
    new_id = await target.engine.create_container_from_config(
        args.container_config(), args.name, args.platform
    )
    try:
        for attachment in args.additional_networks:
            await target.engine.connect_network(
                attachment.network,
                new_id,
                aliases=attachment.aliases,
                ipv4_address=attachment.ipv4_address,
                ipv6_address=attachment.ipv6_address,
            )
        await target.engine.start_container(new_id)
    except DockyardError:
        await target.engine.remove_container(new_id, force=True)
        raise
    return new_id


async def _converge_service(
    ctx: JobContext,
    target: Target,
    name: str,
    current: list[dict[str, Any]],
    image_ids: dict[str, str],
) -> str:
    """Make one compose service's container match the definition; return what was done."""
    spec = target.defn.services[name]
    args = container_create_args(
        target.service.name,
        name,
        spec,
        defn=target.defn,
        default_publish_ip=ctx.runtime.settings.default_publish_ip,
        extra_labels={
            INSTANCE_LABEL: target.instance_id,
            SERVICE_ID_LABEL: str(target.service.id),
            REVISION_LABEL: str(target.revision),
        },
        project_dir=target.project_dir,
    )
    desired_hash = args.labels[CONFIG_HASH_LABEL]
    image_id = image_ids[spec.image]
    keep = [
        c
        for c in current
        if c["Labels"].get(CONFIG_HASH_LABEL) == desired_hash and c.get("ImageID") == image_id
    ]
    extra = [c for c in current if c not in keep[:1]]
    if keep:
        container = keep[0]
        for c in extra:
            await _step(
                ctx,
                f"Removing extra container {_name(c)}",
                target.engine.remove_container(c["Id"], force=True),
            )
        if container["State"] != "running":
            await _step(
                ctx, f"Starting {_name(container)}", target.engine.start_container(container["Id"])
            )
            await ctx.progress(f"Started {_name(container)} (unchanged)")
            return "started"
        await ctx.progress(f"{_name(container)} is up to date")
        return "unchanged"

    old = extra[0] if extra else None
    for c in extra[1:]:
        await _step(
            ctx,
            f"Removing extra container {_name(c)}",
            target.engine.remove_container(c["Id"], force=True),
        )
    was_running = bool(old and old["State"] == "running")
    if old is not None:
        # Keep the old container aside (stopped, renamed) until the new one runs.
        old_name = _name(old)
        if was_running:
            await ctx.progress(f"Stopping {old_name} to recreate it")
            await _step(
                ctx,
                f"Stopping {old_name}",
                target.engine.stop_container(old["Id"], grace_s=_grace_s(spec)),
            )
        await _step(
            ctx,
            f"Renaming {old_name}",
            target.engine.rename_container(old["Id"], f"{old['Id'][:12]}_{old_name}"),
        )
    try:
        new_id = await _create_and_start(target, args)
    except DockyardError as exc:
        if old is not None:
            await target.engine.rename_container(old["Id"], _name(old))
            if was_running:
                await target.engine.start_container(old["Id"])
            await ctx.progress(f"Kept the previous {_name(old)} running", level="warning")
        raise StepFailedError(f"Creating and starting {args.name} failed: {exc.message}") from exc
    if old is not None:
        await _step(
            ctx,
            f"Removing the previous {_name(old)}",
            target.engine.remove_container(old["Id"], force=True),
        )
        await ctx.progress(f"Recreated {args.name} ({new_id[:12]})")
        return "recreated"
    await ctx.progress(f"Created and started {args.name} ({new_id[:12]})")
    return "created"


async def _deploy(ctx: JobContext, target: Target, *, force_pull: bool) -> dict[str, Any]:
    svc = target.service
    await ctx.progress(f"Deploying revision {target.revision} of {svc.name}")
    await asyncio.to_thread(Path(target.project_dir).mkdir, parents=True, exist_ok=True)
    await _ensure_networks(ctx, target)
    await _ensure_volumes(ctx, target)
    image_ids = await _ensure_images(ctx, target, force_pull=force_pull)
    current = await _project_containers(target)
    # An adopted service's first deploy replaces the containers it took over (no labels yet).
    for name, adopted in (await adopted_containers(ctx.runtime.db, target.engine, svc)).items():
        current.setdefault(name, []).extend(adopted)
    outcome: dict[str, str] = {}
    timeout_s = ctx.runtime.settings.deploy_wait_timeout_s
    for name in dependency_order(target.defn):
        for dependency, cond in sorted(target.defn.services[name].depends_on.items()):
            await _wait_for(ctx, target, dependency, cond.condition, timeout_s)
        outcome[name] = await _converge_service(ctx, target, name, current.get(name, []), image_ids)
    for orphan_service, containers in current.items():
        if orphan_service not in target.defn.services:
            for c in containers:
                await _step(
                    ctx,
                    f"Removing {_name(c)} (no longer defined)",
                    target.engine.remove_container(c["Id"], force=True),
                )
                await ctx.progress(
                    f"Removed {_name(c)}: {orphan_service} is no longer in the definition"
                )
    async with ctx.runtime.db.session() as session:
        service = await repository.get(session, svc.id)
        if service is not None:
            service.deployed_revision = target.revision
            service.deployed_at = utcnow()
            publish_after_commit(session, "service.status", {"service_id": svc.id})
            await session.commit()
    await ctx.progress(f"Revision {target.revision} of {svc.name} is deployed")
    return {"revision": target.revision, "containers": outcome}


@job_handler("service.deploy")
async def deploy(ctx: JobContext) -> dict[str, Any]:
    """Create networks and volumes, pull missing images, converge containers in order."""
    target = await _load(ctx, ctx.params.get("revision"))
    return await _deploy(ctx, target, force_pull=False)


@job_handler("service.update")
async def update(ctx: JobContext) -> dict[str, Any]:
    """Pull every image, recreate only the containers whose image changed, verify them and
    roll back by itself on failure (see `dockyard.updates.flow`)."""
    from dockyard.updates.flow import run_update  # imports this module

    return await run_update(ctx, triggered_by="user")


@job_handler("service.pull")
async def pull(ctx: JobContext) -> dict[str, Any]:
    """Pull the images only; running containers are not touched."""
    target = await _load(ctx, None)
    digests = {}
    for image in sorted({spec.image for spec in target.defn.services.values()}):
        digests[image] = await _pull(ctx, target.engine, image)
    return {"images": digests}


async def _each_container(
    ctx: JobContext,
    target: Target,
    *,
    reverse: bool,
    act: Callable[[dict[str, Any], ContainerSpec | None], Awaitable[str | None]],
) -> dict[str, str]:
    grouped = await _project_containers(target)
    if not any(grouped.values()):
        raise DockyardError(
            f"Service {target.service.name} has no containers; deploy it first.",
            code="service_not_deployed",
        )
    order = dependency_order(target.defn)
    order += sorted(set(grouped) - set(order))
    if reverse:
        order.reverse()
    done: dict[str, str] = {}
    for name in order:
        for c in grouped.get(name, []):
            result = await act(c, target.defn.services.get(name))
            if result:
                done[_name(c)] = result
    return done


@job_handler("service.start")
async def start(ctx: JobContext) -> dict[str, Any]:
    """Start stopped containers in dependency order."""
    target = await _load(ctx, None)
    timeout_s = ctx.runtime.settings.deploy_wait_timeout_s

    async def act(c: dict[str, Any], spec: ContainerSpec | None) -> str | None:
        if spec is not None:
            for dependency, cond in sorted(spec.depends_on.items()):
                await _wait_for(ctx, target, dependency, cond.condition, timeout_s)
        if c["State"] == "running":
            return None
        await _step(ctx, f"Starting {_name(c)}", target.engine.start_container(c["Id"]))
        await ctx.progress(f"Started {_name(c)}")
        return "started"

    return {"containers": await _each_container(ctx, target, reverse=False, act=act)}


@job_handler("service.stop")
async def stop(ctx: JobContext) -> dict[str, Any]:
    """Stop running containers in reverse dependency order, each with its grace period."""
    target = await _load(ctx, None)

    async def act(c: dict[str, Any], spec: ContainerSpec | None) -> str | None:
        if c["State"] not in ("running", "restarting", "paused"):
            return None
        grace = _grace_s(spec) if spec else DEFAULT_GRACE_S
        await ctx.progress(f"Stopping {_name(c)} (grace {grace} s)")
        await _step(
            ctx, f"Stopping {_name(c)}", target.engine.stop_container(c["Id"], grace_s=grace)
        )
        return "stopped"

    return {"containers": await _each_container(ctx, target, reverse=True, act=act)}


@job_handler("service.restart")
async def restart(ctx: JobContext) -> dict[str, Any]:
    """Restart every container in dependency order."""
    target = await _load(ctx, None)

    async def act(c: dict[str, Any], spec: ContainerSpec | None) -> str | None:
        grace = _grace_s(spec) if spec else DEFAULT_GRACE_S
        await _step(
            ctx, f"Restarting {_name(c)}", target.engine.restart_container(c["Id"], grace_s=grace)
        )
        await ctx.progress(f"Restarted {_name(c)}")
        return "restarted"

    return {"containers": await _each_container(ctx, target, reverse=False, act=act)}


@job_handler("service.delete")
async def delete(ctx: JobContext) -> dict[str, Any]:
    """Remove containers and networks (and volumes only when asked), then the service."""
    target = await _load(ctx, None)
    engine = target.engine
    grouped = await _project_containers(target)
    order = [n for n in reversed(dependency_order(target.defn)) if n in grouped]
    order += sorted(set(grouped) - set(order))
    for name in order:
        spec = target.defn.services.get(name)
        for c in grouped[name]:
            if c["State"] == "running":
                grace = _grace_s(spec) if spec else DEFAULT_GRACE_S
                await _step(
                    ctx, f"Stopping {_name(c)}", engine.stop_container(c["Id"], grace_s=grace)
                )
            await _step(ctx, f"Removing {_name(c)}", engine.remove_container(c["Id"], force=True))
            await ctx.progress(f"Removed {_name(c)}")
    project_filter = {
        "label": [
            f"{PROJECT_LABEL}={target.service.name}",
            f"{SERVICE_ID_LABEL}={target.service.id}",
        ]
    }
    networks = await engine.call(lambda c: c.api.networks(filters=project_filter))
    for net in networks:
        try:
            await _step(ctx, f"Removing network {net['Name']}", engine.remove_network(net["Id"]))
            await ctx.progress(f"Removed network {net['Name']}")
        except StepFailedError as exc:
            await ctx.progress(exc.message, level="warning")
    from dockyard.updates.flow import remove_rollback_images  # imports this module

    if await remove_rollback_images(engine, target.service.name, list(target.defn.services)):
        await ctx.progress("Removed the previous images kept for rollbacks")
    removed_volumes: list[str] = []
    if ctx.params.get("remove_volumes"):
        volumes = (await engine.call(lambda c: c.api.volumes(filters=project_filter))).get(
            "Volumes"
        ) or []
        for vol in volumes:
            await _step(ctx, f"Removing volume {vol['Name']}", engine.remove_volume(vol["Name"]))
            removed_volumes.append(vol["Name"])
            await ctx.progress(f"Removed volume {vol['Name']}")
    else:
        await ctx.progress("Named volumes were kept")
    async with ctx.runtime.db.session() as session:
        await session.execute(sql_delete(Service).where(Service.id == target.service.id))
        publish_after_commit(
            session, "service.status", {"service_id": target.service.id, "deleted": True}
        )
        await session.commit()
    await ctx.progress(f"Service {target.service.name} was deleted")
    return {"removed_volumes": removed_volumes}


__all__ = ["EngineNotFoundError", "dependency_order"]
