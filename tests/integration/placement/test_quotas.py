"""Quotas on create, update and scale (more containers), GPUs included, with clear messages."""

from __future__ import annotations

import os
from typing import Any

from tests.conftest import LiveApp, add_user, assert_error, unique_email

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
PASSWORD = "Tenant-Password-123456"


def box(**extra: Any) -> dict[str, Any]:
    return {
        "image": IMAGE,
        "command": ["sleep", "3600"],
        "labels": {"io.dockyard.test": "1"},
        "mem_limit": "64m",
        "cpus": 0.25,
        **extra,
    }


async def tenant(app: LiveApp, **quota: Any) -> dict[str, str]:
    email = unique_email("tenant")
    user_id = await add_user(app, email, PASSWORD, role="user")
    put = await app.client.put(f"/api/v1/users/{user_id}/quota", json=quota)
    assert put.status_code == 200, put.text
    return app.bearer((await app.login(email, PASSWORD))["access_token"])


async def test_gpu_requests_are_held_to_the_quota(papi: LiveApp, project_prefix: str) -> None:
    headers = await tenant(papi, max_gpus=1)
    two = {"services": {"app": box(gpus=2)}}
    response = await papi.client.post(
        "/api/v1/services", json={"name": f"{project_prefix}-g", "definition": two}, headers=headers
    )
    error = assert_error(response, 422, "quota_exceeded")
    assert error["message"] == "Over your quota: gpus: 2 requested, quota 1, 0 in use"
    assert error["details"]["errors"] == [
        {"path": "gpus", "message": "gpus: 2 requested, quota 1, 0 in use"}
    ]
    devices = {
        "services": {
            "app": box(
                deploy={
                    "resources": {
                        "reservations": {"devices": [{"capabilities": ["gpu"], "count": 3}]}
                    }
                }
            )
        }
    }
    response = await papi.client.post(
        "/api/v1/services",
        json={"name": f"{project_prefix}-a", "definition": devices},
        headers=headers,
    )
    error = assert_error(response, 422, "quota_exceeded")
    assert error["message"] == "Over your quota: gpus: 3 requested, quota 1, 0 in use"


async def test_update_and_scale_are_held_to_the_quota(papi: LiveApp, project_prefix: str) -> None:
    headers = await tenant(papi, max_containers=2, max_memory_bytes=256 * 1024**2)
    created = await papi.client.post(
        "/api/v1/services",
        json={"name": f"{project_prefix}-s", "definition": {"services": {"a": box()}}},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    service_id = created.json()["id"]
    # Scaling out (a definition with more containers) past max_containers.
    scaled = {"services": {"a": box(), "b": box(), "c": box()}}
    response = await papi.client.put(
        f"/api/v1/services/{service_id}", json={"definition": scaled}, headers=headers
    )
    error = assert_error(response, 422, "quota_exceeded")
    assert error["message"] == "Over your quota: containers: 3 requested, quota 2, 0 in use"
    # Growing a container's memory past max_memory_bytes.
    grown = {"services": {"a": box(mem_limit="512m")}}
    response = await papi.client.put(
        f"/api/v1/services/{service_id}", json={"definition": grown}, headers=headers
    )
    error = assert_error(response, 422, "quota_exceeded")
    assert error["message"] == (
        "Over your quota: memory: 512 MiB requested, quota 256 MiB, 0 B in use"
    )
    # Within the quota is fine, and nothing of the refused edits was saved.
    ok = await papi.client.put(
        f"/api/v1/services/{service_id}",
        json={"definition": {"services": {"a": box(), "b": box()}}},
        headers=headers,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["revision"] == 2
    # A second service now goes over the container count: the message says what is in use.
    second = await papi.client.post(
        "/api/v1/services",
        json={"name": f"{project_prefix}-t", "definition": {"services": {"a": box()}}},
        headers=headers,
    )
    error = assert_error(second, 422, "quota_exceeded")
    assert "containers: 1 requested, quota 2, 2 in use" in error["message"]
