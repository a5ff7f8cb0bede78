"""Service metrics tab in a real browser: the server's own collector samples a busybox
service; the tab shows CPU, memory, network and block I/O charts and switches range."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import remove_compose_project
from tests.e2e.conftest import LiveServer, shot, sign_in

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


@pytest.fixture
def project(live_server: LiveServer, docker_client: Any) -> Iterator[str]:
    name = f"e2e-metrics-{secrets.token_hex(3)}"
    yield name
    # The e2e server is shared and other tests count its services: delete ours again.
    with _api(live_server) as client:
        for item in client.get("/api/v1/services", params={"search": name}).json()["items"]:
            if item["name"] == name:
                _delete_service(live_server, item["id"])
    remove_compose_project(docker_client, name)


def _api(server: LiveServer) -> httpx.Client:
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": server.admin_email, "password": server.admin_password},
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def _delete_service(server: LiveServer, sid: int) -> None:
    """Remove the service again: the e2e server is shared, other tests count services."""
    with _api(server) as client:
        job = client.post(f"/api/v1/services/{sid}/delete").json()["job"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if client.get(f"/api/v1/jobs/{job['id']}").json()["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)


def test_service_metrics_tab(page: Page, live_server: LiveServer, project: str) -> None:
    compose = (
        f"services:\n  app:\n    image: {IMAGE}\n"
        "    command: [sh, -c, 'while :; do seq 1 20000 > /dev/null; sleep 1; done']\n"
        "    stop_grace_period: 1s\n    labels:\n      io.dockyard.test: '1'\n"
    )
    with _api(live_server) as client:
        created = client.post("/api/v1/services", json={"name": project, "compose": compose})
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        deploy = client.post(f"/api/v1/services/{sid}/deploy")
        assert deploy.status_code == 202, deploy.text
        # The server samples the local node every 10 s: wait for two samples of the service.
        deadline = time.monotonic() + 90
        points: list[Any] = []
        while time.monotonic() < deadline:
            points = client.get(f"/api/v1/metrics/services/{sid}").json().get("points", [])
            if len(points) >= 2:
                break
            time.sleep(2)
        assert len(points) >= 2, points
        assert points[-1]["containers"] == 1
        assert points[-1]["mem_used"] > 0

    sign_in(page, live_server)
    # The dashboard's fleet CPU/memory card has the local node's samples.
    fleet = page.get_by_test_id("fleet-metrics")
    expect(fleet.locator("svg").first).to_be_visible(timeout=15_000)
    expect(fleet).to_contain_text("reporting")
    shot(page, "dashboard-fleet-metrics")
    page.goto(f"{live_server.base_url}/services/{sid}/metrics")
    panel = page.get_by_test_id("service-metrics")
    expect(panel).to_be_visible()
    for chart in ("cpu", "memory", "network", "blockio"):
        expect(panel.get_by_test_id(f"metrics-chart-{chart}").locator("svg").first).to_be_visible()
    expect(page.get_by_test_id("metrics-tier")).to_contain_text("raw samples, 10 s points")
    expect(panel).to_contain_text("sum of 1 container")
    shot(page, "service-metrics")
    page.get_by_test_id("metrics-range-24h").click()
    expect(page.get_by_test_id("metrics-tier")).to_contain_text("5 min points")
    expect(panel.get_by_test_id("metrics-chart-cpu")).to_be_visible()
