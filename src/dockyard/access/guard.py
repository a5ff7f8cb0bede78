"""Per-object checks on services: 404 for what the caller cannot see, audited 403 else."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access.service import scope_of, service_permissions
from dockyard.audit.service import record
from dockyard.auth.service import Principal
from dockyard.kit.errors import NotFoundError, PermissionDeniedError
from dockyard.kit.request_meta import request_meta
from dockyard.runtime import Runtime
from dockyard.services import repository
from dockyard.services.models import Service

AUTHENTICATED = "authenticated"  # the same marker as dockyard.deps.AUTHENTICATED


def not_found(service_id: int) -> NotFoundError:
    # The same answer as for an id that does not exist: existence is not leaked.
    return NotFoundError(f"Service {service_id} does not exist.", code="service_not_found")


async def deny(
    principal: Principal,
    permission: str,
    request: Request,
    runtime: Runtime,
    *,
    target_type: str | None = None,
    target_id: int | str | None = None,
    reason: str = "permission",
) -> PermissionDeniedError:
    """Audit an `access.denied` event (own transaction) and return the 403 to raise."""
    meta = request_meta(request, runtime.settings.trusted_proxies)
    async with runtime.db.session() as session:
        await record(
            session,
            action="access.denied",
            actor=principal.actor,
            outcome="denied",
            target_type=target_type,
            target_id=target_id,
            details={
                "permission": permission,
                "method": request.method,
                "path": request.url.path,
                "reason": reason,
            },
            meta=meta,
        )
        await session.commit()
    return PermissionDeniedError(
        f"You do not have the '{permission}' permission on this service.",
        details={"permission": permission},
    )


async def _check(
    principal: Principal, service: Service, permission: str, request: Request, runtime: Runtime
) -> None:
    held = service_permissions(
        principal, service_id=service.id, node_id=service.node_id, owner_id=service.owner_id
    )
    if held is None:
        # Audited like any denial, answered like a missing id.
        await deny(
            principal,
            permission,
            request,
            runtime,
            target_type="service",
            target_id=service.id,
            reason="not_visible",
        )
        raise not_found(service.id)
    if permission != AUTHENTICATED and permission not in held:
        raise await deny(
            principal, permission, request, runtime, target_type="service", target_id=service.id
        )


async def service_for(
    session: AsyncSession,
    service_id: int,
    principal: Principal,
    permission: str,
    request: Request,
    runtime: Runtime,
) -> Service:
    """The service if the caller may see it and holds `permission` on it.

    404 when it does not exist or is not visible (the latter audited); 403 (audited) when
    visible but the permission is not held on it (for example a read-only grant).
    """
    service = await repository.get(session, service_id)
    if service is None:
        raise not_found(service_id)
    held = service_permissions(
        principal, service_id=service.id, node_id=service.node_id, owner_id=service.owner_id
    )
    if held is None or permission not in held:
        # Nothing is written yet: end this transaction (on SQLite it may hold the write
        # lock) before the denial is audited in its own.
        await session.rollback()
        await deny(
            principal,
            permission,
            request,
            runtime,
            target_type="service",
            target_id=service_id,
            reason="not_visible" if held is None else "permission",
        )
        raise (
            not_found(service_id)
            if held is None
            else PermissionDeniedError(
                f"You do not have the '{permission}' permission on this service.",
                details={"permission": permission},
            )
        )
    return service


async def check_service_path(
    principal: Principal, permission: str, raw_id: object, request: Request, runtime: Runtime
) -> None:
    """The check `require(...)` runs on every route with a `{service_id}` path parameter.

    A missing service is left to the route (its own 404); an id that is not a number is
    left to validation. Callers who see everything with the permission skip the query.
    """
    try:
        service_id = int(str(raw_id))
    except ValueError:
        return
    scope = scope_of(principal)
    if scope.see_all and (permission == AUTHENTICATED or permission in scope.base):
        return
    async with runtime.db.read_session() as session:
        service = await repository.get(session, service_id)
    if service is not None:
        await _check(principal, service, permission, request, runtime)
