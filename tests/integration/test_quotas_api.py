"""Quota routes on both databases; out-of-range ids are a 422, not a 500."""

from __future__ import annotations

from tests.conftest import LiveApp, add_user, assert_error, audit_rows, unique_email

PASSWORD = "Tenant-Password-123456"


async def test_quota_defaults_own_values_and_reset(api: LiveApp) -> None:
    admin = api.bearer(await api.token())
    email = unique_email("tenant")
    user_id = await add_user(api, email, PASSWORD, role="user")
    settings = api.settings

    default = await api.client.get(f"/api/v1/users/{user_id}/quota", headers=admin)
    assert default.status_code == 200, default.text
    body = default.json()
    assert body["custom"] is False
    assert body["max_services"] == settings.quota_max_services
    assert body["default_pids"] == settings.quota_default_pids
    assert body["usage"] == {
        "services": 0,
        "containers": 0,
        "cpus": 0.0,
        "memory_bytes": 0,
        "gpus": 0,
    }

    put = await api.client.put(
        f"/api/v1/users/{user_id}/quota",
        json={"max_cpus": 1.5, "max_gpus": 2, "default_pids": 100},
        headers=admin,
    )
    assert put.status_code == 200, put.text
    assert put.json()["custom"] is True
    assert (put.json()["max_cpus"], put.json()["max_gpus"], put.json()["default_pids"]) == (
        1.5,
        2,
        100,
    )
    assert put.json()["max_services"] == settings.quota_max_services  # null: the default
    events = await audit_rows(api, action="user.quota.updated", target_id=str(user_id))
    assert len(events) == 1
    assert events[0].details == {"max_cpus": 1.5, "max_gpus": 2, "default_pids": 100}

    tenant = api.bearer((await api.login(email, PASSWORD))["access_token"])
    mine = await api.client.get("/api/v1/users/me/quota", headers=tenant)
    assert mine.status_code == 200
    assert mine.json()["max_cpus"] == 1.5
    assert (await api.client.get(f"/api/v1/users/{user_id}/quota", headers=tenant)).status_code == (
        403
    )

    cleared = await api.client.put(f"/api/v1/users/{user_id}/quota", json={}, headers=admin)
    assert cleared.json()["custom"] is False
    assert cleared.json()["max_cpus"] == settings.quota_max_cpus


async def test_quota_refusals(api: LiveApp) -> None:
    admin = api.bearer(await api.token())
    missing = await api.client.get("/api/v1/users/987654/quota", headers=admin)
    assert_error(missing, 404, "user_not_found")
    bad = await api.client.put(
        "/api/v1/users/1/quota", json={"max_cpus": -1, "extra": 1}, headers=admin
    )
    assert_error(bad, 422, "validation_error")


async def test_out_of_range_ids_are_refused_cleanly(api: LiveApp) -> None:
    admin = api.bearer(await api.token())
    for path in (
        "/api/v1/services/99999999999999999999",
        "/api/v1/services/9999999999",
        "/api/v1/users/99999999999999999999/quota",
        "/api/v1/jobs?limit=1&offset=99999999999999999999",
    ):
        response = await api.client.get(path, headers=admin)
        assert response.status_code in (404, 422), (path, response.text)
        assert response.json()["error"]["code"] != "internal_error"
