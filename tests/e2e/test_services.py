"""Services in a real browser: create from compose, deploy, live status, logs, edit, diff."""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import remove_compose_project
from tests.e2e.conftest import PHONE, LiveServer, shot, sign_in

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
LIVE = 30_000  # ms: deploys pull nothing but wait for healthchecks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


HOSTILE_LOG_LINE = (
    "printf '\\033[31mred alert\\033[0m <script>window.__pwned=1</script> <b>bold?</b>\\n'"
)


def compose_text(port: int, greeting: str = "hello") -> str:
    # The log line carries markup and ANSI colours: the UI must show it as inert text.
    return f"""services:
  web:
    image: {IMAGE}
    command:
      - sh
      - -c
      - {HOSTILE_LOG_LINE}; exec httpd -f -p 80 -h /www
    stop_grace_period: 1s
    environment:
      GREETING: {greeting}
    ports:
      - "{port}:80"
"""


@pytest.fixture
def project(docker_client: Any) -> Iterator[str]:
    name = f"e2e-{secrets.token_hex(3)}"
    yield name
    remove_compose_project(docker_client, name)


def test_create_deploy_logs_edit_redeploy_and_diff(
    page: Page, live_server: LiveServer, project: str
) -> None:
    port = free_port()
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    page.get_by_test_id("nav-services").click()
    expect(page.get_by_test_id("services-empty")).to_be_visible()
    shot(page, "services-empty")

    page.get_by_test_id("create-service-button").click()
    page.get_by_test_id("service-form-name").fill(project)
    page.get_by_test_id("create-mode-compose").click()
    page.get_by_test_id("compose-editor").fill(compose_text(port))
    expect(page.get_by_test_id("validation-issues")).to_have_count(0)
    shot(page, "service-create-compose")
    page.get_by_test_id("create-and-deploy-submit").click()

    # The status turns running by itself (WebSocket events), no reload.
    status = page.get_by_test_id("service-status").first
    expect(status).to_contain_text(re.compile("running", re.I), timeout=LIVE)
    assert httpx.get(f"http://127.0.0.1:{port}/").text.strip() == "dockyard-test v1"
    expect(page.get_by_test_id("container-row").first).to_contain_text("running")
    shot(page, "service-overview")

    page.get_by_test_id("tab-logs").click()
    line = page.get_by_test_id("log-line").filter(has_text="red alert").first
    expect(line).to_be_visible(timeout=LIVE)
    text = line.inner_text()
    assert "<script>window.__pwned=1</script>" in text  # shown as text...
    assert "[31m" not in text  # ...with the colour codes interpreted, not printed
    assert page.evaluate("window.__pwned") is None  # ...and never executed
    assert line.locator("script").count() == 0
    assert line.locator("b").count() == 0
    shot(page, "service-logs")

    page.get_by_test_id("tab-definition").click()
    page.get_by_test_id("definition-view-yaml").click()
    editor = page.get_by_test_id("compose-editor")
    expect(editor).to_contain_text("GREETING")
    editor.fill(editor.input_value().replace("GREETING: hello", "GREETING: bonjour"))
    page.get_by_test_id("definition-comment").fill("French greeting")
    page.get_by_test_id("definition-save").click()
    expect(page.get_by_test_id("definition-saved")).to_be_visible()
    shot(page, "service-definition-saved")
    page.get_by_test_id("definition-deploy").click()
    expect(page.get_by_test_id("drift-badge")).to_have_count(0, timeout=LIVE)
    expect(status).to_contain_text(re.compile("running", re.I), timeout=LIVE)

    page.get_by_test_id("tab-revisions").click()
    rows = page.get_by_test_id("revision-row")
    expect(rows).to_have_count(2)
    expect(page.get_by_test_id("revision-deployed")).to_be_visible()
    selects = page.get_by_test_id("revision-select")
    selects.nth(0).click()
    selects.nth(1).click()
    diff = page.get_by_test_id("revision-diff")
    expect(diff).to_contain_text("bonjour")
    expect(diff).to_contain_text("hello")
    shot(page, "service-revisions-diff")

    page.get_by_test_id("tab-jobs").click()
    expect(page.get_by_test_id("job-row")).to_have_count(2)
    shot(page, "service-jobs")

    page.get_by_test_id("nav-services").click()
    row = page.get_by_test_id("service-row").filter(has_text=project)
    expect(row).to_contain_text(re.compile("running", re.I))
    shot(page, "services-list")


def test_services_on_a_phone(browser: Browser, live_server: LiveServer, project: str) -> None:
    token = httpx.post(
        f"{live_server.base_url}/api/v1/auth/login",
        json={"email": live_server.admin_email, "password": live_server.admin_password},
    ).json()["access_token"]
    created = httpx.post(
        f"{live_server.base_url}/api/v1/services",
        json={"name": project, "compose": compose_text(free_port())},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
        page.goto(f"{live_server.base_url}/services")
        expect(page.get_by_test_id("service-row").filter(has_text=project)).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the services page is {overflow}px wider than a phone"
        shot(page, "services-phone")
        page.get_by_test_id("service-row").filter(has_text=project).get_by_test_id(
            "service-name-link"
        ).click()
        expect(page.get_by_test_id("service-status").first).to_contain_text(
            re.compile("not deployed", re.I)
        )
        shot(page, "service-phone")
    finally:
        context.close()
