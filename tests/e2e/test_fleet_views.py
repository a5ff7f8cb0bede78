"""Fleet views in a real browser: the Containers table (filters, an offline node's badge), a
container's page (inspect summary, masked secrets, last log lines) and the Log search page
(streamed, highlighted results)."""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import PHONE, LiveServer, shot, sign_in

LIVE = 30_000
IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


@dataclass
class Setup:
    mark: str
    running: str  # container names
    exited: str
    node_name: str


def _api(server: LiveServer) -> httpx.Client:
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": server.admin_email, "password": server.admin_password},
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


@pytest.fixture
def setup(live_server: LiveServer) -> Iterator[Setup]:
    suffix = secrets.token_hex(3)
    mark = f"e2emark-{suffix}"
    script = f"echo {mark} started; echo other line; echo ERROR {mark} boom; exec sleep 3600"
    engine = docker.DockerClient(
        base_url=os.environ.get("DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"),
        version="auto",
    )
    api = _api(live_server)
    made = []
    node_id = None
    try:
        running = engine.containers.run(
            IMAGE,
            ["sh", "-c", script],
            name=f"dockyard-test-fleet-{suffix}",
            labels={"io.dockyard.test": "1"},
            environment={"API_TOKEN": "e2e-secret-value", "MODE": "demo"},
            detach=True,
        )
        made.append(running)
        exited = engine.containers.run(
            IMAGE,
            ["sh", "-c", f"echo {mark} finished; exit 2"],
            name=f"dockyard-test-fleet-done-{suffix}",
            labels={"io.dockyard.test": "1"},
            detach=True,
        )
        made.append(exited)
        exited.wait(timeout=30)
        deadline = time.monotonic() + 20
        while b"boom" not in running.logs():
            assert time.monotonic() < deadline, "the container never logged"
            time.sleep(0.2)
        # An agent node whose agent never connects: offline, so listed as unavailable.
        created = api.post("/api/v1/nodes", json={"name": f"e2e-offline-{suffix}"})
        assert created.status_code == 201, created.text
        node_id = created.json()["id"]
        yield Setup(mark, running.name, exited.name, created.json()["name"])
    finally:
        for container in made:
            container.remove(force=True)
        if node_id is not None:
            api.delete(f"/api/v1/nodes/{node_id}")
        api.close()
        engine.close()


def _shot(page: Page, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.locator("[data-sonner-toast]")).to_have_count(0, timeout=LIVE)
    shot(page, name)


def test_containers_page_and_detail(page: Page, live_server: LiveServer, setup: Setup) -> None:
    sign_in(page, live_server)
    page.get_by_test_id("nav-containers").click()
    expect(page).to_have_url(re.compile(r"/containers$"))
    row = page.locator(f'[data-testid="container-row"][data-container="{setup.running}"]')
    expect(row).to_be_visible(timeout=LIVE)
    expect(row.get_by_test_id("container-state")).to_have_attribute("data-state", "running")
    badge = page.get_by_test_id("unavailable-nodes")
    expect(badge).to_be_visible(timeout=LIVE)
    expect(page.get_by_test_id("unavailable-nodes-notice")).to_contain_text(setup.node_name)

    page.get_by_test_id("containers-search").fill("dockyard-test-fleet")
    expect(page).to_have_url(re.compile(r"[?&]q=dockyard-test-fleet"))
    expect(page.get_by_test_id("containers-clear-filters")).to_be_visible()
    expect(page.get_by_test_id("container-row")).to_have_count(2, timeout=LIVE)
    _shot(page, "fleet-containers")

    page.get_by_test_id("containers-state-filter").select_option("exited")
    expect(page.get_by_test_id("container-row")).to_have_count(1, timeout=LIVE)
    exited = page.locator(f'[data-testid="container-row"][data-container="{setup.exited}"]')
    expect(exited.get_by_test_id("container-state")).to_contain_text("Exited (2)")
    page.get_by_test_id("containers-clear-filters").click()
    expect(page.get_by_test_id("containers-search")).to_have_value("")

    page.get_by_test_id("containers-search").fill(setup.running)
    expect(page.get_by_test_id("container-row")).to_have_count(1, timeout=LIVE)
    page.get_by_test_id("container-name-link").click()
    expect(page).to_have_url(re.compile(r"/containers/\d+/[0-9a-f]{64}$"))
    expect(page.get_by_test_id("container-title")).to_have_text(setup.running)
    env = page.get_by_test_id("container-env")
    expect(env).to_contain_text("API_TOKEN")
    expect(env).to_contain_text("********")
    expect(env).not_to_contain_text("e2e-secret-value")
    expect(env).to_contain_text("demo")
    logs = page.get_by_test_id("container-logs")
    expect(logs.get_by_test_id("log-line")).to_have_count(3, timeout=LIVE)
    expect(logs).to_contain_text(f"ERROR {setup.mark} boom")
    _shot(page, "fleet-container-detail")

    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.base_url}/containers?q=dockyard-test-fleet")
    expect(page.get_by_test_id("container-row").first).to_be_visible(timeout=LIVE)
    _shot(page, "fleet-containers-phone")


def test_log_search_page(browser: Browser, live_server: LiveServer, setup: Setup) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    try:
        sign_in(page, live_server)
        page.get_by_test_id("nav-logs").click()
        expect(page).to_have_url(re.compile(r"/logs$"))
        page.get_by_test_id("log-search-query").fill(setup.mark)
        page.get_by_test_id("log-search-range").select_option("15m")
        page.get_by_test_id("log-search-submit").click()
        results = page.get_by_test_id("search-result")
        expect(results).to_have_count(3, timeout=LIVE)
        expect(page.get_by_test_id("search-status")).to_contain_text("3 matches", timeout=LIVE)
        # The matched text is highlighted in each line.
        marks = page.locator('[data-testid="search-result"] .bg-amber-300')
        expect(marks).to_have_count(3)
        expect(marks.first).to_have_text(setup.mark)
        # The offline node is reported, not fatal.
        expect(page.get_by_test_id("search-node-errors")).to_contain_text(setup.node_name)
        _shot(page, "fleet-log-search")

        # Regex mode; the URL keeps the search, so a reload runs it again.
        page.get_by_test_id("log-search-regex").click()
        page.get_by_test_id("log-search-query").fill(f"error {setup.mark} (boom|bang)")
        page.get_by_test_id("log-search-submit").click()
        expect(results).to_have_count(1, timeout=LIVE)
        expect(results.first).to_contain_text("boom")
        page.reload()
        expect(results).to_have_count(1, timeout=LIVE)

        # A bad regex is refused with the server's message.
        page.get_by_test_id("log-search-query").fill("(a+)+")
        page.get_by_test_id("log-search-submit").click()
        expect(page.get_by_test_id("search-error")).to_contain_text("Nested quantifiers")
        _shot(page, "fleet-log-search-error")
    finally:
        context.close()
