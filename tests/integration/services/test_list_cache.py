"""The cached service list follows every change, and a logged-out token stops at once."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import LiveApp, assert_error
from tests.integration.services.conftest import act

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


def sleeper(seconds: int) -> str:
    return f"services:\n  app:\n    image: {IMAGE}\n    command: [sleep, '{seconds}']\n"


async def listed(api: LiveApp, name: str) -> list[dict[str, Any]]:
    response = await api.client.get("/api/v1/services", params={"search": name, "limit": 500})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    items: list[dict[str, Any]] = response.json()["items"]
    return [s for s in items if s["name"] == name]


async def wait_list(
    api: LiveApp, name: str, predicate: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Poll the (cached) list for at most 2 s."""
    deadline = time.monotonic() + 2
    while True:
        items = await listed(api, name)
        if predicate(items):
            return items
        assert time.monotonic() < deadline, f"list never matched: {items}"
        await asyncio.sleep(0.05)


async def test_cached_list_follows_create_edit_deploy_kill_and_delete(
    services_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    assert await listed(services_api, service_name) == []
    assert await listed(services_api, service_name) == []  # now served from the cache

    created = await services_api.client.post(
        "/api/v1/services", json={"name": service_name, "compose": sleeper(3600)}
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    [item] = await wait_list(services_api, service_name, lambda items: len(items) == 1)
    assert item["status"] == "not_deployed"
    assert item["revision"] == 1

    assert (await act(services_api, sid, "deploy"))["status"] == "succeeded"
    [item] = await wait_list(
        services_api,
        service_name,
        lambda items: items[0]["deployed_revision"] == 1 and items[0]["status"] == "running",
    )
    assert item["active_job"] is None
    assert item["containers_running"] == 1

    edited = await services_api.client.put(
        f"/api/v1/services/{sid}", json={"compose": sleeper(3601), "description": "edited"}
    )
    assert edited.status_code == 200, edited.text
    [item] = await wait_list(services_api, service_name, lambda items: items[0]["revision"] == 2)
    assert item["description"] == "edited"
    assert item["drift"] is True

    docker_client.containers.get(f"{service_name}-app-1").kill()
    await wait_list(services_api, service_name, lambda items: items[0]["status"] == "stopped")

    assert (await act(services_api, sid, "delete"))["status"] == "succeeded"
    await wait_list(services_api, service_name, lambda items: items == [])


async def test_cached_list_equals_a_fresh_build(services_api: LiveApp) -> None:
    first = await services_api.client.get("/api/v1/services", params={"limit": 500})
    services_api.runtime.service_views._lists.clear()
    fresh = await services_api.client.get("/api/v1/services", params={"limit": 500})
    again = await services_api.client.get("/api/v1/services", params={"limit": 500})
    assert first.json() == fresh.json() == again.json()


async def test_logged_out_token_is_refused_at_once(services_api: LiveApp) -> None:
    tokens = await services_api.login()
    headers = services_api.bearer(tokens["access_token"])
    for _ in range(2):  # the second is answered from the principal cache
        assert (
            await services_api.client.get("/api/v1/auth/me", headers=headers)
        ).status_code == 200
    logout = await services_api.client.post("/api/v1/auth/logout", headers=headers)
    assert logout.status_code in (200, 204), logout.text
    response = await services_api.client.get("/api/v1/services", headers=headers)
    assert_error(response, 401, "session_ended")
