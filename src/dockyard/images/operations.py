"""Job handlers: pull an image, clean up a node (now or on its schedule)."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard.engine.adapter import DockerEngine
from dockyard.images.cleanup import claim_plan, compute_items, execute_items, new_plan
from dockyard.images.models import CleanupPlan
from dockyard.images.schemas import ALL_TARGETS, CleanupItem
from dockyard.jobs.runner import JobContext, job_handler
from dockyard.kit.errors import DockyardError
from dockyard.nodes import repository as nodes_repository
from dockyard.registries.service import auth_config_for

# Per-layer statuses worth a line of their own (the byte counters in between are not).
_LAYER_STEPS = (
    "Pulling fs layer",
    "Waiting",
    "Downloading",
    "Verifying Checksum",
    "Download complete",
    "Extracting",
    "Pull complete",
    "Already exists",
)


async def _engine(ctx: JobContext) -> tuple[int, DockerEngine]:
    node_id = ctx.node_id or int(ctx.params.get("node_id") or 0)
    async with ctx.runtime.db.read_session() as session:
        node = await nodes_repository.get(session, node_id)
    if node is None:
        raise DockyardError("The node no longer exists.", code="node_not_found")
    return node.id, ctx.runtime.nodes.engine_for(node)


class LayerProgress:
    """Docker's pull messages as ordered progress lines: one per layer step, not per chunk."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.seen: set[tuple[str, str]] = set()
        self.queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._drain())

    def __call__(self, message: dict[str, Any]) -> None:
        status = str(message.get("status") or "").strip()
        layer = str(message.get("id") or "")
        if not status:
            return
        if layer and status in _LAYER_STEPS:
            if (layer, status) in self.seen:
                return
            self.seen.add((layer, status))
            self.queue.put_nowait((f"{layer}: {status}", "info"))
        elif not layer or status.startswith(("Pulling from", "Digest", "Status")):
            self.queue.put_nowait((f"{layer}: {status}" if layer else status, "info"))

    async def _drain(self) -> None:
        while (entry := await self.queue.get()) is not None:
            await self.ctx.progress(entry[0], level=entry[1])

    async def close(self) -> None:
        self.queue.put_nowait(None)
        await self.task


@job_handler("images.pull")
async def pull_image(ctx: JobContext) -> dict[str, Any]:
    reference = str(ctx.params["reference"])
    _, engine = await _engine(ctx)
    await ctx.progress(f"Pulling {reference}")
    reporter = LayerProgress(ctx)
    try:
        # Credentials of a configured registry for this reference (never logged).
        auth = await auth_config_for(ctx.runtime, reference)
        last = await engine.pull_image(reference, reporter, auth_config=auth)
    finally:
        await reporter.close()
    info = await engine.inspect_image(reference)
    if info is None:
        raise DockyardError(f"{reference} is not on the node after the pull.")
    digests = list(info.get("RepoDigests") or [])
    status = str(last.get("status") or "done").split(" for ")[0]
    await ctx.progress(f"Pulled {reference} ({str(info.get('Id'))[7:19]}): {status}")
    return {
        "reference": reference,
        "image_id": str(info.get("Id")),
        "repo_digests": digests,
        "size_bytes": int(info.get("Size") or 0),
    }


async def _cleanup(ctx: JobContext, *, plan_id: str | None) -> dict[str, Any]:
    node_id, engine = await _engine(ctx)
    if plan_id is not None:
        async with ctx.runtime.db.read_session() as session:
            plan = await session.get(CleanupPlan, plan_id)
        if plan is None:
            raise DockyardError("The cleanup plan no longer exists.", code="cleanup_plan_not_found")
        items = [CleanupItem.model_validate(i) for i in plan.items]
        await ctx.progress(f"Executing cleanup plan {plan_id} ({len(items)} item(s))")
    else:
        targets = [t for t in ALL_TARGETS if t in (ctx.params.get("targets") or [])]
        label = ctx.params.get("label") or None
        include_managed = bool(ctx.params.get("include_managed"))
        await ctx.progress(f"Finding what to remove: {', '.join(targets)}")
        async with ctx.runtime.db.session() as session:
            items = await compute_items(
                session,
                engine,
                ctx.runtime.instance_id,
                node_id,
                targets=targets,
                include_managed=include_managed,
                label=label,
            )
            plan = new_plan(
                node_id,
                items,
                targets=targets,
                include_managed=include_managed,
                label=label,
                actor=ctx.actor,
            )
            session.add(plan)
            await session.flush()
            await claim_plan(session, plan.id, node_id, ctx.job_id)
            await session.commit()
        plan_id = plan.id
    result = await execute_items(ctx, engine, node_id, plan_id, items)
    return result.model_dump(mode="json")


@job_handler("images.cleanup")
async def cleanup(ctx: JobContext) -> dict[str, Any]:
    plan_id = ctx.params.get("plan_id")
    return await _cleanup(ctx, plan_id=str(plan_id) if plan_id else None)


@job_handler("node.scheduled_cleanup")
async def scheduled_cleanup(ctx: JobContext) -> dict[str, Any]:
    """A cleanup policy's run: compute and execute in one go."""
    return await _cleanup(ctx, plan_id=None)
