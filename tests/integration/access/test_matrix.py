"""The authorization matrix, generated from the running app's OpenAPI document.

Every route x every built-in role x the caller's own service, another user's service and a
guessed id: the answer must match the route's declared permission (`require(...)`, read by
walking the app's routes) and `BUILTIN_ROLES`, and per-object visibility (a tenant gets 404
for a service it does not own, exactly as for an id that does not exist).

Denied calls must leave nothing but one `access.denied` audit row. Allowed calls are sent
when harmless (reads, `stop` of a never-deployed service, `delete` of a throwaway one);
other allowed writes are only checked for the denied roles.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from sqlalchemy import func, select

from dockyard.access.permissions import BUILTIN_ROLES
from dockyard.audit.models import AuditEvent
from dockyard.deps import AUTHENTICATED, PermissionDependency
from dockyard.services.models import Service
from dockyard.services.router import ACTION_PERMISSIONS
from tests.conftest import LiveApp, make_settings, running_app, unique_email

ROLES = ("admin", "operator", "auditor", "viewer", "user")
PASSWORD = "Matrix-Password-31337"
MISSING_ID = 987_654
MISSING_JOB = "0" * 32
# Writes that are harmless to send for an allowed role.
SAFE_WRITES = {
    ("POST", "/api/v1/services/validate"),
    ("POST", "/api/v1/realtime/ticket"),
}


def _leaf_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        if hasattr(route, "original_router"):
            yield from _leaf_routes(
                route.original_router.routes, prefix + route.include_context.prefix
            )
        elif getattr(route, "dependant", None) is not None:
            yield prefix + route.path, route


def _permissions(dependant: Dependant) -> set[Any]:
    """The permissions a route needs: a string each, or a frozenset of alternatives when
    any one of them is enough (e.g. the fleet's `containers:read` or `services:read`)."""
    found: set[Any] = set()
    for sub in dependant.dependencies:
        if isinstance(sub.call, PermissionDependency):
            alternatives = getattr(sub.call, "alternatives", ())
            found.add(
                frozenset((sub.call.permission, *alternatives))
                if alternatives
                else sub.call.permission
            )
        found |= _permissions(sub)
    return found


def _holds(role: str, needed: set[Any]) -> bool:
    granted = BUILTIN_ROLES[role]
    return all(
        bool(item & granted) if isinstance(item, frozenset) else item in granted for item in needed
    )


def declared_permissions(app: Any) -> dict[tuple[str, str], set[Any]]:
    out: dict[tuple[str, str], set[Any]] = {}
    for raw_path, route in _leaf_routes(app.routes):
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", raw_path)  # as OpenAPI writes it
        for method in getattr(route, "methods", None) or ():
            out[(method, path)] = _permissions(route.dependant) - {AUTHENTICATED} | (
                {AUTHENTICATED} if AUTHENTICATED in _permissions(route.dependant) else set()
            )
    return out


@dataclass
class World:
    api: LiveApp
    tokens: dict[str, str]
    user_ids: dict[str, int]
    services: dict[str, int]  # own / other / missing
    jobs: dict[str, str]
    spec: dict[str, Any]
    declared: dict[tuple[str, str], set[Any]]
    results: list[str] = field(default_factory=list)


async def _wait_job(api: LiveApp, headers: dict[str, str], job_id: str) -> None:
    for _ in range(300):
        job = (await api.client.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
        if job["status"] in ("succeeded", "failed"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


async def _service(api: LiveApp, token: str, prefix: str = "mx") -> int:
    response = await api.client.post(
        "/api/v1/services",
        json={
            "name": f"{prefix}-{secrets.token_hex(4)}",
            "definition": {
                "services": {
                    "web": {"image": "dockyard-test/busybox:1", "labels": {"io.dockyard.test": "1"}}
                }
            },
        },
        headers=api.bearer(token),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    settings = make_settings(tmp_path_factory.mktemp("matrix"), None)
    async with running_app(settings) as api:
        admin = await api.token()
        headers = api.bearer(admin)
        tokens = {"admin": admin}
        user_ids: dict[str, int] = {}
        for role in (*ROLES[1:], "other"):
            email = unique_email(role)
            response = await api.client.post(
                "/api/v1/users",
                json={
                    "email": email,
                    "password": PASSWORD,
                    "role": "user" if role == "other" else role,
                },
                headers=headers,
            )
            assert response.status_code == 201, response.text
            user_ids[role] = response.json()["id"]
            tokens[role] = (await api.login(email, PASSWORD))["access_token"]
        services = {
            "own": await _service(api, tokens["user"]),
            "other": await _service(api, tokens["other"]),
            "missing": MISSING_ID,
        }
        jobs = {"missing": MISSING_JOB}
        for target in ("own", "other"):
            response = await api.client.post(
                f"/api/v1/services/{services[target]}/deploy", headers=headers
            )
            assert response.status_code == 202, response.text
            jobs[target] = response.json()["job"]["id"]
            await _wait_job(api, headers, jobs[target])
        spec = (await api.client.get("/api/openapi.json")).json()
        yield World(api, tokens, user_ids, services, jobs, spec, declared_permissions(api.app))
        # Never deployed: removing the rows is all the cleanup there is.
        for sid in list(services.values()):
            await api.client.post(f"/api/v1/services/{sid}/delete", headers=headers)


def _fill(path: str, params: list[dict[str, Any]], values: dict[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return str(values[name])
        schema = next((p.get("schema", {}) for p in params if p["name"] == name), {})
        if "enum" in schema:
            return str(schema["enum"][0])
        if name == "name":
            return "viewer"
        return "1" if schema.get("type") == "integer" else "x"

    return re.sub(r"\{(\w+)\}", one, path)


def _query(params: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for p in params:
        if p.get("in") == "query" and p.get("required"):
            out[p["name"]] = "1" if p.get("schema", {}).get("type") == "integer" else "x"
    return out


async def _denied_rows(api: LiveApp, user_id: int, after: int) -> list[str]:
    async with api.runtime.db.read_session() as session:
        rows = await session.execute(
            select(AuditEvent.action).where(
                AuditEvent.id > after, AuditEvent.actor_id == str(user_id)
            )
        )
        return [r[0] for r in rows.all()]


async def _max_audit_id(api: LiveApp) -> int:
    async with api.runtime.db.read_session() as session:
        return int((await session.execute(select(func.max(AuditEvent.id)))).scalar_one() or 0)


def _cases(world: World) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any], str]]:
    """(method, path template, operation, path values, case label) for every route."""
    for path, ops in world.spec["paths"].items():
        for method, op in ops.items():
            method = method.upper()
            names = re.findall(r"\{(\w+)\}", path)
            targets: list[dict[str, Any]] = [{}]
            if "service_id" in names:
                targets = [{"service_id": world.services[t], "_target": t} for t in world.services]
            elif "job_id" in names:
                targets = [{"job_id": world.jobs[t], "_target": t} for t in world.jobs]
            if "action" in names:
                targets = [dict(t, action=a) for t in targets for a in ACTION_PERMISSIONS]
            for values in targets:
                yield method, path, op, values, f"{method} {path} {values}"


def _expected(world: World, method: str, path: str, values: dict[str, Any], role: str) -> str:
    """`allow`, `403` or `404`."""
    declared = world.declared.get((method, path))
    assert declared is not None, f"{method} {path} is in the OpenAPI document but not routed"
    needed = set(declared) - {AUTHENTICATED}
    if "action" in values:
        needed.add(ACTION_PERMISSIONS[values["action"]])
    if not declared:
        return "allow"  # public (login, refresh)
    if not _holds(role, needed):
        return "403"
    target = values.get("_target")
    if target == "missing":
        return "404"
    if target == "other" and role == "user":
        return "404"
    return "allow"


async def test_authorization_matrix(world: World) -> None:
    api = world.api
    checked = {"allow": 0, "403": 0, "404": 0, "skipped_allowed_writes": 0}
    failures: list[str] = []
    for method, path, op, values, label in _cases(world):
        if path in ("/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout"):
            continue  # public, or ends the session the matrix uses
        params = op.get("parameters", [])
        filled = _fill(path, params, {k: v for k, v in values.items() if not k.startswith("_")})
        for role in ROLES:
            url = filled
            expected = _expected(world, method, path, values, role)
            user_id = world.user_ids.get(role)
            headers = api.bearer(world.tokens[role])
            body: Any = {} if method in ("POST", "PUT", "PATCH") else None
            if expected == "allow" and method != "GET":
                if (method, path) == ("POST", "/api/v1/services/{service_id}/{action}"):
                    if values["action"] == "stop":
                        body = None
                    elif values["action"] == "delete":
                        # A throwaway service this role may delete (owned by the tenant).
                        owner = "user" if role == "user" else "admin"
                        url = f"/api/v1/services/{await _service(api, world.tokens[owner])}/delete"
                        body = None
                    else:
                        checked["skipped_allowed_writes"] += 1
                        continue
                elif (method, path) == ("POST", "/api/v1/services/validate"):
                    body = {"definition": {"services": {"web": {"image": "busybox:1"}}}}
                elif (method, path) not in SAFE_WRITES:
                    checked["skipped_allowed_writes"] += 1
                    continue
            before = await _max_audit_id(api) if user_id is not None else 0
            response = await api.client.request(
                method, url, params=_query(params), json=body, headers=headers
            )
            status = response.status_code
            if status == 202 and "job" in response.json():
                # Let the job finish: its audit row must not land in a later check.
                await _wait_job(
                    api, api.bearer(world.tokens["admin"]), response.json()["job"]["id"]
                )
            where = f"{label} as {role}: expected {expected}, got {status} {response.text[:200]}"
            if expected == "allow":
                ok = status not in (401, 403) and status < 500
                if values.get("_target") in ("own", "other") and status == 404:
                    ok = ok and response.json()["error"]["code"] != "service_not_found"
            else:
                ok = status == int(expected)
                if ok and expected == "403":
                    assert response.json()["error"]["code"] in ("forbidden", "permission_denied")
                if (ok and user_id is not None and values.get("_target") != "missing") or (
                    ok and expected == "403" and user_id is not None
                ):
                    rows = await _denied_rows(api, user_id, before)
                    if rows != ["access.denied"]:
                        ok = False
                        where += f" (audit rows: {rows})"
            checked[expected] += 1
            if not ok:
                failures.append(where)
    assert not failures, "\n".join(failures[:40]) + f"\n({len(failures)} failures)"
    # The matrix must have covered every kind of answer.
    assert checked["allow"] > 50, checked
    assert checked["403"] > 50, checked
    assert checked["404"] > 20, checked


async def test_lists_are_filtered_for_tenants(world: World) -> None:
    api = world.api
    own, other = world.services["own"], world.services["other"]
    for role, expected in (("user", {own}), ("other", {other}), ("viewer", {own, other})):
        body = (
            await api.client.get("/api/v1/services", headers=api.bearer(world.tokens[role]))
        ).json()
        ids = {s["id"] for s in body["items"]} & {own, other}
        assert ids == expected, (role, body)
        if role != "viewer":
            assert body["total"] == len(expected)
        jobs = (await api.client.get("/api/v1/jobs", headers=api.bearer(world.tokens[role]))).json()
        job_services = {j["service_id"] for j in jobs["items"]} & {own, other}
        assert job_services == expected, (role, jobs)


async def test_scoped_service_grant(world: World) -> None:
    """A tenant granted `viewer` on another's service sees it, and only reads it."""
    api = world.api
    admin = api.bearer(world.tokens["admin"])
    other_service = world.services["other"]
    user = world.user_ids["user"]
    token = world.tokens["user"]
    response = await api.client.post(
        f"/api/v1/users/{user}/grants",
        json={"role": "viewer", "scope_type": "service", "scope_id": other_service},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    grant_id = response.json()["id"]
    try:
        got = await api.client.get(f"/api/v1/services/{other_service}", headers=api.bearer(token))
        assert got.status_code == 200
        listed = await api.client.get("/api/v1/services", headers=api.bearer(token))
        assert other_service in {s["id"] for s in listed.json()["items"]}
        before = await _max_audit_id(api)
        denied = await api.client.post(
            f"/api/v1/services/{other_service}/stop", headers=api.bearer(token)
        )
        assert denied.status_code == 403, denied.text
        assert await _denied_rows(api, user, before) == ["access.denied"]
    finally:
        response = await api.client.delete(f"/api/v1/users/{user}/grants/{grant_id}", headers=admin)
        assert response.status_code == 204
    gone = await api.client.get(f"/api/v1/services/{other_service}", headers=api.bearer(token))
    assert gone.status_code == 404


async def test_tenant_creates_own_services(world: World) -> None:
    api = world.api
    sid = await _service(api, world.tokens["user"], "mine")
    async with api.runtime.db.read_session() as session:
        service = await session.get(Service, sid)
        assert service is not None
        assert service.owner_id == world.user_ids["user"]
    world.services[f"extra-{sid}"] = sid
