"""Cleanup of one node: plan (dry run) what nothing uses, then remove exactly that list.

A plan is stored; executing it removes only its items, each re-checked right before removal:
an item that came into use (or disappeared) since the dry run is skipped with the reason.
Never removed, whatever the targets: built-in networks, objects any container uses (running
or stopped), and volumes, networks and images a Dockyard service definition on the node names.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor
from dockyard.engine.adapter import DockerEngine
from dockyard.engine.errors import EngineNotFoundError
from dockyard.images.models import CleanupPlan
from dockyard.images.schemas import ALL_TARGETS, CleanupItem, CleanupPlanOut, CleanupResult
from dockyard.images.service import (
    BUILTIN_NETWORKS,
    DefinitionRefs,
    Usage,
    definition_refs,
    is_dangling,
    short_id,
    usage,
)
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import ConflictError, DockyardError, NotFoundError

log = structlog.get_logger(__name__)

PLAN_TTL = timedelta(hours=1)
# Networks Docker itself manages (swarm ones included): never removed.
PROTECTED_NETWORKS = BUILTIN_NETWORKS | {"ingress", "docker_gwbridge"}
STOPPED_STATES = ("created", "exited", "dead")
_ORDER = {"container": 0, "image": 1, "volume": 2, "network": 3, "build_cache": 4}


def normalize_reference(reference: str) -> str:
    """`busybox` → `busybox:latest` (how the engine lists tags); digests stay as they are."""
    if "@" in reference:
        return reference
    if reference.rfind(":") > reference.rfind("/"):
        return reference
    return f"{reference}:latest"


def _label_filter(label: str | None) -> dict[str, Any] | None:
    return {"label": [label]} if label else None


def _container_name(container: dict[str, Any]) -> str:
    names = container.get("Names") or []
    return str(names[0]).lstrip("/") if names else short_id(str(container.get("Id", "")))


def _who(refs: list[Any]) -> str:
    names = [r.name for r in refs][:5]
    more = len(refs) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


async def compute_items(
    session: AsyncSession,
    engine: DockerEngine,
    instance_id: str,
    node_id: int,
    *,
    targets: list[str],
    include_managed: bool,
    label: str | None,
) -> list[CleanupItem]:
    """What cleanup of `targets` would remove right now (no change on the engine)."""
    wanted = set(targets)
    use = await usage(session, engine, instance_id)
    refs = await definition_refs(session, node_id)
    # Sizes come from `docker system df` (one call; networks need none).
    df = await engine.system_df() if wanted - {"unused_networks"} else {}
    items: list[CleanupItem] = []

    if "stopped_containers" in wanted:
        sizes = {str(c.get("Id")): c.get("SizeRw") for c in df.get("Containers") or []}
        filters: dict[str, Any] = {"status": list(STOPPED_STATES)}
        if label:
            filters["label"] = [label]
        for c in await engine.list_containers(all=True, filters=filters):
            if not include_managed and use.service_id(c) is not None:
                continue
            size = sizes.get(str(c.get("Id")))
            items.append(
                CleanupItem(
                    target="stopped_containers",
                    kind="container",
                    id=str(c["Id"]),
                    name=_container_name(c),
                    size_bytes=int(size) if isinstance(size, int) else 0,
                )
            )

    if wanted & {"dangling_images", "unused_images"}:
        shared = {
            str(i.get("Id")): int(i.get("SharedSize") or 0)
            for i in df.get("Images") or []
            if isinstance(i.get("SharedSize"), int) and i["SharedSize"] > 0
        }
        defined = {normalize_reference(r) for r in refs.images}
        for image in await engine.list_images(filters=_label_filter(label)):
            image_id = str(image.get("Id", ""))
            if use.by_image.get(image_id):
                continue
            tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
            if any(t in defined for t in tags):
                continue
            dangling = is_dangling(image)
            if dangling and "dangling_images" in wanted:
                target = "dangling_images"
            elif "unused_images" in wanted:
                target = "unused_images"
            else:
                continue
            size = int(image.get("Size") or 0)
            items.append(
                CleanupItem(
                    target=target,
                    kind="image",
                    id=image_id,
                    name=", ".join(tags) if tags else f"<none> ({short_id(image_id)})",
                    size_bytes=max(size - shared.get(image_id, 0), 0),
                )
            )

    if "unused_volumes" in wanted:
        sizes = {
            str(v.get("Name")): (v.get("UsageData") or {}).get("Size")
            for v in df.get("Volumes") or []
        }
        for volume in await engine.list_volumes(filters=_label_filter(label)):
            name = str(volume.get("Name", ""))
            if use.by_volume.get(name) or name in refs.volumes:
                continue
            size = sizes.get(name)
            items.append(
                CleanupItem(
                    target="unused_volumes",
                    kind="volume",
                    id=name,
                    name=name,
                    size_bytes=int(size) if isinstance(size, int) and size >= 0 else 0,
                )
            )

    if "unused_networks" in wanted:
        for network in await engine.list_networks(filters=_label_filter(label)):
            name = str(network.get("Name", ""))
            net_id = str(network.get("Id", ""))
            if name in PROTECTED_NETWORKS or name in refs.networks:
                continue
            if use.by_network.get(name) or use.by_network.get(net_id):
                continue
            items.append(
                CleanupItem(
                    target="unused_networks", kind="network", id=net_id, name=name, size_bytes=0
                )
            )

    # Build cache records carry no labels: a label-limited cleanup never touches them.
    if "build_cache" in wanted and not label:
        for record in df.get("BuildCache") or []:
            if record.get("InUse"):
                continue
            items.append(
                CleanupItem(
                    target="build_cache",
                    kind="build_cache",
                    id=str(record.get("ID", "")),
                    name=str(record.get("Description") or record.get("Type") or "build cache"),
                    size_bytes=int(record.get("Size") or 0),
                )
            )

    items.sort(key=lambda i: (_ORDER[i.kind], i.name))
    return items


def plan_out(plan: CleanupPlan, *, dry_run: bool = True) -> CleanupPlanOut:
    items = [CleanupItem.model_validate(i) for i in plan.items]
    return CleanupPlanOut(
        plan_id=plan.id,
        node_id=plan.node_id,
        dry_run=dry_run,
        targets=[t for t in ALL_TARGETS if t in plan.targets],
        include_managed=plan.include_managed,
        label=plan.label,
        items=items,
        count=len(items),
        reclaimable_bytes=plan.reclaimable_bytes,
        created_at=plan.created_at,
    )


def new_plan(
    node_id: int,
    items: list[CleanupItem],
    *,
    targets: list[str],
    include_managed: bool,
    label: str | None,
    actor: Actor,
) -> CleanupPlan:
    return CleanupPlan(
        id=uuid.uuid4().hex,
        node_id=node_id,
        targets=[t for t in ALL_TARGETS if t in targets],
        include_managed=include_managed,
        label=label,
        items=[i.model_dump(mode="json", exclude_none=True) for i in items],
        reclaimable_bytes=sum(i.size_bytes or 0 for i in items),
        created_by=actor.label or actor.id,
        created_at=utcnow(),
    )


async def claim_plan(session: AsyncSession, plan_id: str, node_id: int, job_id: str) -> CleanupPlan:
    """Mark the plan as executed by `job_id`; a plan runs once, and only while fresh."""
    plan = await session.get(CleanupPlan, plan_id)
    if plan is None or plan.node_id != node_id:
        raise NotFoundError(
            f"Cleanup plan {plan_id} does not exist on this node.", code="cleanup_plan_not_found"
        )
    if plan.job_id is not None:
        raise ConflictError(
            "This cleanup plan was already executed; preview again.",
            code="cleanup_plan_used",
            details={"job_id": plan.job_id},
        )
    if utcnow() - plan.created_at > PLAN_TTL:
        raise ConflictError(
            "This cleanup plan is older than an hour; preview again.", code="cleanup_plan_expired"
        )
    claimed = await session.execute(
        update(CleanupPlan)
        .where(CleanupPlan.id == plan_id, CleanupPlan.job_id.is_(None))
        .values(job_id=job_id, executed_at=utcnow())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            "This cleanup plan was already executed; preview again.", code="cleanup_plan_used"
        )
    return plan


class _Executor:
    """Removes plan items one by one, re-checking each against the engine's current state."""

    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine
        self.use = Usage(containers=[], service_names={}, instance_id="")
        self.refs = DefinitionRefs()

    async def refresh(self, session: AsyncSession, instance_id: str, node_id: int) -> None:
        self.use = await usage(session, self.engine, instance_id)
        self.refs = await definition_refs(session, node_id)

    async def remove(self, item: CleanupItem) -> tuple[str, str | None, int]:
        """(result, reason, reclaimed bytes) for one item."""
        try:
            if item.kind == "container":
                return await self._container(item)
            if item.kind == "image":
                return await self._image(item)
            if item.kind == "volume":
                return await self._volume(item)
            if item.kind == "network":
                return await self._network(item)
            return await self._build_cache(item)
        except EngineNotFoundError:
            return "skipped", "it no longer exists", 0
        except DockyardError as exc:
            return "failed", exc.message, 0

    async def _container(self, item: CleanupItem) -> tuple[str, str | None, int]:
        info = await self.engine.inspect_container(item.id)
        state = info.get("State") or {}
        if state.get("Running") or state.get("Restarting") or state.get("Paused"):
            return "skipped", "it is running now", 0
        await self.engine.remove_container(item.id)
        return "removed", None, item.size_bytes or 0

    async def _image(self, item: CleanupItem) -> tuple[str, str | None, int]:
        info = await self.engine.inspect_image(item.id)
        if info is None:
            return "skipped", "it no longer exists", 0
        users = self.use.by_image.get(str(info.get("Id")), [])
        if users:
            return "skipped", f"it is used by container {_who(users)} now", 0
        tags = [t for t in info.get("RepoTags") or [] if t != "<none>:<none>"]
        defined = {normalize_reference(r): s for r, s in self.refs.images.items()}
        named = [s for t in tags for s in defined.get(t, [])]
        if named:
            return "skipped", f"service {_who(named)} uses it now", 0
        # Untag one tag at a time (no force): the last untag deletes the image.
        for tag in tags[:-1]:
            await self.engine.remove_image(tag)
        await self.engine.remove_image(tags[-1] if tags else item.id)
        return "removed", None, item.size_bytes or 0

    async def _volume(self, item: CleanupItem) -> tuple[str, str | None, int]:
        if await self.engine.inspect_volume(item.id) is None:
            return "skipped", "it no longer exists", 0
        users = self.use.by_volume.get(item.id, [])
        if users:
            return "skipped", f"it is used by container {_who(users)} now", 0
        if item.id in self.refs.volumes:
            return "skipped", f"service {_who(self.refs.volumes[item.id])} uses it now", 0
        await self.engine.remove_volume(item.id)
        return "removed", None, item.size_bytes or 0

    async def _network(self, item: CleanupItem) -> tuple[str, str | None, int]:
        info = await self.engine.inspect_network(item.id)
        if info is None:
            return "skipped", "it no longer exists", 0
        name = str(info.get("Name", ""))
        users = self.use.by_network.get(name, []) + self.use.by_network.get(item.id, [])
        if users or info.get("Containers"):
            who = (
                _who(users)
                if users
                else ", ".join(str(c.get("Name")) for c in (info.get("Containers") or {}).values())
            )
            return "skipped", f"it is used by container {who} now", 0
        if name in self.refs.networks:
            return "skipped", f"service {_who(self.refs.networks[name])} uses it now", 0
        await self.engine.remove_network(item.id)
        return "removed", None, 0

    async def _build_cache(self, item: CleanupItem) -> tuple[str, str | None, int]:
        result = await self.engine.prune_build_cache(filters={"id": [item.id]})
        deleted = result.get("CachesDeleted") or []
        if item.id not in deleted and not any(str(d).startswith(item.id) for d in deleted):
            return "skipped", "it is in use or no longer exists", 0
        return "removed", None, int(result.get("SpaceReclaimed") or item.size_bytes or 0)


