"""The container security policy and quotas over the real API, for a `user`-role tenant."""

from __future__ import annotations

import os
from typing import Any

import httpx

from tests.conftest import LiveApp, add_user, assert_error, audit_rows, unique_email
from tests.integration.services.conftest import wait_job

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
PASSWORD = "Tenant-Password-123456"
MIB = 1024**2


def sleeper(**extra: str) -> str:
    lines = "".join(f"    {key}: {value}\n" for key, value in extra.items())
    return (
        "services:\n"
        "  app:\n"
        f"    image: {IMAGE}\n"
        '    command: ["sleep", "3600"]\n'
        "    stop_grace_period: 1s\n"
        "    labels:\n"
        "      io.dockyard.test: '1'\n"
        f"{lines}"
    )


async def tenant(api: LiveApp) -> tuple[int, dict[str, str]]:
    """A new `user`-role account and its bearer header."""
    email = unique_email("tenant")
    user_id = await add_user(api, email, PASSWORD, role="user")
    tokens = await api.login(email, PASSWORD)
    return user_id, api.bearer(tokens["access_token"])


async def create_as(
    api: LiveApp, headers: dict[str, str], name: str, compose: str
) -> httpx.Response:
    return await api.client.post(
        "/api/v1/services", json={"name": name, "compose": compose}, headers=headers
    )


async def test_a_user_is_refused_a_privileged_service_with_a_readable_message(
    services_api: LiveApp, service_name: str
) -> None:
    _, headers = await tenant(services_api)
    compose = sleeper(privileged="true", volumes='["/var/run/docker.sock:/var/run/docker.sock"]')
    response = await create_as(services_api, headers, service_name, compose)
    error = assert_error(response, 403, "policy_violation")
    assert "services.app.privileged" in error["message"]
    assert "admins only" in error["message"]
    found = {(e["path"], e["rule"]) for e in error["details"]["errors"]}
    assert found == {
        ("services.app.privileged", "privileged"),
        ("services.app.volumes.0.source", "docker_socket"),
    }
    # Nothing was saved.
    listed = await services_api.client.get("/api/v1/services", params={"search": service_name})
    assert listed.json()["items"] == []
    assert not [
        e
        for e in await audit_rows(services_api, action="service.created")
        if e.details.get("name") == service_name
    ]
    # Only a `denied` audit event was written, naming what was refused.
    denied = await audit_rows(services_api, action="service.policy.denied")
    assert denied[-1].outcome == "denied"
    assert denied[-1].details == {
        "operation": "create",
        "refused": [
            {"path": "services.app.privileged", "rule": "privileged"},
            {"path": "services.app.volumes.0.source", "rule": "docker_socket"},
        ],
    }
    # The editor's validation says the same, with the rule.
    checked = await services_api.client.post(
        "/api/v1/services/validate", json={"compose": compose}, headers=headers
    )
    assert checked.status_code == 200
    assert {i["rule"] for i in checked.json()["issues"]} == {"privileged", "docker_socket"}
    # An admin may.
    admin = await services_api.client.post(
        "/api/v1/services", json={"name": service_name, "compose": sleeper(privileged="true")}
    )
    assert admin.status_code == 201, admin.text


async def test_an_update_and_a_restore_are_checked_too(
    services_api: LiveApp, service_name: str
) -> None:
    _, headers = await tenant(services_api)
    created = await create_as(services_api, headers, service_name, sleeper())
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    refused = await services_api.client.put(
        f"/api/v1/services/{sid}", json={"compose": sleeper(cap_add="[SYS_ADMIN]")}, headers=headers
    )
    assert assert_error(refused, 403, "policy_violation")["details"]["errors"][0]["rule"] == (
        "cap_add"
    )
    denied = await audit_rows(services_api, action="service.policy.denied", target_id=str(sid))
    assert [e.details["operation"] for e in denied] == ["update"]
    # The refused edit left the service as it was.
    latest = (await services_api.client.get(f"/api/v1/services/{sid}")).json()
    assert latest["revision"] == 1
    # An admin edits in a privileged revision; the tenant cannot restore it.
    admin_edit = await services_api.client.put(
        f"/api/v1/services/{sid}", json={"compose": sleeper(pid="host")}
    )
    assert admin_edit.status_code == 200, admin_edit.text
    restore = await services_api.client.post(
        f"/api/v1/services/{sid}/revisions/2/restore", json={}, headers=headers
    )
    assert assert_error(restore, 403, "policy_violation")["details"]["errors"][0]["path"] == (
        "services.app.pid"
    )


