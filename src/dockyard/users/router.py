"""HTTP routes for managing users (admins) and their scoped role grants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access import roles
from dockyard.access.schemas import GrantCreate, GrantList, GrantOut
from dockyard.auth.models import LoginSession
from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.kit.errors import NotFoundError
from dockyard.users import repository
from dockyard.users import service as users
from dockyard.users.models import User
from dockyard.users.schemas import (
    UserCreate,
    UserList,
    UserOut,
    UserSessionList,
    UserSessionOut,
    UserUpdate,
)

router = APIRouter(prefix="/api/v1/users", tags=["users"])


async def _user_or_404(session: AsyncSession, user_id: int) -> User:
    user = await repository.get(session, user_id)
    if user is None:
        raise NotFoundError(f"User {user_id} does not exist.", code="user_not_found")
    return user


@router.get("", response_model=UserList)
async def list_users(
    _: Annotated[Principal, Depends(require("users:read"))],
    session: ReadSessionDep,
    search: Annotated[str | None, Query(max_length=320, description="Email or name")] = None,
    role: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserList:
    """Users by email, optionally searched by email or display name, or by role."""
    rows, total = await users.list_page(
        session, search=search, role=role, limit=limit, offset=offset
    )
    return UserList(
        items=[UserOut.model_validate(u) for u in rows], total=total, limit=limit, offset=offset
    )


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def create_user(
    body: UserCreate,
    principal: Annotated[Principal, Depends(require("users:manage"))],
    session: SessionDep,
    meta: MetaDep,
    response: Response,
) -> UserOut:
    """Create a user with a role (built-in or custom)."""
    user = await users.create_user(
        session,
        email=body.email,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        actor=principal.actor,
        meta=meta,
    )
    await session.commit()
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return UserOut.model_validate(user)


@router.get("/{user_id}", response_model=UserOut)
async def get_user(
    user_id: int,
    _: Annotated[Principal, Depends(require("users:read"))],
    session: ReadSessionDep,
) -> UserOut:
    """One user."""
    return UserOut.model_validate(await _user_or_404(session, user_id))


@router.patch("/{user_id}", response_model=UserOut)
async def update_user(
    user_id: int,
    body: UserUpdate,
    principal: Annotated[Principal, Depends(require("users:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> UserOut:
    """Change the display name, role, active flag or password.

    A role change, disabling or a new password ends every session of the user. The last
    active admin keeps the role and stays active (409 `last_admin`).
    """
    user = await _user_or_404(session, user_id)
    await users.update_user(
        session,
        user,
        display_name=body.display_name,
        role=body.role,
        is_active=body.is_active,
        password=body.password,
        fields=body.model_fields_set,
        actor=principal.actor,
        meta=meta,
    )
    await session.commit()
    runtime.auth.forget_user(user.id)
    return UserOut.model_validate(user)


@router.get("/{user_id}/sessions", response_model=UserSessionList)
async def user_sessions(
    user_id: int,
    _: Annotated[Principal, Depends(require("users:read"))],
    session: ReadSessionDep,
    include_ended: bool = False,
) -> UserSessionList:
    """The user's login sessions, newest first (open ones only unless `include_ended`)."""
    await _user_or_404(session, user_id)
    stmt = select(LoginSession).where(LoginSession.user_id == user_id)
    if not include_ended:
        stmt = stmt.where(LoginSession.revoked_at.is_(None))
    rows = (
        (await session.execute(stmt.order_by(LoginSession.created_at.desc()).limit(200)))
        .scalars()
        .all()
    )
    return UserSessionList(items=[UserSessionOut.model_validate(r) for r in rows])


@router.get("/{user_id}/grants", response_model=GrantList)
async def list_grants(
    user_id: int,
    _: Annotated[Principal, Depends(require("users:read"))],
    session: ReadSessionDep,
) -> GrantList:
    """The user's scoped role grants (beyond the user's own role)."""
    await _user_or_404(session, user_id)
    rows = await roles.list_grants(session, user_id)
    return GrantList(items=await roles.grants_out(session, rows))


@router.post("/{user_id}/grants", response_model=GrantOut, status_code=status.HTTP_201_CREATED)
async def add_grant(
    user_id: int,
    body: GrantCreate,
    principal: Annotated[Principal, Depends(require("users:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> GrantOut:
    """Give the user a role on a scope: `global`, or a `node`, `cluster` or `service` id."""
    await _user_or_404(session, user_id)
    grant = await roles.add_grant(session, user_id, body, actor=principal.actor, meta=meta)
    out = (await roles.grants_out(session, [grant]))[0]
    await session.commit()
    runtime.auth.forget_user(user_id)
    return out


@router.delete(
    "/{user_id}/grants/{grant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
)
async def remove_grant(
    user_id: int,
    grant_id: int,
    principal: Annotated[Principal, Depends(require("users:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Take a grant back (404 `grant_not_found` unless it is this user's); audited."""
    await roles.remove_grant(session, user_id, grant_id, actor=principal.actor, meta=meta)
    await session.commit()
    runtime.auth.forget_user(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
