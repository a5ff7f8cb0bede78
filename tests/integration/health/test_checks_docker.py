"""Health checks against a real busybox httpd service: HTTP up and keyword down after
retries, TCP, Docker state from the cache, events on transitions, remediation that restarts
the container and stops at the hourly limit, and the background runner."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import LiveApp, audit_rows, make_settings, running_app
from tests.integration.services.conftest import act, free_port, wait_job, wait_status

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


@pytest.fixture(scope="module")
async def health_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveApp]:
    settings = make_settings(
        tmp_path_factory.mktemp("health-data"),
        None,
        default_publish_ip="127.0.0.1",
        deploy_wait_timeout_s=60,
    )
    async with running_app(settings) as test_app:
        test_app.client.headers.update(test_app.bearer(await test_app.token()))
        yield test_app


def httpd(port: int) -> str:
    return f"""
services:
  web:
    image: {IMAGE}
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    stop_grace_period: 1s
    labels:
      io.dockyard.test: "1"
    ports:
      - "{port}:80"
"""


async def deployed(api: LiveApp, name: str, port: int) -> int:
    created = await api.client.post("/api/v1/services", json={"name": name, "compose": httpd(port)})
    assert created.status_code == 201, created.text
    sid: int = created.json()["id"]
    assert (await act(api, sid, "deploy"))["status"] == "succeeded"
    await wait_status(api, sid, lambda s: s["status"] == "running")
    return sid


async def new_check(api: LiveApp, **body: Any) -> int:
    payload = {"interval_s": 3600, "timeout_s": 5, "retries": 1, "enabled": False, **body}
    response = await api.client.post("/api/v1/health-checks", json=payload)
    assert response.status_code == 201, response.text
    check_id: int = response.json()["id"]
    return check_id


async def run(api: LiveApp, check_id: int) -> dict[str, Any]:
    response = await api.client.post(f"/api/v1/health-checks/{check_id}/run")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_http_tcp_docker_and_transition_events(
    health_api: LiveApp, service_name: str
) -> None:
    api = health_api
    port = free_port()
    sid = await deployed(api, service_name, port)
    url = f"http://127.0.0.1:{port}/"

    async with api.runtime.events.subscribe() as subscription:
        good = await new_check(
            api, name="page", kind="http", target={"url": url, "keyword": "dockyard-test v1"}
        )
        assert (await run(api, good))["status"] == "up"

        wrong = await new_check(
            api,
            name="wrong keyword",
            kind="http",
            target={"url": url, "keyword": "no such words"},
            retries=2,
        )
        first = await run(api, wrong)
        assert first["status"] == "down"
        assert first["check_status"] == "unknown"
        assert first["error"] == "keyword 'no such words' not found in the body"
        second = await run(api, wrong)
        assert second["check_status"] == "down"
        assert second["transition"] == "down"

        await api.client.patch(
            f"/api/v1/health-checks/{wrong}",
            json={"target": {"url": url, "keyword": "dockyard-test"}},
        )
        back = await run(api, wrong)
        assert back["check_status"] == "up"
        assert back["transition"] == "up"

        events = []
        while not subscription.queue.empty():
            event = subscription.queue.get_nowait()
            if event.type.startswith("health.check."):
                events.append(event)
    assert [e.type for e in events] == ["health.check.down", "health.check.up"]
    down = events[0].data
    assert down["check_id"] == wrong
    assert down["name"] == "wrong keyword"
    assert down["kind"] == "http"
    assert down["target"]["url"] == url
    assert "not found in the body" in down["error"]
    transitions = [
        r.action
        for r in await audit_rows(api, target_type="health_check", target_id=str(wrong))
        if r.action in ("health_check.down", "health_check.up")
    ]
    assert transitions == ["health_check.down", "health_check.up"]  # only transitions

    tcp = await new_check(api, name="tcp", kind="tcp", target={"host": "127.0.0.1", "port": port})
    assert (await run(api, tcp))["status"] == "up"
    closed = await new_check(
        api, name="closed", kind="tcp", target={"host": "127.0.0.1", "port": free_port()}
    )
    refused = await run(api, closed)
    assert refused["status"] == "down"
    assert "connect failed" in refused["error"]

    docker = await new_check(api, name="docker", kind="docker", target={"service_id": sid})
    assert (await run(api, docker))["status"] == "up"
    detail = (await api.client.get(f"/api/v1/health-checks/{docker}")).json()
    assert detail["target"]["node_id"] >= 1
    by_name = await new_check(
        api, name="by name", kind="docker", target={"container": f"{service_name}-web-1"}
    )
    assert (await run(api, by_name))["status"] == "up"

    assert (await act(api, sid, "stop"))["status"] == "succeeded"
    await wait_status(api, sid, lambda s: s["status"] == "stopped")
    stopped = await run(api, docker)
    assert stopped["status"] == "down"
    assert stopped["error"] == f"{service_name}-web-1 is exited"
    assert (await run(api, tcp))["status"] == "down"


async def test_remediation_restarts_then_stops_at_hourly_limit(
    health_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    api = health_api
    port = free_port()
    sid = await deployed(api, service_name, port)
    container = docker_client.containers.get(f"{service_name}-web-1")
    started_before = container.attrs["State"]["StartedAt"]

    check = await new_check(
        api,
        name="missing page",
        kind="http",
        target={"url": f"http://127.0.0.1:{port}/missing"},  # busybox httpd answers 404
        remediation={
            "action": "restart_container",
            "after_failures": 1,
            "max_per_hour": 1,
            "service_id": sid,
        },
    )
    first = await run(api, check)
    assert first["status"] == "down"
    assert first["error"] == "status 404, expected 200-399"
    assert first["remediation"].startswith(f"remediation: restart_container of {service_name}")
    job_id = first["remediation"].rsplit("job ", 1)[1].rstrip(")")
    job = await wait_job(api, job_id)
    assert job["status"] == "succeeded", job
    assert job["kind"] == "service.restart"
    assert job["actor_type"] == "system"
    assert job["actor_label"] == f"health-check:{check}"
    container.reload()
    assert container.attrs["State"]["StartedAt"] != started_before  # restarted

    for _ in range(2):
        again = await run(api, check)
        assert again["status"] == "down"
        assert again["remediation"] == "remediation skipped: hourly limit"
    history = (await api.client.get(f"/api/v1/health-checks/{check}/history")).json()["items"]
    assert [h["remediation"] for h in history][:2] == ["remediation skipped: hourly limit"] * 2
    container.reload()
    assert container.attrs["State"]["StartedAt"] != started_before
    restarts = [
        j
        for j in (await api.client.get("/api/v1/jobs", params={"limit": 100})).json()["items"]
        if j["kind"] == "service.restart" and j.get("service_id") == sid
    ]
    assert len(restarts) == 1
    rows = await audit_rows(api, action="health_check.remediation", target_id=str(check))
    assert [r.outcome for r in rows] == ["success", "denied", "denied"]
    assert rows[1].details["skipped"] == "remediation skipped: hourly limit"


async def test_background_runner_probes_on_its_interval(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = make_settings(tmp_path_factory.mktemp("runner-data"), None)
    async with running_app(settings) as api:
        api.client.headers.update(api.bearer(await api.token()))
        check = await new_check(
            api,
            name="tcp to the app's database? no: to a closed port",
            kind="tcp",
            target={"host": "127.0.0.1", "port": free_port()},
            interval_s=5,
            timeout_s=1,
            enabled=True,
        )
        deadline = time.monotonic() + 25
        while True:
            page = (await api.client.get(f"/api/v1/health-checks/{check}/history")).json()
            if page["total"] >= 2:
                break
            assert time.monotonic() < deadline, page
            await asyncio.sleep(0.5)
        times = sorted(item["checked_at"] for item in page["items"][:2])
        from datetime import datetime

        gap = (datetime.fromisoformat(times[1]) - datetime.fromisoformat(times[0])).total_seconds()
        assert 3.5 <= gap <= 6.5, gap  # once per interval, not in a burst
        detail = (await api.client.get(f"/api/v1/health-checks/{check}")).json()
        assert detail["status"] == "down"
