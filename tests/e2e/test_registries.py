"""Registries and update checks in a real browser: credentials, test connection, badges."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot, sign_in

LIVE = 30_000


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} is not set: run scripts/test-env.sh up", pytrace=False)
    return value


@pytest.fixture
def engine() -> Iterator[Any]:
    client = docker.DockerClient(
        base_url=os.environ.get("DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"),
        version="auto",
    )
    yield client
    client.close()


def _push(client: Any, source: str, ref: str) -> str:
    repo, _, tag = ref.rpartition(":")
    client.images.get(source).tag(repo, tag)
    digest = None
    for message in client.api.push(repo, tag=tag, stream=True, decode=True):
        assert "error" not in message, message
        digest = (message.get("aux") or {}).get("Digest", digest)
    assert digest
    return str(digest)


def _api(server: LiveServer) -> httpx.Client:
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": server.admin_email, "password": server.admin_password},
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def test_registry_credentials_and_test_connection(page: Page, live_server: LiveServer) -> None:
    host = _env("DOCKYARD_TEST_AUTH_REGISTRY")
    user = _env("DOCKYARD_TEST_AUTH_REGISTRY_USER")
    password = _env("DOCKYARD_TEST_AUTH_REGISTRY_PASSWORD")
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    page.get_by_test_id("nav-registries").click()
    expect(page).to_have_url(re.compile(r"/registries$"))
    shot(page, "registries-empty")

    page.get_by_test_id("registry-add").click()
    dialog = page.get_by_test_id("registry-dialog")
    dialog.get_by_test_id("registry-name").fill("Local with auth")
    dialog.get_by_test_id("registry-url").fill(f"http://{host}")
    dialog.get_by_test_id("registry-username").fill(user)
    dialog.get_by_test_id("registry-password").fill("not-the-password")
    dialog.get_by_test_id("registry-test").click()
    result = dialog.get_by_test_id("registry-test-result")
    expect(result).to_have_attribute("data-ok", "false")
    expect(result).to_contain_text("refused the credentials")
    shot(page, "registry-dialog-wrong-password")

    dialog.get_by_test_id("registry-password").fill(password)
    dialog.get_by_test_id("registry-test").click()
    expect(result).to_have_attribute("data-ok", "true")
    dialog.get_by_test_id("registry-save").click()
    expect(dialog).to_have_count(0)
    row = page.get_by_test_id("registry-row").filter(has_text="Local with auth")
    expect(row).to_contain_text("stored")
    row.get_by_test_id("registry-row-test").click()
    expect(row.get_by_test_id("registry-test-result")).to_have_attribute("data-ok", "true")
    assert password not in page.content()
    shot(page, "registries-list")

    row.get_by_test_id("registry-delete").click()
    page.get_by_test_id("confirm-submit").click()
    expect(page.get_by_test_id("registry-row").filter(has_text="Local with auth")).to_have_count(0)


def test_check_for_updates_shows_the_digests(
    page: Page, live_server: LiveServer, engine: Any
) -> None:
    registry = _env("DOCKYARD_TEST_REGISTRY")
    name = f"e2e-upd-{secrets.token_hex(3)}"
    ref = f"{registry}/dockyard-test/{name}:latest"
    v1 = _push(engine, _env("DOCKYARD_TEST_IMAGE"), ref)
    compose = (
        f"services:\n  app:\n    image: {ref}\n"
        '    command: ["sh", "-c", "trap \'exit 0\' TERM; while :; do sleep 1; done"]\n'
        "    stop_grace_period: 1s\n"
    )
    with _api(live_server) as api:
        created = api.post("/api/v1/services", json={"name": name, "compose": compose})
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        job = api.post(f"/api/v1/services/{sid}/deploy").json()["job"]["id"]
        deadline = time.monotonic() + 60
        while api.get(f"/api/v1/jobs/{job}").json()["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        try:
            v2 = _push(engine, _env("DOCKYARD_TEST_IMAGE_V2"), ref)
            sign_in(page, live_server)
            expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
            page.goto(f"{live_server.base_url}/services/{sid}")
            expect(page.get_by_test_id("update-available")).to_have_count(0)
            page.get_by_test_id("update-check-open").click()
            panel = page.get_by_test_id("update-check-panel")
            expect(panel).to_contain_text("never checked")
            panel.get_by_test_id("check-updates").click()
            image = panel.get_by_test_id("update-check-image")
            expect(image.get_by_test_id("current-digest")).to_have_text(v1[7:19], timeout=LIVE)
            expect(image.get_by_test_id("remote-digest")).to_have_text(v2[7:19])
            expect(image).to_contain_text("newer")
            expect(page.get_by_test_id("update-available")).to_be_visible(timeout=LIVE)
            shot(page, "service-update-available")
            page.keyboard.press("Escape")
            page.get_by_test_id("nav-services").click()
            row = page.get_by_test_id("service-row").filter(has_text=name)
            expect(row.get_by_test_id("update-available")).to_be_visible()
            shot(page, "services-update-available")
        finally:
            api.post(f"/api/v1/services/{sid}/delete")
            for tag in (ref,):
                with contextlib.suppress(docker.errors.APIError):
                    engine.images.remove(tag, noprune=True)
