"""The dashboard's Schedules card in a real browser, fed by a real schedule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot, sign_in

# Only on 29 February: the running server must not fire it during the test.
LEAP_DAY = {"frequency": "cron", "cron": "0 0 29 2 *", "timezone": "Europe/Berlin"}


@pytest.fixture
def cleanup_schedule(live_server: LiveServer) -> Iterator[dict[str, Any]]:
    """A node cleanup policy (which registers the schedule `node:<id>:cleanup`), disabled after."""
    with httpx.Client(base_url=live_server.base_url, timeout=30) as client:
        token = client.post(
            "/api/v1/auth/login",
            json={"email": live_server.admin_email, "password": live_server.admin_password},
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        node = client.get("/api/v1/nodes").json()["items"][0]
        url = f"/api/v1/nodes/{node['id']}/cleanup-policy"
        before = client.get(url).json()
        body = {"enabled": True, "targets": ["build_cache"], "schedule": LEAP_DAY}
        response = client.put(url, json=body)
        assert response.status_code == 200, response.text
        listed = client.get("/api/v1/schedules").json()["items"]
        schedule = next(s for s in listed if s["key"] == f"node:{node['id']}:cleanup")
        yield schedule
        restore = {
            "enabled": before["enabled"],
            "targets": before["targets"],
            "schedule": before["schedule"],
        }
        assert client.put(url, json=restore).status_code == 200


def test_dashboard_lists_schedules(
    page: Page, live_server: LiveServer, cleanup_schedule: dict[str, Any]
) -> None:
    assert cleanup_schedule["next_run_at"].startswith("2028-02-28T23:00:00")
    sign_in(page, live_server)
    card = page.get_by_test_id("schedules-card")
    expect(card).to_be_visible(timeout=15_000)
    row = page.get_by_test_id(f"schedule-row-{cleanup_schedule['key']}")
    expect(row).to_be_visible()
    expect(row).to_contain_text("node.scheduled_cleanup")
    expect(row).to_contain_text("cron 0 0 29 2 * Europe/Berlin")
    expect(row.get_by_test_id(f"schedule-run-{cleanup_schedule['key']}")).to_be_visible()
    card.scroll_into_view_if_needed()
    shot(page, "dashboard-schedules")
