"""Container terminal and file browser in a real browser."""

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


def wait_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.3)


@pytest.fixture
def service(live_server: LiveServer, docker_client: Any) -> Iterator[int]:
    name = f"e2e-term-{secrets.token_hex(3)}"
    client = httpx.Client(base_url=live_server.base_url, timeout=30)
    token = client.post(
        "/api/v1/auth/login",
        json={"email": live_server.admin_email, "password": live_server.admin_password},
    ).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    compose = (
        f"services:\n  box:\n    image: {IMAGE}\n    command: [sleep, '3600']\n"
        "    stop_grace_period: 1s\n    labels:\n      io.dockyard.test: '1'\n"
    )
    created = client.post("/api/v1/services", json={"name": name, "compose": compose})
    assert created.status_code == 201, created.text
    sid = int(created.json()["id"])
    deploy = client.post(f"/api/v1/services/{sid}/deploy")
    assert deploy.status_code == 202, deploy.text
    assert wait_job(client, deploy.json()["job"]["id"])["status"] == "succeeded"
    try:
        yield sid
    finally:
        deleted = client.post(f"/api/v1/services/{sid}/delete")
        if deleted.status_code == 202:
            wait_job(client, deleted.json()["job"]["id"])
        client.close()
        remove_compose_project(docker_client, name)


def test_terminal_and_files_tabs(page: Page, live_server: LiveServer, service: int) -> None:
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    page.goto(f"{live_server.base_url}/services/{service}/terminal")
    tab = page.get_by_test_id("terminal-tab")
    expect(tab).to_be_visible()
    page.get_by_test_id("terminal-connect").click()
    expect(page.get_by_test_id("terminal-status")).to_have_text("Connected", timeout=15_000)
    screen = page.get_by_test_id("terminal-screen")
    screen.click()
    page.keyboard.type("echo dock$((6*7))yard\n")
    expect(screen).to_contain_text("dock42yard", timeout=10_000)
    shot(page, "service-terminal")
    page.get_by_test_id("terminal-disconnect").click()
    expect(page.get_by_test_id("terminal-status")).to_have_text("Disconnected", timeout=10_000)

    page.get_by_test_id("tab-files").click()
    expect(page.get_by_test_id("files-tab")).to_be_visible()
    page.locator('[data-testid="file-row"][data-name="etc"] button').first.click()
    expect(page.get_by_test_id("files-breadcrumb")).to_contain_text("etc")
    row = page.locator('[data-testid="file-row"][data-name="hostname"]')
    expect(row).to_be_visible(timeout=10_000)
    shot(page, "service-files")
    row.locator("button").first.click()
    editor = page.get_by_test_id("file-editor")
    expect(editor).to_be_visible()
    assert editor.input_value().strip() != ""
    shot(page, "service-files-editor")
