"""Users and roles API: create, edit, custom roles with inheritance, last admin, revocation."""

from __future__ import annotations

from typing import Any

from dockyard.access.permissions import BUILTIN_ROLES
from tests.conftest import ADMIN_EMAIL, LiveApp, assert_error, audit_rows, unique_email

PASSWORD = "Tenant-Password-4821"


async def admin_headers(api: LiveApp) -> dict[str, str]:
    return api.bearer(await api.token())


async def create_user(
    api: LiveApp, headers: dict[str, str], role: str, **extra: Any
) -> dict[str, Any]:
    response = await api.client.post(
        "/api/v1/users",
        json={"email": unique_email(role), "password": PASSWORD, "role": role, **extra},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


async def me(api: LiveApp, token: str) -> Any:
    return await api.client.get("/api/v1/auth/me", headers=api.bearer(token))


async def test_create_list_get_patch_user(api: LiveApp) -> None:
    headers = await admin_headers(api)
    user = await create_user(api, headers, "viewer", display_name="Vera")
    assert (user["role"], user["display_name"], user["is_active"]) == ("viewer", "Vera", True)
    assert not {"password", "password_hash"} & set(user)
    rows = await audit_rows(api, action="user.created", target_id=str(user["id"]))
    assert len(rows) == 1
    assert PASSWORD not in str(rows[0].details)

    listed = (await api.client.get("/api/v1/users?search=vera", headers=headers)).json()
    assert [u["id"] for u in listed["items"]] == [user["id"]]
    got = (await api.client.get(f"/api/v1/users/{user['id']}", headers=headers)).json()
    assert got["email"] == user["email"]
    assert_error(await api.client.get("/api/v1/users/999999", headers=headers), 404)

    # /me carries the role and the resolved permissions.
    token = (await api.login(user["email"], PASSWORD))["access_token"]
    body = (await me(api, token)).json()
    assert body["role"] == "viewer"
    assert set(body["permissions"]) == set(BUILTIN_ROLES["viewer"])
    assert body["sees_all_services"] is True

    response = await api.client.patch(
        f"/api/v1/users/{user['id']}", json={"display_name": "Vera V."}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Vera V."
    # A name change keeps the sessions.
    assert (await me(api, token)).status_code == 200

    assert_error(
        await api.client.post(
            "/api/v1/users",
            json={"email": unique_email(), "password": PASSWORD, "role": "nope"},
            headers=headers,
        ),
        422,
    )
    assert_error(
        await api.client.post(
            "/api/v1/users",
            json={"email": user["email"], "password": PASSWORD, "role": "viewer"},
            headers=headers,
        ),
        409,
        "user_exists",
    )


async def test_role_change_disable_and_reset_revoke_sessions(api: LiveApp) -> None:
    headers = await admin_headers(api)
    for change in ({"role": "auditor"}, {"is_active": False}, {"password": "New-Password-5512"}):
        user = await create_user(api, headers, "viewer")
        token = (await api.login(user["email"], PASSWORD))["access_token"]
        assert (await me(api, token)).status_code == 200
        response = await api.client.patch(
            f"/api/v1/users/{user['id']}", json=change, headers=headers
        )
        assert response.status_code == 200, response.text
        assert_error(await me(api, token), 401)
        sessions = await api.client.get(f"/api/v1/users/{user['id']}/sessions", headers=headers)
        assert sessions.status_code == 200
        assert sessions.json()["items"] == []
        rows = await audit_rows(api, action="user.updated", target_id=str(user["id"]))
        assert rows[-1].details["sessions_revoked"] == 1
        assert "New-Password-5512" not in str(rows[-1].details)
    # The new password works, the old does not.
    response = await api.client.post(
        "/api/v1/auth/login", json={"email": user["email"], "password": "New-Password-5512"}
    )
    assert response.status_code == 200


async def test_last_admin_is_protected(api: LiveApp) -> None:
    headers = await admin_headers(api)
    me_body = (await api.client.get("/api/v1/auth/me", headers=headers)).json()
    admin_id = me_body["id"]
    for change in ({"role": "viewer"}, {"is_active": False}):
        assert_error(
            await api.client.patch(f"/api/v1/users/{admin_id}", json=change, headers=headers),
            409,
            "last_admin",
        )
    # With a second active admin the first may step down.
    second = await create_user(api, headers, "admin")
    response = await api.client.patch(
        f"/api/v1/users/{admin_id}", json={"role": "operator"}, headers=headers
    )
    assert response.status_code == 200
    second_token = (await api.login(second["email"], PASSWORD))["access_token"]
    assert_error(
        await api.client.patch(
            f"/api/v1/users/{second['id']}",
            json={"is_active": False},
            headers=api.bearer(second_token),
        ),
        409,
        "last_admin",
    )
    assert ADMIN_EMAIL


async def test_custom_roles_with_inheritance(api: LiveApp) -> None:
    headers = await admin_headers(api)
    listed = (await api.client.get("/api/v1/roles", headers=headers)).json()["items"]
    names = [r["name"] for r in listed]
    assert names[:5] == ["admin", "operator", "auditor", "viewer", "user"]
    assert all(r["builtin"] for r in listed[:5])
    assert {r["name"]: r["tenant"] for r in listed[:5]}["user"] is True

    response = await api.client.post(
        "/api/v1/roles",
        json={"name": "deployer", "parent": "viewer", "permissions": ["services:deploy"]},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    role = response.json()
    assert role["permissions"] == ["services:deploy"]
    assert set(role["effective_permissions"]) == BUILTIN_ROLES["viewer"] | {"services:deploy"}

    response = await api.client.post(
        "/api/v1/roles",
        json={"name": "senior", "parent": "deployer", "permissions": ["services:logs"]},
        headers=headers,
    )
    assert response.status_code == 201
    user = await create_user(api, headers, "senior")
    token = (await api.login(user["email"], PASSWORD))["access_token"]
    perms = set((await me(api, token)).json()["permissions"])
    assert perms == BUILTIN_ROLES["viewer"] | {"services:deploy", "services:logs"}

    # Editing a parent changes the child's effective permissions at once.
    response = await api.client.patch(
        "/api/v1/roles/deployer",
        json={"permissions": ["services:deploy", "services:update"]},
        headers=headers,
    )
    assert response.status_code == 200
    perms = set((await me(api, token)).json()["permissions"])
    assert "services:update" in perms

    # A cycle is refused.
    error = assert_error(
        await api.client.patch(
            "/api/v1/roles/deployer", json={"parent": "senior"}, headers=headers
        ),
        422,
        "role_cycle",
    )
    assert error["details"]["errors"][0]["path"] == "parent"
    # Unknown permissions are named.
    error = assert_error(
        await api.client.post(
            "/api/v1/roles",
            json={"name": "bad", "permissions": ["services:read", "services:fly"]},
            headers=headers,
        ),
        422,
        "unknown_permission",
    )
    assert error["details"]["errors"][0]["path"] == "permissions.1"
    assert "services:fly" in error["message"]
    assert_error(
        await api.client.post(
            "/api/v1/roles", json={"name": "viewer", "permissions": []}, headers=headers
        ),
        409,
        "role_exists",
    )
    # Built-in roles are not editable or deletable.
    assert_error(
        await api.client.patch(
            "/api/v1/roles/viewer", json={"permissions": ["users:manage"]}, headers=headers
        ),
        409,
        "builtin_role",
    )
    assert_error(await api.client.delete("/api/v1/roles/user", headers=headers), 409)
    # In use (by a user, or as a parent): refused.
    assert_error(
        await api.client.delete("/api/v1/roles/senior", headers=headers), 409, "role_in_use"
    )
    assert_error(
        await api.client.delete("/api/v1/roles/deployer", headers=headers), 409, "role_in_use"
    )
    await api.client.patch(f"/api/v1/users/{user['id']}", json={"role": "viewer"}, headers=headers)
    assert (await api.client.delete("/api/v1/roles/senior", headers=headers)).status_code == 204
    assert (await api.client.delete("/api/v1/roles/deployer", headers=headers)).status_code == 204
    assert len(await audit_rows(api, action="role.deleted")) == 2
    catalog = (await api.client.get("/api/v1/roles/permissions", headers=headers)).json()
    assert {"resource": "users", "permissions": ["users:read", "users:manage"]} in catalog["groups"]
