"""Job handlers of the updates domain: manual rollback and the scheduled update check.

(`service.update` itself is registered in `dockyard.services.operations` and runs
`dockyard.updates.flow.run_update`.)
"""

from __future__ import annotations

from typing import Any

from dockyard.audit.service import record
from dockyard.jobs.runner import JobContext, job_handler
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import DockyardError
from dockyard.registries.service import check_service_updates
from dockyard.services import repository as services
from dockyard.updates import repository
from dockyard.updates.flow import run_rollback, run_update
from dockyard.updates.service import ROLLBACK_JOB_KIND, SCHEDULED_JOB_KIND


@job_handler(ROLLBACK_JOB_KIND)
async def rollback(ctx: JobContext) -> dict[str, Any]:
    """Return the containers of an update to the images they ran before it."""
    return await run_rollback(ctx, int(ctx.params["update_id"]))


async def _check(ctx: JobContext, service_id: int) -> dict[str, Any]:
    """The registries domain's digest check of every image of the service (never pulls)."""
    async with ctx.runtime.db.read_session() as session:
        service = await services.get(session, service_id)
        if service is None:
            raise DockyardError("The service no longer exists.", code="service_not_found")
        result = await check_service_updates(ctx.runtime, session, service)
    return result.model_dump(mode="json")


@job_handler(SCHEDULED_JOB_KIND)
async def scheduled_update(ctx: JobContext) -> dict[str, Any]:
    """Per the service's policy: detect (notify) or detect and update (auto)."""
    service_id = int(ctx.params.get("service_id") or ctx.service_id or 0)
    ctx.service_id = service_id
    schedule = ctx.params.get("schedule_key")
    async with ctx.runtime.db.read_session() as session:
        policy = await repository.get_policy(session, service_id)
    mode = policy.mode if policy is not None else "off"
    if mode == "off" and not ctx.params.get("manual"):
        await ctx.progress("The update policy is off; nothing to do")
        return {"mode": mode, "skipped": True}
    await ctx.progress(f"Checking the registries for new images (policy: {mode})")
    check = await _check(ctx, service_id)
    images = check.get("images") or []
    available = sorted(
        f"{i['image']}@{i.get('remote_digest')}" for i in images if i.get("update_available")
    )
    for i in images:
        if i.get("error"):
            await ctx.progress(f"{i['image']}: {i['error']}", level="warning")
    previous = set((policy.last_check or {}).get("available", [])) if policy else set()
    new = [a for a in available if a not in previous]
    async with ctx.runtime.db.session() as session:
        row = await repository.get_policy(session, service_id)
        if row is not None:
            row.last_check = {"checked_at": utcnow().isoformat(), "available": available}
        if new:
            publish_after_commit(
                session,
                "update.available",
                {
                    "service_id": service_id,
                    "service": ctx.params.get("service"),
                    "images": [i for i in images if i.get("update_available")],
                    "schedule": schedule,
                },
            )
            await record(
                session,
                action="service.update.available",
                actor=ctx.actor,
                target_type="service",
                target_id=service_id,
                details={"job_id": ctx.job_id, "images": new, "schedule": schedule},
            )
        await session.commit()
    if not available:
        await ctx.progress("Every image is up to date")
        return {"mode": mode, "update_available": False, "check": check}
    await ctx.progress("Update available: " + ", ".join(available))
    if mode != "auto":
        return {"mode": mode, "update_available": True, "check": check}
    await ctx.progress("Updating now (policy: auto)")
    async with ctx.runtime.db.session() as session:
        await record(
            session,
            action="service.update.scheduled",
            actor=ctx.actor,
            target_type="service",
            target_id=service_id,
            details={"job_id": ctx.job_id, "schedule": schedule, "images": available},
        )
        await session.commit()
    triggered_by = "schedule" if schedule and not ctx.params.get("manual") else "user"
    result = await run_update(ctx, triggered_by=triggered_by, schedule=schedule)
    return {"mode": mode, "update_available": True, "update": result}
