"""HTTP routes for roles and the permission catalog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from dockyard.access import roles
from dockyard.access.schemas import PermissionCatalog, RoleCreate, RoleList, RoleOut, RoleUpdate
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.runtime import Runtime

router = APIRouter(prefix="/api/v1/roles", tags=["roles"])


def _with_mfa(role: RoleOut, runtime: Runtime) -> RoleOut:
    """Whether the role requires MFA: the `DOCKYARD_MFA_REQUIRED_ROLES` setting (read-only)."""
    role.mfa_required = role.name in runtime.settings.mfa_required_roles
    return role


@router.get("", response_model=RoleList)
async def list_roles(
    _: Annotated[Principal, Depends(require("roles:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> RoleList:
    """Built-in roles (read-only) and custom roles, with their effective permissions.

    `mfa_required` comes from the `DOCKYARD_MFA_REQUIRED_ROLES` setting (not editable here).
    """
    return RoleList(items=[_with_mfa(r, runtime) for r in await roles.list_roles(session)])


@router.get("/permissions", response_model=PermissionCatalog)
async def permission_catalog(
    _: Annotated[Principal, Depends(require("roles:read"))],
) -> PermissionCatalog:
    """Every permission, grouped by resource (for building custom roles)."""
    return roles.catalog()


@router.post("", response_model=RoleOut, status_code=status.HTTP_201_CREATED)
async def create_role(
    body: RoleCreate,
    principal: Annotated[Principal, Depends(require("roles:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> RoleOut:
    """A custom role from permissions, optionally inheriting a parent role's."""
    role = await roles.create_role(session, body, actor=principal.actor, meta=meta)
    await session.commit()
    return _with_mfa(role, runtime)


@router.get("/{name}", response_model=RoleOut)
async def get_role(
    name: str,
    _: Annotated[Principal, Depends(require("roles:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> RoleOut:
    """One role."""
    return _with_mfa(await roles.get_role(session, name), runtime)


@router.patch("/{name}", response_model=RoleOut)
async def update_role(
    name: str,
    body: RoleUpdate,
    principal: Annotated[Principal, Depends(require("roles:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> RoleOut:
    """Edit a custom role (built-in roles answer 409 `builtin_role`)."""
    role = await roles.update_role(session, name, body, actor=principal.actor, meta=meta)
    await session.commit()
    return _with_mfa(role, runtime)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_role(
    name: str,
    principal: Annotated[Principal, Depends(require("roles:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Delete a custom role that no user, grant or other role uses (else 409 `role_in_use`)."""
    await roles.delete_role(session, name, actor=principal.actor, meta=meta)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
