"""HTTP routes for roles and the permission catalog."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from dockyard.access import roles
from dockyard.access.schemas import PermissionCatalog, RoleCreate, RoleList, RoleOut, RoleUpdate
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, SessionDep, require

router = APIRouter(prefix="/api/v1/roles", tags=["roles"])


@router.get("", response_model=RoleList)
async def list_roles(
    _: Annotated[Principal, Depends(require("roles:read"))], session: ReadSessionDep
) -> RoleList:
    """Built-in roles (read-only) and custom roles, with their effective permissions."""
    return RoleList(items=await roles.list_roles(session))


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
    session: SessionDep,
    meta: MetaDep,
) -> RoleOut:
    """A custom role from permissions, optionally inheriting a parent role's."""
    role = await roles.create_role(session, body, actor=principal.actor, meta=meta)
    await session.commit()
    return role


@router.get("/{name}", response_model=RoleOut)
async def get_role(
    name: str, _: Annotated[Principal, Depends(require("roles:read"))], session: ReadSessionDep
) -> RoleOut:
    """One role."""
    return await roles.get_role(session, name)


@router.patch("/{name}", response_model=RoleOut)
async def update_role(
    name: str,
    body: RoleUpdate,
    principal: Annotated[Principal, Depends(require("roles:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> RoleOut:
    """Edit a custom role (built-in roles answer 409 `builtin_role`)."""
    role = await roles.update_role(session, name, body, actor=principal.actor, meta=meta)
    await session.commit()
    return role


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
