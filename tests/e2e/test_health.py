"""Health checks in a real browser: the status page, the create dialog per kind, run now,
a failing check, and the detail page with its latency chart and history."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot, sign_in

LIVE = 30_000


@pytest.fixture
def target() -> Iterator[str]:
    """A loopback HTTP server answering `dockyard ok` on /ok and 503 elsewhere."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/ok"
            body = b"dockyard ok" if ok else b"unavailable"
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _api(server: LiveServer) -> httpx.Client:
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": server.admin_email, "password": server.admin_password},
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def test_health_status_page_and_detail(page: Page, live_server: LiveServer, target: str) -> None:
    api = _api(live_server)
    for check in api.get("/api/v1/health-checks").json()["items"]:
        api.delete(f"/api/v1/health-checks/{check['id']}")
    sign_in(page, live_server)
    expect(page).not_to_have_url(re.compile(r"/login"), timeout=LIVE)
    page.goto(f"{live_server.base_url}/health")
    expect(page.get_by_text("No health checks yet")).to_be_visible(timeout=LIVE)

    # Create an HTTP check through the dialog.
    page.get_by_test_id("check-add").click()
    dialog = page.get_by_test_id("check-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("check-name").fill("Storefront")
    dialog.get_by_test_id("check-url").fill(f"{target}/ok")
    dialog.get_by_test_id("check-keyword").fill("dockyard ok")
    dialog.get_by_test_id("check-interval").fill("3600")
    shot(page, "health-create-http")
    # The fields follow the kind.
    dialog.get_by_test_id("check-kind").select_option("tcp")
    expect(dialog.get_by_test_id("check-host")).to_be_visible()
    expect(dialog.get_by_test_id("check-url")).to_have_count(0)
    shot(page, "health-create-tcp")
    dialog.get_by_test_id("check-kind").select_option("http")
    dialog.get_by_test_id("check-url").fill(f"{target}/ok")
    dialog.get_by_test_id("check-save").click()
    expect(dialog).to_be_hidden(timeout=LIVE)

    row = page.get_by_test_id("check-row").filter(has_text="Storefront")
    expect(row.get_by_test_id("check-status")).to_have_attribute("data-status", "unknown")
    row.get_by_test_id("check-run").click()
    expect(row.get_by_test_id("check-status")).to_have_attribute("data-status", "up", timeout=LIVE)
    expect(row.get_by_test_id("uptime-24h")).to_have_text("100 %")

    # A failing check made through the API shows down with its reason.
    failing = api.post(
        "/api/v1/health-checks",
        json={
            "name": "Payments API",
            "kind": "http",
            "target": {"url": f"{target}/broken"},
            "interval_s": 3600,
            "timeout_s": 5,
            "retries": 2,
        },
    ).json()
    for _ in range(2):
        api.post(f"/api/v1/health-checks/{failing['id']}/run")
    tcp_port = int(target.rsplit(":", 1)[1])
    tcp = api.post(
        "/api/v1/health-checks",
        json={
            "name": "Cache port",
            "kind": "tcp",
            "target": {"host": "127.0.0.1", "port": tcp_port},
            "interval_s": 3600,
            "timeout_s": 5,
        },
    ).json()
    api.post(f"/api/v1/health-checks/{tcp['id']}/run")
    page.reload()
    bad = page.get_by_test_id("check-row").filter(has_text="Payments API")
    expect(bad.get_by_test_id("check-status")).to_have_attribute(
        "data-status", "down", timeout=LIVE
    )
    expect(bad).to_contain_text("status 503, expected 200-399")
    expect(page.get_by_test_id("health-down-count")).to_have_text("1")
    expect(page.get_by_test_id("health-up-count")).to_have_text("2")
    shot(page, "health-status-page")

    # Detail: more runs for the chart, then the page.
    storefront = next(
        c for c in api.get("/api/v1/health-checks").json()["items"] if c["name"] == "Storefront"
    )
    for _ in range(6):
        api.post(f"/api/v1/health-checks/{storefront['id']}/run")
    row.get_by_role("link", name="Storefront").click()
    expect(page.get_by_test_id("check-title")).to_have_text("Storefront", timeout=LIVE)
    expect(page.get_by_test_id("history-row")).to_have_count(7, timeout=LIVE)
    expect(page.get_by_test_id("latency-chart").locator(".recharts-line")).to_be_visible()
    page.get_by_test_id("check-run").click()
    expect(page.get_by_test_id("history-row")).to_have_count(8, timeout=LIVE)
    shot(page, "health-detail")

    # Edit keeps the kind and shows the stored values.
    page.get_by_test_id("check-edit").click()
    dialog = page.get_by_test_id("check-dialog")
    expect(dialog.get_by_test_id("check-kind")).to_be_disabled()
    expect(dialog.get_by_test_id("check-keyword")).to_have_value("dockyard ok")
    dialog.get_by_test_id("check-remediation").select_option("restart_container")
    expect(dialog.get_by_test_id("check-remediation-service")).to_be_visible()
    shot(page, "health-edit-remediation")
    api.close()
