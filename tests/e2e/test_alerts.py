"""The live dashboard and the alerts UI in a real browser against a real server.

- A service stopped from the CLI (`dockyard service stop`) updates the dashboard's hero
  stats and activity feed without a reload (realtime events; its polling is 30 s).
- The alert rule editor: condition kinds with their fields, scope, channels; saving it.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot, sign_in

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


@pytest.fixture
def admin_client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.base_url, timeout=60) as client:
        token = client.post(
            "/api/v1/auth/login",
            json={"email": live_server.admin_email, "password": live_server.admin_password},
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def wait_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


@pytest.fixture
def running_service(admin_client: httpx.Client) -> Iterator[dict[str, Any]]:
    name = f"e2e-alert-{secrets.token_hex(3)}"
    compose = (
        f"services:\n  app:\n    image: {IMAGE}\n    command: [sleep, '3600']\n"
        "    stop_grace_period: 1s\n    labels:\n      io.dockyard.test: '1'\n"
    )
    created = admin_client.post("/api/v1/services", json={"name": name, "compose": compose})
    assert created.status_code == 201, created.text
    service: dict[str, Any] = created.json()
    job = admin_client.post(f"/api/v1/services/{service['id']}/deploy").json()["job"]
    assert wait_job(admin_client, job["id"])["status"] == "succeeded"
    deadline = time.monotonic() + 20
    while admin_client.get(f"/api/v1/services/{service['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    yield service
    job = admin_client.post(f"/api/v1/services/{service['id']}/delete").json()["job"]
    wait_job(admin_client, job["id"])


def running_of(text: str) -> tuple[int, int]:
    match = re.search(r"(\d+)/(\d+)", text)
    assert match, text
    return int(match.group(1)), int(match.group(2))


def test_dashboard_updates_live_when_a_service_is_stopped_from_the_cli(
    page: Page,
    live_server: LiveServer,
    admin_client: httpx.Client,
    running_service: dict[str, Any],
    tmp_path: Path,
) -> None:
    sign_in(page, live_server)
    hero = page.get_by_test_id("hero-services-running")
    expect(hero).to_contain_text(re.compile(r"\d+/\d+"), timeout=15_000)
    expect(page.get_by_test_id("dashboard-charts")).to_be_visible()
    expect(page.get_by_test_id("dashboard-cost")).to_contain_text("Usage cost, last 7 days")
    summary = admin_client.get("/api/v1/dashboard/summary").json()
    running, total = summary["services_running"], summary["services_total"]
    expect(hero).to_contain_text(f"{running}/{total}")

    token = admin_client.headers["Authorization"].split(" ", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update(HOME=str(tmp_path), DOCKYARD_SERVER=live_server.base_url, DOCKYARD_TOKEN=token)
    started = time.monotonic()
    result = subprocess.run(
        ["dockyard", "service", "stop", running_service["name"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # No reload: the realtime socket invalidates the summary (its own polling is 30 s).
    expect(hero).to_contain_text(f"{running - 1}/{total}", timeout=10_000)
    assert time.monotonic() - started < 25
    feed = page.get_by_test_id("recent-activity")
    expect(feed).to_contain_text("service.stop", timeout=10_000)
    page.mouse.move(0, 0)  # no chart tooltip in the screenshot
    page.wait_for_timeout(500)
    shot(page, "dashboard-live")


def test_alert_rule_editor(page: Page, live_server: LiveServer, admin_client: httpx.Client) -> None:
    channel_name = f"ops-hook-{secrets.token_hex(2)}"
    channel = admin_client.post(
        "/api/v1/alert-channels",
        json={
            "name": channel_name,
            "type": "webhook",
            "config": {"url": "http://127.0.0.1:9/hook", "secret": "s3cret-value"},
        },
    )
    assert channel.status_code == 201, channel.text
    sign_in(page, live_server)
    expect(page.get_by_test_id("hero-services-running")).to_be_visible(timeout=15_000)
    page.goto(f"{live_server.base_url}/alerts/channels")
    row = page.get_by_test_id(f"channel-row-{channel_name}")
    expect(row).to_contain_text("webhook")
    expect(row).to_contain_text("secret")
    expect(page.locator("body")).not_to_contain_text("s3cret-value")

    page.get_by_test_id("tab-rules").click()
    page.get_by_test_id("rule-new").click()
    editor = page.get_by_test_id("rule-editor")
    expect(editor).to_be_visible()
    rule_name = f"CPU hot {secrets.token_hex(2)}"
    editor.get_by_label("Name").fill(rule_name)
    editor.get_by_label("Condition").select_option("host_cpu")
    expect(editor).to_contain_text("metrics are not collected yet")
    editor.get_by_label("Threshold (%)").fill("85")
    editor.get_by_label("For (seconds)").fill("300")
    editor.get_by_test_id(f"rule-channel-{channel_name}").check()
    shot(page, "alert-rule-editor")
    # An out-of-range threshold is refused in the form; nothing is saved.
    editor.get_by_label("Threshold (%)").fill("150")
    editor.get_by_test_id("rule-save").click()
    expect(editor).to_be_visible()
    assert editor.get_by_label("Threshold (%)").evaluate("el => !el.checkValidity()")
    assert not any(
        r["name"] == rule_name for r in admin_client.get("/api/v1/alert-rules").json()["items"]
    )
    # A server-side refusal is explained in the form (a name already taken).
    taken = admin_client.post(
        "/api/v1/alert-rules",
        json={"name": f"{rule_name}-x", "condition": {"kind": "node_offline"}},
    ).json()
    editor.get_by_label("Name").fill(taken["name"])
    editor.get_by_label("Threshold (%)").fill("85")
    editor.get_by_test_id("rule-save").click()
    expect(editor.get_by_test_id("rule-error")).to_contain_text("exists")
    admin_client.delete(f"/api/v1/alert-rules/{taken['id']}")
    editor.get_by_label("Name").fill(rule_name)
    editor.get_by_label("Threshold (%)").fill("85")
    editor.get_by_test_id("rule-save").click()
    expect(editor).to_be_hidden()
    rule_row = page.get_by_test_id(f"rule-row-{rule_name}")
    expect(rule_row).to_contain_text("Host CPU above 85%")
    expect(rule_row).to_contain_text("300s")
    expect(rule_row).to_contain_text(channel_name)
    shot(page, "alert-rules")
    rules = admin_client.get("/api/v1/alert-rules").json()["items"]
    saved = next(r for r in rules if r["name"] == rule_name)
    assert saved["condition"] == {"kind": "host_cpu", "threshold_pct": 85.0}
    assert saved["for_s"] == 300
    assert saved["channels"] == [channel.json()["id"]]
    admin_client.delete(f"/api/v1/alert-rules/{saved['id']}")
    admin_client.delete(f"/api/v1/alert-channels/{channel.json()['id']}")
