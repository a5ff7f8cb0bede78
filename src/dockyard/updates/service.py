"""Update policies (stored, scheduled), update history views, rollback and run-now requests."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.engine.adapter import DockerEngine
from dockyard.jobs.models import Job
from dockyard.jobs.service import enqueue
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import ConflictError, NotFoundError
from dockyard.kit.request_meta import RequestMeta
from dockyard.schedules import service as schedules
from dockyard.schedules.schemas import ScheduleSpec
from dockyard.services.models import Service
from dockyard.services.service import lock_key
from dockyard.updates import repository
from dockyard.updates.flow import short_ref
from dockyard.updates.models import ServiceUpdatePolicy, ServiceUpdateRecord
from dockyard.updates.schemas import (
    UpdateOut,
    UpdatePolicyIn,
    UpdatePolicyOut,
    VerifySettings,
    default_schedule,
)

SCHEDULED_JOB_KIND = "service.scheduled_update"
ROLLBACK_JOB_KIND = "service.rollback"


def schedule_key(service_id: int) -> str:
    return f"service:{service_id}:update"


def _spec(body: UpdatePolicyIn) -> ScheduleSpec:
    """The schedule, with the policy's maintenance window (if any) applied."""
    if body.maintenance_window is None:
        return body.schedule
    return body.schedule.model_copy(update={"maintenance_window": body.maintenance_window})


async def policy_out(session: AsyncSession, service: Service) -> UpdatePolicyOut:
    row = await repository.get_policy(session, service.id)
    if row is None:
        return UpdatePolicyOut(service_id=service.id, schedule=default_schedule())
    next_run_at = None
    if row.mode != "off":
        schedule = await schedules.get_schedule(session, schedule_key(service.id))
        next_run_at = schedule.next_run_at if schedule is not None else None
    return UpdatePolicyOut(
        service_id=service.id,
        mode=row.mode,
        schedule=ScheduleSpec.model_validate(row.schedule),
        verify=VerifySettings(timeout_s=row.verify_timeout_s, settle_s=row.verify_settle_s),
        remove_old_images=row.remove_old_images,
        maintenance_window=row.maintenance_window,
        next_run_at=next_run_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        last_check=row.last_check or {},
    )


async def put_policy(
    session: AsyncSession,
    service: Service,
    body: UpdatePolicyIn,
    *,
    actor: Actor,
    meta: RequestMeta | None = None,
) -> UpdatePolicyOut:
    """Store the policy and (re)register or drop its schedule, in one transaction."""
    row = await repository.get_policy(session, service.id)
    if row is None:
        row = ServiceUpdatePolicy(service_id=service.id, last_check={})
        session.add(row)
    row.mode = body.mode
    row.schedule = body.schedule.model_dump(mode="json")
    row.maintenance_window = (
        body.maintenance_window.model_dump(mode="json") if body.maintenance_window else None
    )
    row.verify_timeout_s = body.verify.timeout_s
    row.verify_settle_s = body.verify.settle_s
    row.remove_old_images = body.remove_old_images
    row.updated_at = utcnow()
    row.updated_by = actor.label
    key = schedule_key(service.id)
    if body.mode == "off":
        await schedules.delete_schedule(session, key)
    else:
        await schedules.upsert_schedule(
            session,
            key=key,
            job_kind=SCHEDULED_JOB_KIND,
            params={"service_id": service.id, "service": service.name},
            spec=_spec(body),
            service_id=service.id,
            node_id=service.node_id,
            description=f"Update check ({body.mode}) of service {service.name}",
            lock_key=lock_key(service.id),
        )
    await session.flush()
    await record(
        session,
        action="service.update_policy.updated",
        actor=actor,
        target_type="service",
        target_id=service.id,
        details={
            "name": service.name,
            "mode": body.mode,
            "schedule": row.schedule,
            "verify": body.verify.model_dump(),
            "remove_old_images": body.remove_old_images,
            "maintenance_window": row.maintenance_window,
        },
        meta=meta,
    )
    return await policy_out(session, service)


class ImageCheck:
    """Which previous images are still on the node (one inspect per image per request)."""

    def __init__(self, engine: DockerEngine) -> None:
        self.engine = engine
        self._seen: dict[str, bool] = {}

    async def present(self, image_id: str | None) -> bool:
        if not image_id:
            return False
        if image_id not in self._seen:
            self._seen[image_id] = await self.engine.inspect_image(image_id) is not None
        return self._seen[image_id]

    async def missing(self, row: ServiceUpdateRecord) -> list[str]:
        """Changed containers of `row` whose previous image is gone (all, if none changed)."""
        changed = {n: c for n, c in (row.containers or {}).items() if c.get("changed")}
        if not changed:
            return ["(no container changed)"]
        return [
            f"{name} ({short_ref(c.get('from'))})"
            for name, c in sorted(changed.items())
            if not await self.present((c.get("from") or {}).get("image_id"))
        ]


INTERRUPTED = "Interrupted: the server stopped while this update ran."


async def update_out(
    row: ServiceUpdateRecord, images: ImageCheck | None, job_status: str | None = None
) -> UpdateOut:
    out = UpdateOut.model_validate(row)
    if row.result == "running" and job_status not in (None, "queued", "running"):
        out.result = "failed"
        out.reason = out.reason or INTERRUPTED
    if images is not None and row.kind == "update" and row.result == "succeeded":
        out.can_rollback = not await images.missing(row)
    return out


async def request_rollback(
    session: AsyncSession,
    service: Service,
    *,
    update_id: int | None,
    images: ImageCheck,
    actor: Actor,
) -> Job:
    """Queue a rollback to the images before `update_id` (default: the last good update)."""
    if update_id is None:
        row = await repository.last_successful_update(session, service.id)
        if row is None:
            raise ConflictError(
                f"Service {service.name} has no successful update to roll back.",
                code="nothing_to_roll_back",
            )
    else:
        row = await repository.get_update(session, service.id, update_id)
        if row is None:
            raise NotFoundError(
                f"Service {service.name} has no update {update_id}.", code="update_not_found"
            )
    missing = await images.missing(row)
    if missing:
        raise ConflictError(
            f"Update {row.id} of {service.name} cannot be rolled back: the previous image of "
            + ", ".join(missing)
            + " is no longer on the node (removed after the update, or pruned).",
            code="rollback_image_missing",
            details={"update_id": row.id, "missing": missing},
        )
    return await enqueue(
        session,
        kind=ROLLBACK_JOB_KIND,
        actor=actor,
        params={"service": service.name, "update_id": row.id},
        service_id=service.id,
        node_id=service.node_id,
        lock_key=lock_key(service.id),
    )


async def request_run_now(session: AsyncSession, service: Service, *, actor: Actor) -> Job:
    """Queue the policy's check (and, in auto mode, update) now."""
    params: dict[str, Any] = {"service": service.name, "service_id": service.id, "manual": True}
    return await enqueue(
        session,
        kind=SCHEDULED_JOB_KIND,
        actor=actor,
        params=params,
        service_id=service.id,
        node_id=service.node_id,
        lock_key=lock_key(service.id),
    )
