"""Resolving what a user may do and see: role inheritance, scoped grants, ownership.

A user's own role (`users.role`) applies everywhere, except for tenant roles (`user` and
custom roles that inherit from it), which apply only to the services the user owns.
Grants (`role_grants`) add a role on a scope: `global` (everything: the user then sees
every service), a `node`, a `cluster` or a `service` (the user sees those services and holds
the granted role's permissions on them).

`Principal.permissions` is the union of everything the user holds anywhere (the route
gate of `require(...)`); per-object checks (`visible_filter`, `can_on_service`) then decide
which services the caller sees and what it may do to each one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access.models import Role, RoleGrant
from dockyard.access.permissions import BUILTIN_ROLES

if TYPE_CHECKING:
    from dockyard.auth.service import Principal

# The role whose holders are tenants (see the module docstring).
TENANT_ROLE = "user"
# Inheritance deeper than this is cut (and cycles are cut where they close).
MAX_ROLE_DEPTH = 8
SCOPE_TYPES = ("global", "node", "cluster", "service")
ACCESS_TABLES = frozenset((str(Role.__tablename__), str(RoleGrant.__tablename__)))


@dataclass(frozen=True)
class RoleInfo:
    """A role as resolution needs it."""

    name: str
    parent: str | None
    permissions: frozenset[str]


class RoleBook:
    """Every role by name (built-in from the code, custom from the database)."""

    def __init__(self, custom: Iterable[RoleInfo] = ()) -> None:
        self.roles: dict[str, RoleInfo] = {
            name: RoleInfo(name, None, perms) for name, perms in BUILTIN_ROLES.items()
        }
        for role in custom:
            if role.name not in BUILTIN_ROLES:
                self.roles[role.name] = role

    def chain(self, name: str) -> list[RoleInfo]:
        """The role and its ancestors, nearest first; stops at a cycle or `MAX_ROLE_DEPTH`."""
        seen: set[str] = set()
        out: list[RoleInfo] = []
        current: str | None = name
        while current is not None and current not in seen and len(out) < MAX_ROLE_DEPTH:
            role = self.roles.get(current)
            if role is None:
                break
            seen.add(current)
            out.append(role)
            current = role.parent
        return out

    def permissions(self, name: str) -> frozenset[str]:
        """The role's own permissions and every inherited one (unknown roles: none)."""
        found: set[str] = set()
        for role in self.chain(name):
            found |= role.permissions
        return frozenset(found)

    def is_tenant(self, name: str) -> bool:
        return any(role.name == TENANT_ROLE for role in self.chain(name))

    def has_cycle_or_too_deep(self, name: str, parent: str | None) -> bool:
        """Whether making `parent` the parent of `name` would close a cycle or go too deep."""
        if parent is None:
            return False
        depth = 1
        current: str | None = parent
        seen = {name}
        while current is not None:
            if current in seen:
                return True
            seen.add(current)
            depth += 1
            if depth > MAX_ROLE_DEPTH:
                return True
            role = self.roles.get(current)
            current = role.parent if role else None
        return False


async def role_book(session: AsyncSession) -> RoleBook:
    rows = (await session.execute(select(Role).where(Role.builtin.is_(False)))).scalars().all()
    return RoleBook(RoleInfo(r.name, r.parent, frozenset(r.permissions or ())) for r in rows)


@dataclass(frozen=True)
class AccessScope:
    """Which services a principal sees, and what it holds on each one.

    `see_all`: every service, with `base` permissions. Otherwise the services it owns (with
    `base`), the services granted directly and those on granted nodes (with the grant's).
    """

    user_id: int
    see_all: bool
    base: frozenset[str]
    services: Mapping[int, frozenset[str]] = field(default_factory=dict, hash=False)
    nodes: Mapping[int, frozenset[str]] = field(default_factory=dict, hash=False)

    @property
    def cache_key(self) -> Any:
        """What a cached list of services depends on (None: everything is visible)."""
        if self.see_all:
            return None
        return (self.user_id, tuple(sorted(self.services)), tuple(sorted(self.nodes)))


async def resolve(
    session: AsyncSession, user_id: int, role: str
) -> tuple[frozenset[str], AccessScope]:
    """A user's effective permissions (the route gate) and visibility scope."""
    book = await role_book(session)
    grants = (
        (await session.execute(select(RoleGrant).where(RoleGrant.user_id == user_id)))
        .scalars()
        .all()
    )
    base = set(book.permissions(role))
    see_all = not book.is_tenant(role)
    services: dict[int, set[str]] = {}
    nodes: dict[int, set[str]] = {}
    everything = set(base)
    for grant in grants:
        perms = book.permissions(grant.role)
        everything |= perms
        if grant.scope_type == "global":
            base |= perms
            see_all = see_all or not book.is_tenant(grant.role)
        elif grant.scope_type == "service" and grant.scope_id is not None:
            services.setdefault(grant.scope_id, set()).update(perms)
        elif grant.scope_type == "node" and grant.scope_id is not None:
            nodes.setdefault(grant.scope_id, set()).update(perms)
        # `cluster`: no clusters exist yet; such a grant adds no visibility.
    scope = AccessScope(
        user_id=user_id,
        see_all=see_all,
        base=frozenset(base),
        services={k: frozenset(v) for k, v in services.items()},
        nodes={k: frozenset(v) for k, v in nodes.items()},
    )
    return frozenset(everything), scope


def scope_of(principal: Principal) -> AccessScope:
    """The principal's scope; one built without one sees only what it owns (fail closed)."""
    scope: AccessScope | None = getattr(principal, "scope", None)
    if scope is not None:
        return scope
    return AccessScope(
        user_id=principal.user.id,
        see_all=principal.user.role in BUILTIN_ROLES and principal.user.role != TENANT_ROLE,
        base=principal.permissions,
    )


def visible_filter(principal: Principal) -> ColumnElement[bool]:
    """SQL condition on `Service` for the services the principal may see."""
    from dockyard.services.models import Service

    scope = scope_of(principal)
    if scope.see_all:
        return true()
    conditions: list[ColumnElement[bool]] = [Service.owner_id == scope.user_id]
    if scope.services:
        conditions.append(Service.id.in_(sorted(scope.services)))
    if scope.nodes:
        conditions.append(Service.node_id.in_(sorted(scope.nodes)))
    return or_(*conditions) if conditions else false()


def sees_all(principal: Principal) -> bool:
    return scope_of(principal).see_all


def service_permissions(
    principal: Principal, *, service_id: int, node_id: int, owner_id: int | None
) -> frozenset[str] | None:
    """What the principal holds on one service; None when it may not even see it."""
    scope = scope_of(principal)
    held: set[str] | None = None
    if scope.see_all or (owner_id is not None and owner_id == scope.user_id):
        held = set(scope.base)
    for granted in (scope.services.get(service_id), scope.nodes.get(node_id)):
        if granted is not None:
            held = (held or set()) | granted
    if held is None:
        return None
    # API tokens narrow `permissions`: never more than the principal holds at all.
    return frozenset(held) & principal.permissions


def can_see_service(principal: Principal, service: Any) -> bool:
    return (
        service_permissions(
            principal, service_id=service.id, node_id=service.node_id, owner_id=service.owner_id
        )
        is not None
    )
