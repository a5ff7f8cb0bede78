"""The Updates tab in a real browser: history with a rollback, the policy editor, rollback."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import remove_compose_project
from tests.e2e.conftest import LiveServer, shot, sign_in

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/www"]


def env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"{name} is not set: source /run/dockyard-test/env.sh", pytrace=False)
    return value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def engine() -> Iterator[Any]:
    client: Any = docker.DockerClient(base_url=env("DOCKYARD_TEST_DOCKER_HOST"), version="auto")
    yield client
    client.close()


@pytest.fixture
def names(engine: Any) -> Iterator[dict[str, str]]:
    suffix = secrets.token_hex(3)
    made = {
        "service": f"e2e-upd-{suffix}",
        "repo": f"{env('DOCKYARD_TEST_REGISTRY')}/dockyard-test/e2e-upd-{suffix}",
    }
    yield made
    remove_compose_project(engine, made["service"])
    for image in engine.images.list(all=True):
        refs = list(image.tags) + [d.split("@")[0] for d in image.attrs.get("RepoDigests") or []]
        if any(r.startswith((made["repo"], f"dockyard-rollback/{made['service']}-")) for r in refs):
            for tag in image.tags:
                engine.images.remove(tag, force=True)
            with contextlib.suppress(docker.errors.NotFound):
                engine.images.remove(image.id, force=True)


def push(engine: Any, repo: str, base: str, cmd: list[str]) -> str:
    container = engine.containers.create(base, command=["true"], labels={"io.dockyard.test": "1"})
    try:
        image = container.commit(repository=repo, tag="latest", changes=[f"CMD {json.dumps(cmd)}"])
    finally:
        container.remove(force=True)
    out = engine.images.push(repo, tag="latest")
    assert '"error"' not in out, out
    return str(image.id)


def wait_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.3)


def run(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 202, response.text
    return wait_job(client, response.json()["job"]["id"])


def test_updates_tab_history_policy_and_rollback(
    page: Page, live_server: LiveServer, engine: Any, names: dict[str, str]
) -> None:
    repo, name = names["repo"], names["service"]
    v1 = push(engine, repo, env("DOCKYARD_TEST_IMAGE"), HTTPD)
    port = free_port()
    client = httpx.Client(base_url=live_server.base_url, timeout=30)
    token = client.post(
        "/api/v1/auth/login",
        json={"email": live_server.admin_email, "password": live_server.admin_password},
    ).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    compose = (
        f"services:\n  web:\n    image: {repo}:latest\n    stop_grace_period: 1s\n"
        f'    ports:\n      - "{port}:80"\n'
    )
    created = client.post("/api/v1/services", json={"name": name, "compose": compose})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    policy = {"mode": "off", "verify": {"timeout_s": 20, "settle_s": 2}}
    assert client.put(f"/api/v1/services/{sid}/update-policy", json=policy).status_code == 200
    assert run(client, f"/api/v1/services/{sid}/deploy")["status"] == "succeeded"
    push(engine, repo, env("DOCKYARD_TEST_IMAGE_V2"), HTTPD)
    engine.api.tag(v1, repo, "latest")
    assert run(client, f"/api/v1/services/{sid}/update")["status"] == "succeeded"
    push(engine, repo, env("DOCKYARD_TEST_IMAGE_V2"), ["sh", "-c", "exit 1"])
    failed = run(client, f"/api/v1/services/{sid}/update")
    assert failed["status"] == "failed"
    assert failed["result"]["rolled_back"] is True

    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    page.goto(f"{live_server.base_url}/services/{sid}/updates")
    expect(page.get_by_test_id("tab-updates")).to_have_attribute("data-state", "active")
    rows = page.get_by_test_id("update-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-result", "rolled_back")
    expect(rows.nth(0)).to_contain_text("web: exited with code 1")
    expect(rows.nth(1)).to_have_attribute("data-result", "succeeded")
    expect(rows.nth(1)).to_contain_text("sha256:")

    # The policy form refuses a cron with 6 fields before saving, and explains it.
    page.get_by_test_id("policy-mode").select_option("auto")
    page.get_by_test_id("policy-frequency").select_option("cron")
    page.get_by_test_id("policy-cron").fill("0 0 * * * *")
    expect(page.get_by_test_id("error-schedule.cron")).to_contain_text("5 fields")
    expect(page.get_by_test_id("policy-save")).to_be_disabled()
    page.get_by_test_id("policy-frequency").select_option("weekly")
    page.get_by_test_id("policy-time").fill("03:30")
    expect(page.get_by_test_id("error-schedule.weekdays")).to_be_visible()
    page.get_by_test_id("weekday-mon").click()
    page.get_by_test_id("weekday-thu").click()
    page.get_by_test_id("policy-timezone").select_option("Europe/Berlin")
    page.get_by_test_id("policy-save").click()
    expect(page.get_by_test_id("policy-next-run")).to_contain_text("Europe/Berlin")
    saved = client.get(f"/api/v1/services/{sid}/update-policy").json()
    assert saved["mode"] == "auto"
    assert saved["schedule"]["weekdays"] == ["mon", "thu"]
    assert saved["schedule"]["time"] == "03:30"
    assert saved["verify"] == {"timeout_s": 20, "settle_s": 2}
    assert saved["next_run_at"]
    shot(page, "service-updates-tab")

    # Roll back to v1 from the history, through the confirm dialog.
    rows.nth(1).get_by_test_id("rollback-button").click()
    page.get_by_role("button", name="Roll back", exact=True).last.click()
    expect(rows).to_have_count(3, timeout=60_000)
    expect(rows.nth(0)).to_have_attribute("data-result", "succeeded", timeout=60_000)
    expect(rows.nth(0)).to_contain_text("manual rollback")
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text.strip() == "dockyard-test v1"
    shot(page, "service-updates-after-rollback")
    client.post(f"/api/v1/services/{sid}/delete")
    client.close()