async def execute_items(
    ctx: Any, engine: DockerEngine, node_id: int, plan_id: str, items: list[CleanupItem]
) -> CleanupResult:
    """Remove `items` (containers first), reporting one progress line per item.

    What uses what is read fresh before the containers go and again after them, so an object
    that came into use since the dry run is skipped.
    """
    runtime = ctx.runtime
    done: list[CleanupItem] = []
    ordered = sorted(items, key=lambda i: _ORDER[i.kind])
    await ctx.progress(f"Removing {len(ordered)} item(s)")
    executor = _Executor(engine)
    fresh_after_containers = False
    async with runtime.db.read_session() as session:
        await executor.refresh(session, runtime.instance_id, node_id)
    for item in ordered:
        if item.kind != "container" and not fresh_after_containers:
            async with runtime.db.read_session() as session:
                await executor.refresh(session, runtime.instance_id, node_id)
            fresh_after_containers = True
        result, reason, reclaimed = await executor.remove(item)
        done.append(
            item.model_copy(
                update={"result": result, "reason": reason, "reclaimed_bytes": reclaimed}
            )
        )
        what = f"{item.kind.replace('_', ' ')} {item.name}"
        if result == "removed":
            await ctx.progress(f"Removed {what}")
        elif result == "skipped":
            await ctx.progress(f"Skipped {what}: {reason}", level="warning")
        else:
            await ctx.progress(f"Failed to remove {what}: {reason}", level="error")
    removed = sum(1 for d in done if d.result == "removed")
    skipped = sum(1 for d in done if d.result == "skipped")
    failed = sum(1 for d in done if d.result == "failed")
    reclaimed_total = sum(d.reclaimed_bytes or 0 for d in done)
    await ctx.progress(
        f"Cleanup finished: {removed} removed, {skipped} skipped, {failed} failed, "
        f"{reclaimed_total} bytes reclaimed"
    )
    return CleanupResult(
        plan_id=plan_id,
        items=done,
        removed=removed,
        skipped=skipped,
        failed=failed,
        reclaimed_bytes=reclaimed_total,
    )
