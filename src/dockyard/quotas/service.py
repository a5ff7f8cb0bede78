"""Quotas: a user's effective limits, their usage, the check, and the policy context.

`policy_context(session, principal, settings)` builds the `PolicyContext` of the container
security policy for a caller; `apply_policy(...)` runs the policy (refusals, forced limits)
and then the quota check. Usage counts the latest revision of every service the user owns
(`services.owner_id`); a container without a limit counts as the quota's default.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access import service as access
from dockyard.audit.service import Actor, record
from dockyard.auth.service import Principal
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database
from dockyard.kit.errors import NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.quotas.models import UserQuota
from dockyard.quotas.schemas import QuotaOut, QuotaUpdate, QuotaUsage, QuotaValues
from dockyard.services import repository as services_repository
from dockyard.services.compose import ComposeDefinition
from dockyard.services.compose.policy import (
    PolicyContext,
    PolicyViolationError,
    QuotaLimits,
    enforce_container_policy,
    gpus_requested,
)
from dockyard.services.models import Service
from dockyard.settings import Settings
from dockyard.users.models import User

PRIVILEGED_PERMISSION = "services:privileged"
_FIELDS = (
    "max_services",
    "max_containers",
    "max_cpus",
    "max_memory_bytes",
    "max_gpus",
    "default_cpus",
    "default_memory",
    "default_pids",
)


def default_limits(settings: Settings) -> QuotaLimits:
    """The `DOCKYARD_QUOTA_*` defaults."""
    return QuotaLimits(
        max_services=settings.quota_max_services,
        max_containers=settings.quota_max_containers,
        max_cpus=settings.quota_max_cpus,
        max_memory_bytes=settings.quota_max_memory_bytes,
        max_gpus=settings.quota_max_gpus,
        default_cpus=settings.quota_default_cpus,
        default_memory=settings.quota_default_memory,
        default_pids=settings.quota_default_pids,
    )


async def limits_for(session: AsyncSession, user_id: int, settings: Settings) -> QuotaLimits:
    """The user's own values where set, the global defaults elsewhere."""
    limits = default_limits(settings)
    row = await session.get(UserQuota, user_id)
    if row is None:
        return limits
    own = {name: getattr(row, name) for name in _FIELDS if getattr(row, name) is not None}
    return replace(limits, **own)


@dataclass(frozen=True)
class Usage:
    services: int = 0
    containers: int = 0
    cpus: float = 0.0
    memory_bytes: int = 0
    gpus: int = 0


def definition_usage(defn: ComposeDefinition | dict[str, Any], limits: QuotaLimits) -> Usage:
    """What one definition takes: containers, CPUs, memory, GPUs (unlimited ones at the default)."""
    data = defn.to_json() if isinstance(defn, ComposeDefinition) else defn
    services = data.get("services") or {}
    cpus = sum(float(s.get("cpus") or limits.default_cpus) for s in services.values())
    memory = sum(int(s.get("mem_limit") or limits.default_memory) for s in services.values())
    gpus = gpus_requested(data)
    return Usage(
        services=1,
        containers=len(services),
        cpus=cpus,
        memory_bytes=memory,
        gpus=gpus if gpus is not None else 1_000_000,
    )


async def usage_of(
    session: AsyncSession, user_id: int, limits: QuotaLimits, *, exclude_service_id: int | None
) -> Usage:
    """The total of the user's services (all but `exclude_service_id`)."""
    rows = (await session.scalars(select(Service).where(Service.owner_id == user_id))).all()
    owned = [s for s in rows if s.id != exclude_service_id]
    latest = await services_repository.latest_revisions(session, owned)
    total = Usage(services=len(owned))
    for service in owned:
        revision = latest.get(service.id)
        if revision is None:
            continue
        one = definition_usage(revision.definition, limits)
        total = Usage(
            services=total.services,
            containers=total.containers + one.containers,
            cpus=total.cpus + one.cpus,
            memory_bytes=total.memory_bytes + one.memory_bytes,
            gpus=total.gpus + one.gpus,
        )
    return total


def human_bytes(size: float) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.2f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{int(size)} B"


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def quota_problems(limits: QuotaLimits, used: Usage, wanted: Usage) -> list[dict[str, str]]:
    """`[{"path", "message"}]` for each total `used + wanted` that exceeds the quota."""
    problems: list[dict[str, str]] = []
    checks: list[tuple[str, float, float, float | None, Any]] = [
        ("services", wanted.services, used.services, limits.max_services, _number),
        ("containers", wanted.containers, used.containers, limits.max_containers, _number),
        ("cpus", wanted.cpus, used.cpus, limits.max_cpus, _number),
        ("memory", wanted.memory_bytes, used.memory_bytes, limits.max_memory_bytes, human_bytes),
        ("gpus", wanted.gpus, used.gpus, limits.max_gpus, _number),
    ]
    for name, asked, in_use, limit, fmt in checks:
        if limit is None or asked + in_use <= limit + 1e-9:
            continue
        asked_text = "all of the host's" if name == "gpus" and asked >= 1_000_000 else fmt(asked)
        problems.append(
            {
                "path": name,
                "message": f"{name}: {asked_text} requested, quota {fmt(limit)}, "
                f"{fmt(in_use)} in use",
            }
        )
    return problems