async def test_quota_exceeded_names_what_is_over(services_api: LiveApp, service_name: str) -> None:
    user_id, headers = await tenant(services_api)
    put = await services_api.client.put(
        f"/api/v1/users/{user_id}/quota",
        json={"max_memory_bytes": 1024 * MIB, "max_services": 5},
    )
    assert put.status_code == 200, put.text
    assert put.json()["custom"] is True
    # A user cannot set their own quota.
    denied = await services_api.client.put(
        f"/api/v1/users/{user_id}/quota", json={"max_memory_bytes": 2**40}, headers=headers
    )
    assert denied.status_code == 403

    first = await create_as(services_api, headers, service_name, sleeper(mem_limit="512m"))
    assert first.status_code == 201, first.text
    over = await create_as(services_api, headers, f"{service_name}-b", sleeper(mem_limit="768m"))
    error = assert_error(over, 422, "quota_exceeded")
    assert error["message"] == (
        "Over your quota: memory: 768 MiB requested, quota 1 GiB, 512 MiB in use"
    )
    assert error["details"]["errors"] == [
        {"path": "memory", "message": "memory: 768 MiB requested, quota 1 GiB, 512 MiB in use"}
    ]
    # Growing the existing service past the quota is refused too; within it is fine.
    sid = first.json()["id"]
    grow = await services_api.client.put(
        f"/api/v1/services/{sid}", json={"compose": sleeper(mem_limit="2g")}, headers=headers
    )
    assert assert_error(grow, 422, "quota_exceeded")["message"] == (
        "Over your quota: memory: 2 GiB requested, quota 1 GiB, 0 B in use"
    )
    mine = await services_api.client.get("/api/v1/users/me/quota", headers=headers)
    assert mine.status_code == 200
    body = mine.json()
    assert body["max_memory_bytes"] == 1024 * MIB
    assert body["usage"]["services"] == 1
    assert body["usage"]["memory_bytes"] == 512 * MIB


async def test_forced_limits_are_applied_to_the_running_container(
    services_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    user_id, headers = await tenant(services_api)
    created = await create_as(
        services_api, headers, service_name, sleeper(security_opt='["no-new-privileges"]')
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    revision = (await services_api.client.get(f"/api/v1/services/{sid}/revisions/1")).json()
    spec = revision["definition"]["services"]["app"]
    settings = services_api.settings
    assert spec["pids_limit"] == settings.quota_default_pids
    assert spec["mem_limit"] == settings.quota_default_memory
    assert spec["cpus"] == settings.quota_default_cpus
    assert spec["security_opt"] == ["no-new-privileges:true"]
    assert spec["labels"]["io.dockyard.owner"] == str(user_id)

    response = await services_api.client.post(f"/api/v1/services/{sid}/deploy", headers=headers)
    assert response.status_code == 202, response.text
    job = await wait_job(services_api, response.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    containers = docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={service_name}"}
    )
    assert len(containers) == 1
    host = containers[0].attrs["HostConfig"]
    assert host["PidsLimit"] == settings.quota_default_pids
    assert host["Memory"] == settings.quota_default_memory
    assert host["NanoCpus"] == round(settings.quota_default_cpus * 1e9)
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert containers[0].labels["io.dockyard.owner"] == str(user_id)
