"""Update detection against the real local registries: HEAD only, never a pull."""

from __future__ import annotations

from typing import Any

from tests.conftest import LiveApp, assert_error, audit_rows, require_env
from tests.integration.registries.conftest import push, registry_log, sleeper
from tests.integration.services.conftest import act, wait_job


async def deploy(api: LiveApp, name: str, image: str) -> dict[str, Any]:
    response = await api.client.post(
        "/api/v1/services", json={"name": name, "compose": sleeper(image)}
    )
    assert response.status_code == 201, response.text
    service: dict[str, Any] = response.json()
    job = await act(api, service["id"], "deploy")
    assert job["status"] == "succeeded", job
    return service


async def check(api: LiveApp, service_id: int) -> dict[str, Any]:
    response = await api.client.post(f"/api/v1/services/{service_id}/check-updates")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_push_v2_is_detected_with_head_requests_only(
    reg_api: LiveApp, docker_client: Any, test_image: str, repo_name: str, service_name: str
) -> None:
    registry = require_env("DOCKYARD_TEST_REGISTRY")
    image_v2 = require_env("DOCKYARD_TEST_IMAGE_V2")
    ref = f"{registry}/{repo_name}:latest"
    v1 = push(docker_client, test_image, ref)
    service = await deploy(reg_api, service_name, ref)
    sid = service["id"]

    # Never checked: unknown, not "no update".
    detail = (await reg_api.client.get(f"/api/v1/services/{sid}")).json()
    assert detail["update_available"] is None

    log = registry_log(repo_name)
    first = await check(reg_api, sid)
    assert set(first) >= {"images", "checked_at"}
    assert len(first["images"]) == 1
    status = first["images"][0]
    assert status["image"] == ref
    assert status["current_digest"] == v1
    assert status["remote_digest"] == v1
    assert status["update_available"] is False
    assert status["error"] is None
    assert first["update_available"] is False
    assert await log.wait_methods(1) == ["HEAD"]
    detail = (await reg_api.client.get(f"/api/v1/services/{sid}")).json()
    assert detail["update_available"] is False

    # Someone pushes v2 under the same tag.
    v2 = push(docker_client, image_v2, ref)
    assert v2 != v1
    log.mark()
    second = await check(reg_api, sid)
    status = second["images"][0]
    assert status["current_digest"] == v1  # what the container runs
    assert status["remote_digest"] == v2
    assert status["update_available"] is True
    assert second["update_available"] is True
    methods = await log.wait_methods(1)
    assert methods == ["HEAD"], methods  # no GET, and certainly no blob pull

    # The list and the detail both show it (the list cache notices the new check).
    detail = (await reg_api.client.get(f"/api/v1/services/{sid}")).json()
    assert detail["update_available"] is True
    listed = (await reg_api.client.get("/api/v1/services")).json()
    assert next(s for s in listed["items"] if s["id"] == sid)["update_available"] is True
    stored = (await reg_api.client.get(f"/api/v1/services/{sid}/update-check")).json()
    assert stored["images"][0]["remote_digest"] == v2
    assert stored["update_available"] is True

    # The container still runs v1: checking never pulled or recreated anything.
    containers = docker_client.containers.list(
        filters={"label": f"com.docker.compose.project={service_name}"}
    )
    assert len(containers) == 1
    assert docker_client.images.get(containers[0].image.id).attrs["RepoDigests"]
    assert f"{registry}/{repo_name}@{v1}" in containers[0].image.attrs["RepoDigests"]


async def test_pinned_digest_is_never_an_update(
    reg_api: LiveApp, docker_client: Any, test_image: str, repo_name: str, service_name: str
) -> None:
    registry = require_env("DOCKYARD_TEST_REGISTRY")
    ref = f"{registry}/{repo_name}:latest"
    v1 = push(docker_client, test_image, ref)
    pinned = f"{registry}/{repo_name}@{v1}"
    service = await deploy(reg_api, service_name, pinned)
    push(docker_client, require_env("DOCKYARD_TEST_IMAGE_V2"), ref)
    log = registry_log(repo_name)
    result = await check(reg_api, service["id"])
    assert result["images"][0]["pinned"] is True
    assert result["images"][0]["update_available"] is False
    assert result["images"][0]["current_digest"] == v1
    assert log.methods() == []  # a pinned reference needs no registry request


