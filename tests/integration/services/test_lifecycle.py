"""Services on the real engine: deploy with dependencies, lifecycle, redeploy, delete."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from tests.conftest import LiveApp, assert_error, audit_rows
from tests.integration.services.conftest import act, free_port, http_get, wait_status

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


def two_tier(port: int, greeting: str = "hello") -> str:
    """A web server that waits for a healthy database, with a named volume."""
    return f"""
services:
  db:
    image: {IMAGE}
    command: ["sh", "-c", "echo db ready; touch /tmp/ready; exec sleep 3600"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 10
    volumes:
      - data:/data
  web:
    image: {IMAGE}
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    stop_grace_period: 1s
    environment:
      GREETING: {greeting}
    ports:
      - "{port}:80"
    depends_on:
      db:
        condition: service_healthy
volumes:
  data: {{}}
"""


async def create(api: LiveApp, name: str, compose: str, **extra: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/api/v1/services", json={"name": name, "compose": compose, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def container_ids(service: dict[str, Any]) -> dict[str, str]:
    return {c["service"]: c["id"] for c in service["containers"]}


async def test_deploy_serve_stop_start_restart_delete(
    services_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    port = free_port()
    service = await create(services_api, service_name, two_tier(port))
    assert service["status"] == "not_deployed"
    sid = service["id"]

    job = await act(services_api, sid, "deploy")
    assert job["status"] == "succeeded", job
    messages = [line["message"] for line in job["lines"]]
    assert "Waiting for db to be healthy" in messages
    # The web container was created only after db was healthy.
    assert messages.index("Waiting for db to be healthy") < next(
        i
        for i, m in enumerate(messages)
        if m.startswith(f"Created and started {service_name}-web-1")
    )
    running = await wait_status(services_api, sid, lambda s: s["status"] == "running")
    assert running["deployed_revision"] == 1
    assert not running["drift"]
    assert {c["service"] for c in running["containers"]} == {"db", "web"}
    assert http_get(port).text.strip() == "dockyard-test v1"

    # Compose-compatible labels, so `docker compose ls/ps` see the project.
    web = docker_client.containers.get(f"{service_name}-web-1")
    assert web.labels["com.docker.compose.project"] == service_name
    assert web.labels["com.docker.compose.service"] == "web"
    assert web.labels["io.dockyard.service-id"] == str(sid)
    assert web.labels["io.dockyard.revision"] == "1"
    assert web.attrs["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"] == "127.0.0.1"

    job = await act(services_api, sid, "stop")
    assert job["status"] == "succeeded", job
    # Reverse dependency order: web stops before db.
    stops = [m["message"] for m in job["lines"] if m["message"].startswith("Stopping")]
    assert stops[0].startswith(f"Stopping {service_name}-web-1")
    await wait_status(services_api, sid, lambda s: s["status"] == "stopped")

    assert (await act(services_api, sid, "start"))["status"] == "succeeded"
    await wait_status(services_api, sid, lambda s: s["status"] == "running")
    assert http_get(port).status_code == 200

    before = container_ids(await wait_status(services_api, sid, lambda s: True))
    assert (await act(services_api, sid, "restart"))["status"] == "succeeded"
    after = await wait_status(services_api, sid, lambda s: s["status"] == "running")
    assert container_ids(after) == before  # restart keeps the containers

    job = await act(services_api, sid, "delete")
    assert job["status"] == "succeeded", job
    assert_error(await services_api.client.get(f"/api/v1/services/{sid}"), 404)
    assert not docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={service_name}"}
    )
    # The project network goes with the service; the named volume is kept unless asked.
    assert not docker_client.networks.list(names=[f"{service_name}_default"])
    assert docker_client.volumes.get(f"{service_name}_data")
    actions = [r.action for r in await audit_rows(services_api, target_id=str(sid))]
    for action in (
        "service.created",
        "service.deploy",
        "service.stop",
        "service.start",
        "service.restart",
        "service.delete",
    ):
        assert action in actions


async def test_delete_with_volumes_needs_confirmation_and_removes_them(
    services_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    service = await create(services_api, service_name, two_tier(free_port()))
    sid = service["id"]
    assert (await act(services_api, sid, "deploy"))["status"] == "succeeded"
    refused = await services_api.client.post(
        f"/api/v1/services/{sid}/delete", json={"remove_volumes": True, "confirm": "wrong"}
    )
    assert_error(refused, 422, "confirmation_required")
    job = await act(services_api, sid, "delete", {"remove_volumes": True, "confirm": service_name})
    assert job["status"] == "succeeded", job
    assert not docker_client.volumes.list(filters={"name": f"{service_name}_data"})


async def test_redeploy_recreates_only_the_changed_container(
    services_api: LiveApp, service_name: str
) -> None:
    port = free_port()
    service = await create(services_api, service_name, two_tier(port))
    sid = service["id"]
    assert (await act(services_api, sid, "deploy"))["status"] == "succeeded"
    before = container_ids(await wait_status(services_api, sid, lambda s: s["status"] == "running"))

    edited = await services_api.client.put(
        f"/api/v1/services/{sid}",
        json={"compose": two_tier(port, greeting="bonjour"), "comment": "new greeting"},
        headers={"If-Match": '"rev-1"'},
    )
    assert edited.status_code == 200, edited.text
    assert edited.headers["ETag"] == '"rev-2"'
    assert edited.json()["drift"] is True

    job = await act(services_api, sid, "deploy")
    assert job["status"] == "succeeded", job
    after = await wait_status(
        services_api, sid, lambda s: s["status"] == "running" and s["deployed_revision"] == 2
    )
    ids = container_ids(after)
    assert ids["db"] == before["db"]
    assert ids["web"] != before["web"]
    assert not after["drift"]
    assert http_get(port).status_code == 200

    # Nothing changed: a redeploy keeps both containers.
    assert (await act(services_api, sid, "deploy"))["status"] == "succeeded"
    again = await wait_status(services_api, sid, lambda s: s["status"] == "running")
    assert container_ids(again) == ids


async def test_failed_deploy_keeps_the_previous_container_running(
    services_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    port = free_port()
    service = await create(services_api, service_name, two_tier(port))
    sid = service["id"]
    assert (await act(services_api, sid, "deploy"))["status"] == "succeeded"
    before = container_ids(await wait_status(services_api, sid, lambda s: s["status"] == "running"))

    # Another program takes the port the new revision wants: its start must fail.
    blocked = free_port()
    squatter = docker_client.containers.run(
        IMAGE,
        ["httpd", "-f", "-p", "80"],
        detach=True,
        ports={"80/tcp": ("127.0.0.1", blocked)},
        labels={"io.dockyard.test": "1", "com.docker.compose.project": service_name},
    )
    try:
        edited = await services_api.client.put(
            f"/api/v1/services/{sid}", json={"compose": two_tier(blocked)}
        )
        assert edited.status_code == 200, edited.text
        job = await act(services_api, sid, "deploy")
        assert job["status"] == "failed"
        assert f"Creating and starting {service_name}-web-1 failed" in job["error"]
        after = await wait_status(services_api, sid, lambda s: s["status"] == "running")
        assert container_ids(after)["web"] == before["web"]
        assert after["deployed_revision"] == 1
        assert http_get(port).status_code == 200
    finally:
        squatter.remove(force=True)


async def test_container_killed_outside_shows_stopped_within_two_seconds(
    services_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    compose = f"services:\n  app:\n    image: {IMAGE}\n    command: [sleep, '3600']\n"
    sid = (await create(services_api, service_name, compose))["id"]
    assert (await act(services_api, sid, "deploy"))["status"] == "succeeded"
    await wait_status(services_api, sid, lambda s: s["status"] == "running")
    docker_client.containers.get(f"{service_name}-app-1").kill()
    started = time.monotonic()
    await wait_status(services_api, sid, lambda s: s["status"] == "stopped", timeout_s=2)
    assert time.monotonic() - started < 2


async def test_logs_of_running_and_stopped_containers_with_tail(
    services_api: LiveApp, service_name: str
) -> None:
    compose = (
        f"services:\n  talker:\n    image: {IMAGE}\n"
        # The pause keeps Docker from logging stderr before the last stdout lines.
        "    command: [sh, -c, 'for i in $$(seq 1 250); do echo line $$i; done; sleep 0.3; "
        "echo oops >&2']\n"
        "    restart: 'no'\n"
    )
    sid = (await create(services_api, service_name, compose))["id"]
    assert (await act(services_api, sid, "deploy"))["status"] == "succeeded"
    await wait_status(services_api, sid, lambda s: s["status"] == "stopped")

    default = (await services_api.client.get(f"/api/v1/services/{sid}/logs")).json()["lines"]
    assert len(default) == 100
    assert default[-1] == {
        "container": f"{service_name}-talker-1",
        "stream": "stderr",
        "ts": default[-1]["ts"],
        "message": "oops",
    }
    assert default[-2]["message"] == "line 250"
    assert default[-2]["stream"] == "stdout"
    five = (await services_api.client.get(f"/api/v1/services/{sid}/logs?tail=5")).json()["lines"]
    assert [line["message"] for line in five] == [
        "line 247",
        "line 248",
        "line 249",
        "line 250",
        "oops",
    ]
    untimed = await services_api.client.get(f"/api/v1/services/{sid}/logs?tail=1&timestamps=false")
    assert untimed.json()["lines"][0]["ts"] is None
    download = await services_api.client.get(f"/api/v1/services/{sid}/logs?tail=2&download=true")
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.text.endswith("oops\n")
    for bad in ("tail=0", "tail=100001", "tail=x"):
        assert_error(await services_api.client.get(f"/api/v1/services/{sid}/logs?{bad}"), 422)


async def test_a_second_operation_while_one_runs_is_a_conflict(
    services_api: LiveApp, service_name: str
) -> None:
    compose = (
        f"services:\n  slow:\n    image: {IMAGE}\n    command: [sleep, '3600']\n"
        "    healthcheck:\n      test: [CMD, 'false']\n      interval: 1s\n      retries: 30\n"
        f"  after:\n    image: {IMAGE}\n    command: [sleep, '3600']\n"
        "    depends_on:\n      slow:\n        condition: service_healthy\n"
    )
    sid = (await create(services_api, service_name, compose))["id"]
    first = await services_api.client.post(f"/api/v1/services/{sid}/deploy")
    assert first.status_code == 202
    second = await services_api.client.post(f"/api/v1/services/{sid}/deploy")
    error = assert_error(second, 409, "job_conflict")
    job_id = first.json()["job"]["id"]
    assert error["details"]["job_id"] == job_id
    # Let the job create its container before the fixture cleans up, or it would create
    # it afterwards and leak it; removing it then fails the job's wait.
    deadline = time.monotonic() + 60
    while True:
        job = (await services_api.client.get(f"/api/v1/jobs/{job_id}")).json()
        if any(line["message"].startswith("Waiting for slow") for line in job["lines"]):
            break
        assert job["status"] in ("queued", "running"), job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.2)
