"""The permission catalog and the built-in roles, declared in one place.

A permission is a `resource:action` string. Every HTTP route and WebSocket message declares
the one it needs with `dockyard.deps.require(...)`; a route without one fails a test.
"""

from __future__ import annotations

from collections.abc import Iterable

# resource -> actions. Keep sorted by resource; add new ones here, nowhere else.
CATALOG: dict[str, tuple[str, ...]] = {
    "alerts": ("read", "manage"),
    "analytics": ("read", "ingest"),
    "artifacts": ("read", "upload", "delete"),
    "audit": ("read", "export"),
    "config": ("read", "import"),
    # containers: the fleet-wide container table and log search across every node.
    "containers": ("read", "logs"),
    "health": ("read", "manage", "run"),
    "hosts": ("read", "manage", "ssh"),
    "images": ("read", "pull", "remove", "cleanup"),
    "jobs": ("read",),
    "mcp": ("read", "manage"),
    "nodes": ("read", "manage"),
    "registries": ("read", "manage"),
    "roles": ("read", "manage"),
    # services:privileged: not bound by the container security policy and quotas.
    "services": (
        "read",
        "create",
        "edit",
        "deploy",
        "delete",
        "exec",
        "update",
        "logs",
        "adopt",
        "privileged",
    ),
    "system": ("read",),
    "templates": ("read", "manage", "deploy"),
    "tokens": ("manage",),
    "users": ("read", "manage"),
}

ALL_PERMISSIONS: frozenset[str] = frozenset(
    f"{resource}:{action}" for resource, actions in CATALOG.items() for action in actions
)

_READS = frozenset(p for p in ALL_PERMISSIONS if p.endswith(":read"))

# Built-in roles. `admin` has everything; the others are explicit sets.
BUILTIN_ROLES: dict[str, frozenset[str]] = {
    "admin": ALL_PERMISSIONS,
    "operator": frozenset(
        _READS - {"users:read", "roles:read"}
        | {
            "services:adopt",
            "services:create",
            "services:edit",
            "services:deploy",
            "services:delete",
            "services:exec",
            "services:update",
            "services:logs",
            "nodes:manage",
            "containers:logs",
            "images:pull",
            "images:remove",
            "images:cleanup",
            "registries:manage",
            "hosts:manage",
            "hosts:ssh",
            "artifacts:upload",
            "artifacts:delete",
            "templates:deploy",
            "health:run",
            "tokens:manage",
        }
    ),
    "auditor": frozenset(
        _READS | {"audit:export", "services:logs", "containers:logs", "tokens:manage"}
    ),
    "viewer": frozenset(
        {
            "services:read",
            "nodes:read",
            "images:read",
            "jobs:read",
            "health:read",
            "mcp:read",
            "alerts:read",
            "templates:read",
            "system:read",
        }
    ),
    # A tenant: acts only on services they own (ownership is checked per object).
    "user": frozenset(
        {
            "services:read",
            "services:create",
            "services:edit",
            "services:deploy",
            "services:delete",
            "services:exec",
            "services:update",
            "services:logs",
            "nodes:read",
            "images:read",
            "jobs:read",
            "templates:read",
            "templates:deploy",
            "system:read",
            "tokens:manage",
        }
    ),
}


def unknown_permissions(permissions: Iterable[str]) -> list[str]:
    """The entries that are not in the catalog (for validating custom roles and token scopes)."""
    return sorted(p for p in permissions if p not in ALL_PERMISSIONS)


def role_permissions(role: str) -> frozenset[str]:
    """Permissions of a built-in role (unknown roles have none)."""
    return BUILTIN_ROLES.get(role, frozenset())