async def test_check_all_is_a_job(
    reg_api: LiveApp, docker_client: Any, test_image: str, repo_name: str, service_name: str
) -> None:
    registry = require_env("DOCKYARD_TEST_REGISTRY")
    ref = f"{registry}/{repo_name}:7"
    push(docker_client, test_image, ref)
    service = await deploy(reg_api, service_name, ref)
    push(docker_client, require_env("DOCKYARD_TEST_IMAGE_V2"), ref)
    response = await reg_api.client.post("/api/v1/updates/check", json={})
    assert response.status_code == 202, response.text
    job = await wait_job(reg_api, response.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    assert {"service_id": service["id"], "name": service_name} in job["result"]["updates_available"]
    detail = (await reg_api.client.get(f"/api/v1/services/{service['id']}")).json()
    assert detail["update_available"] is True


async def test_bad_image_reference_is_refused(reg_api: LiveApp, service_name: str) -> None:
    response = await reg_api.client.post(
        "/api/v1/services",
        json={"name": service_name, "compose": sleeper("'dockyard test/app:1'")},
    )
    assert_error(response, 422)
    listed = (await reg_api.client.get("/api/v1/services", params={"search": service_name})).json()
    assert listed["total"] == 0


async def test_unknown_service_and_permissions(reg_api: LiveApp) -> None:
    assert_error(await reg_api.client.post("/api/v1/services/999999/check-updates"), 404)
    anonymous = await reg_api.client.post(
        "/api/v1/services/1/check-updates", headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401


async def test_auth_registry_credentials_detection_and_pull(
    reg_api: LiveApp, docker_client: Any, test_image: str, repo_name: str, service_name: str
) -> None:
    host = require_env("DOCKYARD_TEST_AUTH_REGISTRY")
    user = require_env("DOCKYARD_TEST_AUTH_REGISTRY_USER")
    password = require_env("DOCKYARD_TEST_AUTH_REGISTRY_PASSWORD")
    auth = {"username": user, "password": password, "serveraddress": host}
    ref = f"{host}/{repo_name}:latest"
    v1 = push(docker_client, test_image, ref, auth)

    # Wrong credentials with verify: a clear 4xx, nothing stored.
    bad = await reg_api.client.post(
        "/api/v1/registries",
        json={
            "name": "auth",
            "url": f"http://{host}",
            "username": user,
            "password": "wrong-password-x",
            "verify": True,
        },
    )
    error = assert_error(bad, 400, "registry_auth_failed")
    assert "refused the credentials" in error["message"]
    assert (await reg_api.client.get("/api/v1/registries")).json()["items"] == []

    # Stored with a wrong password: the test action fails clearly, the check reports it.
    created = await reg_api.client.post(
        "/api/v1/registries",
        json={"name": "auth", "url": host, "username": user, "password": "wrong-password-x"},
    )
    assert created.status_code == 201, created.text
    registry = created.json()
    assert registry["has_secret"] is True
    assert registry["insecure"] is True
    assert "password" not in registry
    assert "wrong-password-x" not in created.text
    rid = registry["id"]
    try:
        failed = await reg_api.client.post(f"/api/v1/registries/{rid}/test")
        assert "401" in assert_error(failed, 400, "registry_auth_failed")["message"]

        fixed = await reg_api.client.patch(f"/api/v1/registries/{rid}", json={"password": password})
        assert fixed.status_code == 200, fixed.text
        assert password not in fixed.text
        ok = await reg_api.client.post(f"/api/v1/registries/{rid}/test")
        assert ok.status_code == 200, ok.text
        assert ok.json()["ok"] is True
        assert ok.json()["status"] == 200

        service = await deploy(reg_api, service_name, ref)
        result = await check(reg_api, service["id"])
        assert result["images"][0]["update_available"] is False, result
        assert result["images"][0]["remote_digest"] == v1

        v2 = push(docker_client, require_env("DOCKYARD_TEST_IMAGE_V2"), ref, auth)
        log = registry_log(repo_name, auth=True)
        result = await check(reg_api, service["id"])
        assert result["images"][0]["remote_digest"] == v2
        assert result["images"][0]["update_available"] is True
        assert set(await log.wait_methods(1)) == {"HEAD"}

        # Pulls use the stored credentials (the engine itself has none for this host).
        docker_client.images.remove(ref, noprune=True)
        job = await act(reg_api, service["id"], "pull")
        assert job["status"] == "succeeded", job
        assert v2 in str(docker_client.images.get(ref).attrs["RepoDigests"])

        # The secret appears in no response and no audit event.
        everything = (await reg_api.client.get(f"/api/v1/registries/{rid}")).text
        everything += (await reg_api.client.get("/api/v1/registries")).text
        assert password not in everything
        assert "wrong-password-x" not in everything
        rows = await audit_rows(reg_api, target_type="registry")
        assert {r.action for r in rows} >= {"registry.create", "registry.update", "registry.test"}
        for row in await audit_rows(reg_api):
            assert password not in str(row.details)
            assert "wrong-password-x" not in str(row.details)
    finally:
        deleted = await reg_api.client.delete(f"/api/v1/registries/{rid}")
        assert deleted.status_code == 204


async def test_cached_answers_within_the_ttl(
    reg_api: LiveApp, docker_client: Any, test_image: str, repo_name: str
) -> None:
    from dockyard.registries.service import check_images

    registry = require_env("DOCKYARD_TEST_REGISTRY")
    ref = f"{registry}/{repo_name}:c"
    digest = push(docker_client, test_image, ref)
    node_id = (await reg_api.client.get("/api/v1/nodes")).json()["items"][0]["id"]
    log = registry_log(repo_name)
    fresh = await check_images(reg_api.runtime, [ref], node_id, max_age_s=0)
    assert fresh[0].remote_digest == digest
    assert await log.wait_methods(1) == ["HEAD"]
    log.mark()
    cached = await check_images(reg_api.runtime, [ref], node_id, max_age_s=300)
    assert cached[0].remote_digest == digest
    assert cached[0].checked_at == fresh[0].checked_at  # the stored answer
    again = await check_images(reg_api.runtime, [ref], node_id, max_age_s=0)
    assert again[0].checked_at > fresh[0].checked_at
    assert await log.wait_methods(1) == ["HEAD"]  # only the forced check asked
