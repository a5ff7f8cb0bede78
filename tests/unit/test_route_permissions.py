"""Every route declares the permission it needs (or is on the short public list)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant

from dockyard.access.permissions import ALL_PERMISSIONS, BUILTIN_ROLES, unknown_permissions
from dockyard.app import create_app
from dockyard.deps import PermissionDependency

# Reachable without a bearer token, each for a stated reason.
PUBLIC = {
    ("GET", "/healthz"),  # liveness probe
    ("GET", "/readyz"),  # readiness probe
    ("GET", "/api/docs"),  # Swagger UI page; the API it calls is permissioned
    ("POST", "/api/v1/auth/login"),  # how a token is obtained
    ("POST", "/api/v1/auth/refresh"),  # authenticated by the refresh token in the body
    ("WS", "/api/v1/ws"),  # authenticated by a single-use ticket from a permissioned route
    ("WS", "/api/v1/hosts/{host_id}/ssh"),  # ticket, then `hosts:ssh` checked in the socket
    ("GET", "/metrics"),  # Prometheus: token-protected (DOCKYARD_METRICS_TOKEN), 404 when unset
    ("POST", "/api/v1/agent/enroll"),  # agents: the one-time enrollment token; rate limited
    ("WS", "/api/v1/agent/ws"),  # agents: the node credential in the first message (hello)
    ("WS", "/api/v1/agent/relay/{node_id}"),  # peer replicas: HMAC of the shared secret key
}


def _leaf_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) for every APIRoute and WebSocket route, through included routers."""
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's wrapper of an included router
            yield from _leaf_routes(
                route.original_router.routes, prefix + route.include_context.prefix
            )
        elif getattr(route, "dependant", None) is not None:
            yield prefix + route.path, route


def _permissions(dependant: Dependant) -> set[str]:
    found: set[str] = set()
    for sub in dependant.dependencies:
        if isinstance(sub.call, PermissionDependency):
            found.add(sub.call.permission)
        found |= _permissions(sub)
    return found


def _routes(app: Any) -> list[tuple[str, str, set[str]]]:
    rows = []
    for path, route in _leaf_routes(app.routes):
        methods = sorted(getattr(route, "methods", None) or {"WS"})
        for method in methods:
            if method != "HEAD":
                rows.append((method, path, _permissions(route.dependant)))
    return rows


def test_every_route_declares_a_permission(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_DATA_DIR", str(tmp_path))
    rows = _routes(create_app())
    assert len(rows) > 20, "route discovery found too few routes"
    missing = [
        f"{method} {path}"
        for method, path, perms in rows
        if not perms and (method, path) not in PUBLIC
    ]
    assert not missing, f"routes without require(...): {missing}"
    stale = PUBLIC - {(method, path) for method, path, _ in rows}
    assert not stale, f"public list names routes that do not exist: {stale}"


def test_builtin_roles_use_only_catalog_permissions() -> None:
    for role, perms in BUILTIN_ROLES.items():
        assert not unknown_permissions(perms), role
    assert BUILTIN_ROLES["admin"] == ALL_PERMISSIONS
    assert "users:manage" not in BUILTIN_ROLES["operator"]
    assert all(p.endswith(":read") for p in BUILTIN_ROLES["viewer"])
