"""Creating jobs (in the caller's transaction) and serializing them per lock key."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor
from dockyard.jobs import repository
from dockyard.jobs.models import Job
from dockyard.kit.errors import ConflictError


def _conflict(active: Job | None, lock_key: str) -> ConflictError:
    if active is None:
        return ConflictError(
            "Another operation on this object started at the same moment; try again.",
            code="job_conflict",
            details={"lock_key": lock_key},
        )
    return ConflictError(
        f"Another operation ({active.kind}, job {active.id}) is {active.status} on this "
        "object; wait for it to finish.",
        code="job_conflict",
        details={"job_id": active.id, "kind": active.kind, "status": active.status},
    )


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    actor: Actor,
    params: dict[str, Any] | None = None,
    service_id: int | None = None,
    node_id: int | None = None,
    lock_key: str | None = None,
) -> Job:
    """Insert a queued job. With `lock_key`, a second active job on the same key is a 409.

    The caller commits, then hands the id to the runner.
    """
    if lock_key is not None:
        active = await repository.active_for_lock(session, lock_key)
        if active is not None:
            raise _conflict(active, lock_key)
    job = Job(
        id=uuid.uuid4().hex,
        kind=kind,
        status="queued",
        service_id=service_id,
        node_id=node_id,
        lock_key=lock_key,
        params=params or {},
        result={},
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        progress_count=0,
    )
    session.add(job)
    try:
        # A savepoint, so losing the race leaves the caller's transaction usable.
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise _conflict(None, lock_key or "") from exc
    return job