def check_quota(
    limits: QuotaLimits, used: Usage, defn: ComposeDefinition, *, new_service: bool
) -> None:
    """422 `quota_exceeded` naming every total the definition would push over the quota."""
    wanted = definition_usage(defn, limits)
    if not new_service:
        wanted = replace(wanted, services=0)
    problems = quota_problems(limits, used, wanted)
    if problems:
        raise ValidationFailedError(
            "Over your quota: " + "; ".join(p["message"] for p in problems),
            code="quota_exceeded",
            details={"errors": problems},
        )


def is_privileged(principal: Principal) -> bool:
    """Admins and holders of `services:privileged` are not bound by the policy or quotas."""
    return principal.is_admin or principal.can(PRIVILEGED_PERMISSION)


async def policy_context(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    *,
    service_name: str | None = None,
) -> PolicyContext:
    """The container policy context of a caller (`service_name` anchors relative binds)."""
    sees_all = access.sees_all(principal)
    if is_privileged(principal):
        return PolicyContext(is_admin=True, user_id=principal.user.id, sees_all=sees_all)
    project_dir = None
    if service_name is not None:
        project_dir = str((settings.data_dir / "projects" / service_name).resolve())
    return PolicyContext(
        is_admin=False,
        user_id=principal.user.id,
        allowed_bind_roots=tuple(settings.allowed_bind_roots),
        quota=await limits_for(session, principal.user.id, settings),
        project_dir=project_dir,
        sees_all=sees_all,
    )


async def apply_policy(
    session: AsyncSession,
    defn: ComposeDefinition,
    context: PolicyContext,
    *,
    exclude_service_id: int | None,
    new_service: bool,
) -> ComposeDefinition:
    """The container policy (403 `policy_violation`) then the quota (422 `quota_exceeded`)."""
    if context.is_admin or context.user_id is None:
        return defn
    enforced = enforce_container_policy(defn, context)
    used = await usage_of(
        session, context.user_id, context.quota, exclude_service_id=exclude_service_id
    )
    check_quota(context.quota, used, enforced, new_service=new_service)
    return enforced


@asynccontextmanager
async def audited_policy(
    session: AsyncSession,
    db: Database,
    principal: Principal,
    meta: RequestMeta | None,
    *,
    operation: str,
    target_id: int | None = None,
) -> AsyncIterator[None]:
    """Around a save: a policy refusal rolls `session` back and writes only a `denied` event.

    The event (`service.policy.denied`) names the operation and each refused path and rule.
    """
    try:
        yield
    except PolicyViolationError as exc:
        await session.rollback()
        async with db.session() as audit_session:
            await record(
                audit_session,
                action="service.policy.denied",
                actor=principal.actor,
                outcome="denied",
                target_type="service" if target_id is not None else None,
                target_id=target_id,
                details={
                    "operation": operation,
                    "refused": [{"path": v.path, "rule": v.rule} for v in exc.violations],
                },
                meta=meta,
            )
            await audit_session.commit()
        raise


# ---------------------------------------------------------------- the API


async def _user_or_404(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"User {user_id} does not exist.", code="user_not_found")
    return user


async def quota_out(session: AsyncSession, user_id: int, settings: Settings) -> QuotaOut:
    await _user_or_404(session, user_id)
    limits = await limits_for(session, user_id, settings)
    used = await usage_of(session, user_id, limits, exclude_service_id=None)
    row = await session.get(UserQuota, user_id)
    defaults = default_limits(settings)
    return QuotaOut(
        user_id=user_id,
        custom=row is not None,
        max_services=limits.max_services,
        max_containers=limits.max_containers,
        max_cpus=limits.max_cpus,
        max_memory_bytes=limits.max_memory_bytes,
        max_gpus=limits.max_gpus,
        default_cpus=limits.default_cpus,
        default_memory=limits.default_memory,
        default_pids=limits.default_pids,
        usage=QuotaUsage(
            services=used.services,
            containers=used.containers,
            cpus=used.cpus,
            memory_bytes=used.memory_bytes,
            gpus=used.gpus,
        ),
        own=QuotaValues(**{name: getattr(row, name) if row else None for name in _FIELDS}),
        defaults=QuotaValues(**{name: getattr(defaults, name) for name in _FIELDS}),
    )


async def set_quota(
    session: AsyncSession,
    user_id: int,
    body: QuotaUpdate,
    *,
    actor: Actor,
    meta: RequestMeta | None = None,
) -> None:
    """Replace the user's own quota (all-null removes it: the defaults apply). Caller commits."""
    user = await _user_or_404(session, user_id)
    values = body.model_dump()
    row = await session.get(UserQuota, user_id)
    if all(v is None for v in values.values()):
        if row is not None:
            await session.delete(row)
    elif row is None:
        session.add(UserQuota(user_id=user_id, updated_at=utcnow(), **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
    await session.flush()
    await record(
        session,
        action="user.quota.updated",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={k: v for k, v in values.items() if v is not None},
        meta=meta,
    )
