"""FastAPI dependencies shared by every router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from dockyard.access.permissions import ALL_PERMISSIONS
from dockyard.audit.service import record
from dockyard.auth.service import Principal
from dockyard.kit.errors import AuthenticationError, PermissionDeniedError
from dockyard.kit.request_meta import RequestMeta, request_meta
from dockyard.runtime import Runtime


def get_runtime(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.db.session() as session:
        yield session


async def get_read_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.db.read_session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]


def get_meta(request: Request, runtime: RuntimeDep) -> RequestMeta:
    return request_meta(request, runtime.settings.trusted_proxies)


MetaDep = Annotated[RequestMeta, Depends(get_meta)]

_bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")


async def get_principal(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError()
    return await runtime.auth.authenticate(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


# A route any signed-in user may call (their own profile, sign-out): declared, not implied.
AUTHENTICATED = "authenticated"


# What a user whose role requires MFA, and who has not enrolled, may still call.
MFA_ENROLLMENT_PATHS = ("/api/v1/auth/",)


class PermissionDependency:
    """`Depends(require("services:read"))`: the authenticated principal, or 403.

    A denial writes one `denied` audit event and nothing else (no Docker call, no change).
    The declared permission is kept on the object so a test can prove every route has one.
    """

    def __init__(self, permission: str) -> None:
        if permission != AUTHENTICATED and permission not in ALL_PERMISSIONS:
            raise ValueError(
                f"unknown permission {permission!r} (declare it in access.permissions)"
            )
        self.permission = permission

    async def __call__(
        self, request: Request, principal: PrincipalDep, runtime: RuntimeDep
    ) -> Principal:
        await runtime.auth.check_api_rate(principal.user.id)
        if principal.mfa_enrollment_required and not request.url.path.startswith(
            MFA_ENROLLMENT_PATHS
        ):
            raise PermissionDeniedError(
                "Your role requires two-factor authentication: set it up on your account page.",
                code="mfa_enrollment_required",
            )
        await check_permission(principal, self.permission, request, runtime)
        if "service_id" in request.path_params:
            # Every route on one service: 404 for a service the caller cannot see, 403 for
            # one it sees without this permission on it (see access.service).
            from dockyard.access.guard import check_service_path

            await check_service_path(
                principal, self.permission, request.path_params["service_id"], request, runtime
            )
        return principal


async def check_permission(
    principal: Principal, permission: str, request: Request, runtime: Runtime
) -> None:
    """Raise 403 (after auditing the denial) unless `principal` holds `permission`.

    For checks that depend on the request (for example the action of
    `POST /services/{id}/{action}`); plain routes use `require(...)`.
    """
    if permission == AUTHENTICATED or principal.can(permission):
        return
    meta = request_meta(request, runtime.settings.trusted_proxies)
    async with runtime.db.session() as session:
        await record(
            session,
            action="access.denied",
            actor=principal.actor,
            outcome="denied",
            details={"permission": permission, "method": request.method, "path": request.url.path},
            meta=meta,
        )
        await session.commit()
    raise PermissionDeniedError(
        f"You do not have the '{permission}' permission.",
        details={"permission": permission},
    )


_REQUIREMENTS: dict[str, PermissionDependency] = {}


def require(permission: str) -> PermissionDependency:
    """The dependency that checks `permission` (one shared instance per permission)."""
    dependency = _REQUIREMENTS.get(permission)
    if dependency is None:
        dependency = _REQUIREMENTS[permission] = PermissionDependency(permission)
    return dependency


class AnyOf(PermissionDependency):
    """`require(primary)`, or else the first alternative the caller holds.

    `permission` (what the route-permission test reads) is the primary one; a caller with
    neither is refused (and audited) for the primary.
    """

    def __init__(self, primary: str, *alternatives: str) -> None:
        super().__init__(primary)
        self.alternatives = alternatives

    async def __call__(
        self, request: Request, principal: PrincipalDep, runtime: RuntimeDep
    ) -> Principal:
        chosen = next(
            (p for p in (self.permission, *self.alternatives) if principal.can(p)),
            self.permission,
        )
        return await require(chosen)(request, principal, runtime)


def require_any(primary: str, *alternatives: str) -> AnyOf:
    """The dependency that admits a caller holding `primary` or any of `alternatives`."""
    return AnyOf(primary, *alternatives)
