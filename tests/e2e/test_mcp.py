"""MCP servers and usage analytics in a real browser: the list, the detail page (tools with
schemas, tool changes, health history, usage) and the analytics page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.integration.mcp_registry.conftest import FixtureServer

LIVE = 30_000


@pytest.fixture
def mcp_target() -> Iterator[FixtureServer]:
    server = FixtureServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _api(server: LiveServer) -> httpx.Client:
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": server.admin_email, "password": server.admin_password},
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _events(server: str, now: datetime) -> list[dict[str, object]]:
    events = []
    tools = ["add", "echo", "shout"]
    for i in range(240):
        ts = now - timedelta(hours=i % 72, minutes=i % 50)
        events.append(
            {
                "id": f"e2e-{server}-{i}",
                "timestamp": ts.isoformat(),
                "user": f"user{i % 4}@example.com",
                "mcp_server": server,
                "tool": tools[i % 3] if i % 5 else "add",
                "duration_ms": 20 + (i * 37) % 900,
                "success": i % 17 != 0,
                "error": None if i % 17 else "upstream timeout",
                "tokens_in": 100 + i,
                "tokens_out": 50 + i,
                "tokens_cached": i % 10,
                "cost_estimate": round(0.001 * (1 + i % 7), 4),
            }
        )
    return events


def test_mcp_detail_and_analytics(
    page: Page, live_server: LiveServer, mcp_target: FixtureServer
) -> None:
    api = _api(live_server)
    for s in api.get("/api/v1/mcp-servers").json()["items"]:
        api.delete(f"/api/v1/mcp-servers/{s['id']}")
    created = api.post(
        "/api/v1/mcp-servers",
        json={"name": "fixture-tools", "url": mcp_target.url, "tags": ["e2e", "tools"]},
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    other = api.post(
        "/api/v1/mcp-servers",
        json={"name": "search-api", "url": "http://127.0.0.1:9/mcp", "enabled": False},
    )
    assert other.status_code == 201, other.text
    assert api.post(f"/api/v1/mcp-servers/{sid}/check").json()["healthy"] is True
    mcp_target.stop()
    mcp_target.start(extra_tool=True)
    assert len(api.post(f"/api/v1/mcp-servers/{sid}/check").json()["tools"]) == 3
    now = datetime.now(UTC)
    events = _events("fixture-tools", now) + _events("search-api", now)[:120]
    stored = api.post("/api/v1/usage/events", json={"events": events})
    assert stored.status_code == 200, stored.text
    assert stored.json()["stored"] == 360

    sign_in(page, live_server)
    expect(page).not_to_have_url(re.compile(r"/login"), timeout=LIVE)
    page.goto(f"{live_server.base_url}/mcp")
    row = page.get_by_test_id("mcp-row").filter(has_text="fixture-tools")
    expect(row.get_by_test_id("mcp-status")).to_have_attribute("data-status", "up", timeout=LIVE)
    expect(row.get_by_test_id("mcp-tool-count")).to_have_text("3")
    shot(page, "mcp-list")

    row.get_by_test_id("mcp-link").click()
    expect(page.get_by_test_id("mcp-title")).to_have_text("fixture-tools", timeout=LIVE)
    expect(page.get_by_test_id("mcp-tool")).to_have_count(3, timeout=LIVE)
    page.get_by_test_id("mcp-tool").filter(has_text="add").get_by_role("button").click()
    expect(page.get_by_test_id("mcp-tool-schema")).to_contain_text('"a"')
    change = page.get_by_test_id("mcp-tool-change")
    expect(change).to_have_count(1)
    expect(change).to_have_attribute("data-change", "added")
    expect(change).to_contain_text("shout")
    shot(page, "mcp-detail-tools")

    page.get_by_test_id("tab-health").click()
    # Two manual checks (the periodic loop may have added one more).
    expect(page.get_by_test_id("mcp-history-row").nth(1)).to_be_visible(timeout=LIVE)
    expect(page.get_by_test_id("mcp-health-chart").locator("svg.recharts-surface")).to_be_visible()
    shot(page, "mcp-detail-health")

    page.get_by_test_id("tab-usage").click()
    expect(page.get_by_test_id("stat-queries")).to_have_text("240", timeout=LIVE)
    expect(page.get_by_test_id("tool-row")).to_have_count(3)
    shot(page, "mcp-detail-usage")

    page.goto(f"{live_server.base_url}/analytics")
    expect(page.get_by_test_id("stat-queries")).to_have_text("360", timeout=LIVE)
    expect(page.get_by_test_id("user-row")).to_have_count(4)
    expect(
        page.get_by_test_id("chart-cost-by-server").locator(".recharts-bar-rectangle").first
    ).to_be_visible()
    page.get_by_test_id("range-1").click()
    expect(page.get_by_test_id("stat-queries")).not_to_have_text("360", timeout=LIVE)
    page.get_by_test_id("range-7").click()
    expect(page.get_by_test_id("stat-queries")).to_have_text("360", timeout=LIVE)
    with page.expect_download() as download:
        page.get_by_test_id("export-tools").click()
    path = download.value.path()
    assert path is not None
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("tool,mcp_server,queries")
    assert "fixture-tools" in text
    shot(page, "analytics")
