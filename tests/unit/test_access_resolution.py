"""Permission resolution: inheritance, cycles, depth, tenants, scoped grants, visibility."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from dockyard.access.permissions import BUILTIN_ROLES
from dockyard.access.service import (
    MAX_ROLE_DEPTH,
    AccessScope,
    RoleBook,
    RoleInfo,
    scope_of,
    service_permissions,
)


def book(*roles: tuple[str, str | None, set[str]]) -> RoleBook:
    return RoleBook(RoleInfo(name, parent, frozenset(perms)) for name, parent, perms in roles)


def test_builtin_roles_resolve_from_the_code() -> None:
    b = book()
    for name, perms in BUILTIN_ROLES.items():
        assert b.permissions(name) == perms
    assert b.permissions("nope") == frozenset()
    assert b.is_tenant("user")
    assert not b.is_tenant("viewer")


def test_inheritance_adds_parent_permissions() -> None:
    b = book(
        ("deployer", "viewer", {"services:deploy"}),
        ("senior", "deployer", {"services:logs"}),
        ("tenant-plus", "user", {"audit:read"}),
    )
    assert b.permissions("senior") == BUILTIN_ROLES["viewer"] | {
        "services:deploy",
        "services:logs",
    }
    assert b.is_tenant("tenant-plus")
    assert not b.is_tenant("senior")
    # A custom row can never redefine a built-in role.
    assert book(("admin", None, set())).permissions("admin") == BUILTIN_ROLES["admin"]


def test_cycles_and_depth_are_cut() -> None:
    b = book(("a", "b", {"jobs:read"}), ("b", "a", {"nodes:read"}))
    assert b.permissions("a") == {"jobs:read", "nodes:read"}
    assert b.has_cycle_or_too_deep("c", "a")  # a <-> b already loops
    chain = [(f"r{i}", f"r{i + 1}", {f"x{i}"}) for i in range(MAX_ROLE_DEPTH + 5)]
    deep = book(*chain)
    assert len(deep.permissions("r0")) == MAX_ROLE_DEPTH
    assert deep.has_cycle_or_too_deep("new", "r0")
    assert not book(("a", None, set())).has_cycle_or_too_deep("b", "a")
    assert book(("a", None, set())).has_cycle_or_too_deep("a", "a")


def principal(scope: AccessScope | None, perms: frozenset[str], role: str = "user") -> Any:
    user = SimpleNamespace(id=7, role=role)
    return SimpleNamespace(user=user, permissions=perms, scope=scope)


def test_service_permissions_owner_grants_and_tokens() -> None:
    base = BUILTIN_ROLES["user"]
    scope = AccessScope(
        user_id=7,
        see_all=False,
        base=base,
        services={10: BUILTIN_ROLES["viewer"]},
        nodes={3: frozenset({"services:logs"})},
    )
    p = principal(scope, base | BUILTIN_ROLES["viewer"])
    assert service_permissions(p, service_id=1, node_id=1, owner_id=7) == base
    assert service_permissions(p, service_id=2, node_id=1, owner_id=8) is None
    assert service_permissions(p, service_id=2, node_id=1, owner_id=None) is None
    granted = service_permissions(p, service_id=10, node_id=1, owner_id=8)
    assert granted is not None
    assert "services:read" in granted
    assert "services:deploy" not in granted
    on_node = service_permissions(p, service_id=11, node_id=3, owner_id=None)
    assert on_node == {"services:logs"}
    # An API token narrows what is held everywhere.
    token = principal(scope, frozenset({"services:read"}))
    assert service_permissions(token, service_id=1, node_id=1, owner_id=7) == {"services:read"}


def test_scope_of_fails_closed_without_a_scope() -> None:
    assert scope_of(principal(None, BUILTIN_ROLES["user"], "user")).see_all is False
    assert scope_of(principal(None, BUILTIN_ROLES["viewer"], "viewer")).see_all is True
    assert scope_of(principal(None, frozenset(), "custom-thing")).see_all is False
