"""Scoped grants, the quota editor's fields and roles' MFA flag through the API (both databases)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.settings import Settings
from tests.conftest import LiveApp, add_user, assert_error, audit_rows, running_app, unique_email

PASSWORD = "Grant-Tenant-Password-9137"


async def _service(api: LiveApp, headers: dict[str, str], name: str) -> int:
    response = await api.client.post(
        "/api/v1/services",
        json={
            "name": name,
            "definition": {
                "services": {"web": {"image": "busybox:1", "labels": {"io.dockyard.test": "1"}}}
            },
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _grants(api: LiveApp, headers: dict[str, str], user_id: int) -> list[dict[str, Any]]:
    response = await api.client.get(f"/api/v1/users/{user_id}/grants", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_grants_named_checked_removed_and_audited(api: LiveApp) -> None:
    admin = api.bearer(await api.token())
    user_id = await add_user(api, unique_email("grantee"), PASSWORD, role="user")
    other_id = await add_user(api, unique_email("other"), PASSWORD, role="viewer")
    nodes = (await api.client.get("/api/v1/nodes", headers=admin)).json()["items"]
    node = nodes[0]
    service_id = await _service(api, admin, "granted-svc")

    on_node = await api.client.post(
        f"/api/v1/users/{user_id}/grants",
        json={"role": "operator", "scope_type": "node", "scope_id": node["id"]},
        headers=admin,
    )
    assert on_node.status_code == 201, on_node.text
    assert (on_node.json()["scope_type"], on_node.json()["scope_name"]) == ("node", node["name"])
    on_service = await api.client.post(
        f"/api/v1/users/{user_id}/grants",
        json={"role": "viewer", "scope_type": "service", "scope_id": service_id},
        headers=admin,
    )
    assert on_service.status_code == 201, on_service.text
    everywhere = await api.client.post(
        f"/api/v1/users/{user_id}/grants",
        json={"role": "auditor", "scope_type": "global"},
        headers=admin,
    )
    assert everywhere.status_code == 201, everywhere.text
    listed = await _grants(api, admin, user_id)
    assert [(g["role"], g["scope_type"], g["scope_name"]) for g in listed] == [
        ("operator", "node", node["name"]),
        ("viewer", "service", "granted-svc"),
        ("auditor", "global", None),
    ]

    # A target that does not exist, the same grant twice, and an out-of-range id are refused.
    for body, status, code in (
        ({"role": "viewer", "scope_type": "node", "scope_id": 987654}, 422, "scope_not_found"),
        ({"role": "viewer", "scope_type": "service", "scope_id": 987654}, 422, "scope_not_found"),
        ({"role": "viewer", "scope_type": "service", "scope_id": service_id}, 409, "grant_exists"),
        ({"role": "viewer", "scope_type": "node", "scope_id": 2**40}, 422, None),
        ({"role": "viewer", "scope_type": "global", "scope_id": node["id"]}, 422, None),
    ):
        response = await api.client.post(
            f"/api/v1/users/{user_id}/grants", json=body, headers=admin
        )
        error = assert_error(response, status, code)
        if code == "scope_not_found":
            assert error["details"]["errors"] == [
                {"path": "scope_id", "message": f"no {body['scope_type']} with id 987654"}
            ]
    assert len(await _grants(api, admin, user_id)) == 3

    # A tenant cannot remove grants (not even their own), and nothing changes.
    tenant_email = unique_email("tenant")
    await add_user(api, tenant_email, PASSWORD, role="user")
    tenant = api.bearer((await api.login(tenant_email, PASSWORD))["access_token"])
    grant_id = on_service.json()["id"]
    denied = await api.client.delete(f"/api/v1/users/{user_id}/grants/{grant_id}", headers=tenant)
    assert_error(denied, 403)
    # A grant id under the wrong user is not found.
    wrong = await api.client.delete(f"/api/v1/users/{other_id}/grants/{grant_id}", headers=admin)
    assert_error(wrong, 404, "grant_not_found")
    assert len(await _grants(api, admin, user_id)) == 3
    assert await audit_rows(api, action="user.grant.removed") == []

    removed = await api.client.delete(f"/api/v1/users/{user_id}/grants/{grant_id}", headers=admin)
    assert removed.status_code == 204, removed.text
    assert [g["id"] for g in await _grants(api, admin, user_id)] == [
        on_node.json()["id"],
        everywhere.json()["id"],
    ]
    events = await audit_rows(api, action="user.grant.removed", target_id=str(user_id))
    assert len(events) == 1
    assert events[0].details == {"role": "viewer", "scope_type": "service", "scope_id": service_id}
    assert events[0].outcome == "success"
    added = await audit_rows(api, action="user.grant.added", target_id=str(user_id))
    assert len(added) == 3
    again = await api.client.delete(f"/api/v1/users/{user_id}/grants/{grant_id}", headers=admin)
    assert_error(again, 404, "grant_not_found")


async def test_quota_out_has_own_values_and_defaults(api: LiveApp) -> None:
    admin = api.bearer(await api.token())
    user_id = await add_user(api, unique_email("quota"), PASSWORD, role="user")
    settings = api.settings
    body = (await api.client.get(f"/api/v1/users/{user_id}/quota", headers=admin)).json()
    assert set(body["own"].values()) == {None}
    assert body["defaults"]["max_services"] == settings.quota_max_services
    assert body["defaults"]["max_memory_bytes"] == settings.quota_max_memory_bytes
    assert body["defaults"]["default_pids"] == settings.quota_default_pids

    put = await api.client.put(
        f"/api/v1/users/{user_id}/quota", json={"max_services": 3, "max_cpus": 0.5}, headers=admin
    )
    assert put.status_code == 200, put.text
    own = put.json()["own"]
    assert (own["max_services"], own["max_cpus"], own["max_gpus"]) == (3, 0.5, None)
    assert put.json()["max_services"] == 3
    assert put.json()["defaults"]["max_services"] == settings.quota_max_services


async def test_roles_show_the_mfa_setting(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    settings = app_settings(db_url, mfa_required_roles=["operator", "auditor"])
    async with running_app(settings) as api:
        admin = api.bearer(await api.token())
        roles = (await api.client.get("/api/v1/roles", headers=admin)).json()["items"]
        flags = {r["name"]: r["mfa_required"] for r in roles}
        assert flags == {
            "admin": False,
            "operator": True,
            "auditor": True,
            "viewer": False,
            "user": False,
        }
        one = (await api.client.get("/api/v1/roles/operator", headers=admin)).json()
        assert one["mfa_required"] is True
