"""Custom roles and grants: create, edit, delete, list (built-in roles are read-only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access.models import Role, RoleGrant
from dockyard.access.permissions import ALL_PERMISSIONS, BUILTIN_ROLES, CATALOG
from dockyard.access.schemas import (
    GrantCreate,
    GrantOut,
    PermissionCatalog,
    PermissionGroup,
    RoleCreate,
    RoleOut,
    RoleUpdate,
)
from dockyard.access.service import MAX_ROLE_DEPTH, RoleBook, role_book
from dockyard.audit.service import Actor, record
from dockyard.kit.errors import ConflictError, DockyardError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.nodes.models import Node
from dockyard.services.models import Service
from dockyard.users.models import User


def _invalid(path: str, message: str, code: str = "validation_failed") -> ValidationFailedError:
    return ValidationFailedError(
        f"{path}: {message}", code=code, details={"errors": [{"path": path, "message": message}]}
    )


def catalog() -> PermissionCatalog:
    return PermissionCatalog(
        groups=[
            PermissionGroup(resource=resource, permissions=[f"{resource}:{a}" for a in actions])
            for resource, actions in sorted(CATALOG.items())
        ]
    )


async def role_exists(session: AsyncSession, name: str) -> bool:
    return name in BUILTIN_ROLES or await session.get(Role, name) is not None


async def _user_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(User.role, func.count(User.id)).group_by(User.role))
    return {role: int(n) for role, n in rows.all()}


def _out(book: RoleBook, role: Role | None, name: str, users: dict[str, int]) -> RoleOut:
    effective = sorted(book.permissions(name))
    builtin = name in BUILTIN_ROLES
    return RoleOut(
        name=name,
        description=role.description if role else "",
        parent=None if builtin or role is None else role.parent,
        builtin=builtin,
        permissions=effective if builtin else sorted(role.permissions if role else []),
        effective_permissions=effective,
        tenant=book.is_tenant(name),
        users=users.get(name, 0),
    )


async def list_roles(session: AsyncSession) -> list[RoleOut]:
    """Built-in roles first (in their declared order), then custom ones by name."""
    rows = {r.name: r for r in (await session.execute(select(Role))).scalars().all()}
    book = await role_book(session)
    users = await _user_counts(session)
    out = [_out(book, rows.get(name), name, users) for name in BUILTIN_ROLES]
    out += [
        _out(book, row, name, users)
        for name, row in sorted(rows.items())
        if name not in BUILTIN_ROLES
    ]
    return out


async def get_role(session: AsyncSession, name: str) -> RoleOut:
    row = await session.get(Role, name)
    if row is None and name not in BUILTIN_ROLES:
        raise NotFoundError(f"Role {name} does not exist.", code="role_not_found")
    return _out(await role_book(session), row, name, await _user_counts(session))


def _check_permissions(permissions: list[str]) -> list[str]:
    for index, entry in enumerate(permissions):
        if entry not in ALL_PERMISSIONS:
            raise _invalid(
                f"permissions.{index}",
                f"unknown permission '{entry[:100]}'",
                code="unknown_permission",
            )
    return sorted(set(permissions))


async def _check_parent(session: AsyncSession, name: str, parent: str | None) -> None:
    if parent is None:
        return
    if not await role_exists(session, parent):
        raise _invalid("parent", f"unknown role '{parent[:64]}'", code="unknown_role")
    book = await role_book(session)
    if book.has_cycle_or_too_deep(name, parent):
        raise _invalid(
            "parent",
            f"a role cannot inherit from itself or be more than {MAX_ROLE_DEPTH} levels deep",
            code="role_cycle",
        )


def _builtin_refused(name: str) -> DockyardError:
    return DockyardError(
        f"The built-in role {name} cannot be changed.", code="builtin_role", status_code=409
    )


async def create_role(
    session: AsyncSession, body: RoleCreate, *, actor: Actor, meta: RequestMeta | None = None
) -> RoleOut:
    if await role_exists(session, body.name):
        raise ConflictError(
            f"A role named {body.name} already exists.",
            code="role_exists",
            details={"errors": [{"path": "name", "message": "already exists"}]},
        )
    permissions = _check_permissions(body.permissions)
    await _check_parent(session, body.name, body.parent)
    role = Role(
        name=body.name,
        description=body.description,
        parent=body.parent,
        permissions=permissions,
        builtin=False,
    )
    session.add(role)
    await session.flush()
    await record(
        session,
        action="role.created",
        actor=actor,
        target_type="role",
        target_id=body.name,
        details={"parent": body.parent, "permissions": permissions},
        meta=meta,
    )
    return await get_role(session, body.name)


async def _custom_or_error(session: AsyncSession, name: str) -> Role:
    if name in BUILTIN_ROLES:
        raise _builtin_refused(name)
    role = await session.get(Role, name)
    if role is None:
        raise NotFoundError(f"Role {name} does not exist.", code="role_not_found")
    return role


async def update_role(
    session: AsyncSession,
    name: str,
    body: RoleUpdate,
    *,
    actor: Actor,
    meta: RequestMeta | None = None,
) -> RoleOut:
    role = await _custom_or_error(session, name)
    changes: dict[str, Any] = {}
    if body.description is not None:
        role.description = body.description
        changes["description"] = body.description
    if "parent" in body.model_fields_set:
        await _check_parent(session, name, body.parent)
        role.parent = body.parent
        changes["parent"] = body.parent
    if body.permissions is not None:
        role.permissions = _check_permissions(body.permissions)
        changes["permissions"] = role.permissions
    await session.flush()
    await record(
        session,
        action="role.updated",
        actor=actor,
        target_type="role",
        target_id=name,
        details=changes,
        meta=meta,
    )
    return await get_role(session, name)


async def delete_role(
    session: AsyncSession, name: str, *, actor: Actor, meta: RequestMeta | None = None
) -> None:
    role = await _custom_or_error(session, name)
    users = int(
        (await session.execute(select(func.count(User.id)).where(User.role == name))).scalar_one()
    )
    grants = int(
        (
            await session.execute(select(func.count(RoleGrant.id)).where(RoleGrant.role == name))
        ).scalar_one()
    )
    children = (await session.execute(select(Role.name).where(Role.parent == name))).scalars().all()
    if users or grants or children:
        raise ConflictError(
            f"Role {name} is in use and cannot be deleted.",
            code="role_in_use",
            details={"users": users, "grants": grants, "children": list(children)},
        )
    await session.delete(role)
    await record(
        session, action="role.deleted", actor=actor, target_type="role", target_id=name, meta=meta
    )


async def list_grants(session: AsyncSession, user_id: int) -> list[RoleGrant]:
    return list(
        (
            await session.execute(
                select(RoleGrant).where(RoleGrant.user_id == user_id).order_by(RoleGrant.id)
            )
        )
        .scalars()
        .all()
    )


async def _scope_names(
    session: AsyncSession, grants: list[RoleGrant]
) -> dict[tuple[str, int], str]:
    """Names of the nodes and services the grants point at (deleted ones are absent)."""
    names: dict[tuple[str, int], str] = {}
    for scope_type, model in (("node", Node), ("service", Service)):
        ids = {g.scope_id for g in grants if g.scope_type == scope_type and g.scope_id is not None}
        if ids:
            rows = await session.execute(select(model.id, model.name).where(model.id.in_(ids)))
            names.update({(scope_type, int(i)): str(n) for i, n in rows.all()})
    return names


async def grants_out(session: AsyncSession, grants: list[RoleGrant]) -> list[GrantOut]:
    """The grants with the name of the node or service each one is scoped to."""
    names = await _scope_names(session, grants)
    out = []
    for grant in grants:
        item = GrantOut.model_validate(grant)
        if grant.scope_id is not None:
            item.scope_name = names.get((grant.scope_type, grant.scope_id))
        out.append(item)
    return out


async def _check_scope_target(session: AsyncSession, body: GrantCreate) -> None:
    """A node or service grant must point at one that exists (clusters are not modelled yet)."""
    model: type[Node] | type[Service] | None = None
    if body.scope_type == "node":
        model = Node
    elif body.scope_type == "service":
        model = Service
    if model is None or body.scope_id is None:
        return
    if await session.get(model, body.scope_id) is None:
        raise _invalid(
            "scope_id", f"no {body.scope_type} with id {body.scope_id}", code="scope_not_found"
        )


async def add_grant(
    session: AsyncSession,
    user_id: int,
    body: GrantCreate,
    *,
    actor: Actor,
    meta: RequestMeta | None = None,
) -> RoleGrant:
    if not await role_exists(session, body.role):
        raise _invalid("role", f"unknown role '{body.role[:64]}'", code="unknown_role")
    if (body.scope_type == "global") != (body.scope_id is None):
        raise _invalid("scope_id", "required for node, cluster and service; absent for global")
    await _check_scope_target(session, body)
    existing = (
        await session.execute(
            select(RoleGrant).where(
                RoleGrant.user_id == user_id,
                RoleGrant.role == body.role,
                RoleGrant.scope_type == body.scope_type,
                RoleGrant.scope_id.is_(None)
                if body.scope_id is None
                else RoleGrant.scope_id == body.scope_id,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise ConflictError("This grant exists already.", code="grant_exists")
    grant = RoleGrant(
        user_id=user_id, role=body.role, scope_type=body.scope_type, scope_id=body.scope_id
    )
    session.add(grant)
    await session.flush()
    await record(
        session,
        action="user.grant.added",
        actor=actor,
        target_type="user",
        target_id=user_id,
        details={"role": body.role, "scope_type": body.scope_type, "scope_id": body.scope_id},
        meta=meta,
    )
    return grant


async def remove_grant(
    session: AsyncSession,
    user_id: int,
    grant_id: int,
    *,
    actor: Actor,
    meta: RequestMeta | None = None,
) -> None:
    grant = await session.get(RoleGrant, grant_id)
    if grant is None or grant.user_id != user_id:
        raise NotFoundError(f"Grant {grant_id} does not exist.", code="grant_not_found")
    details = {"role": grant.role, "scope_type": grant.scope_type, "scope_id": grant.scope_id}
    await session.delete(grant)
    await record(
        session,
        action="user.grant.removed",
        actor=actor,
        target_type="user",
        target_id=user_id,
        details=details,
        meta=meta,
    )
