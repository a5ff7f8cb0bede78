"""The Configuration page in a real browser: export, import with a dry-run diff, then
apply; snapshots, their diff and a rollback with confirmation."""

from __future__ import annotations

import re
import secrets
import time

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot, sign_in

LIVE = 30_000


def _api(server: LiveServer) -> httpx.Client:
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": server.admin_email, "password": server.admin_password},
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _hostnames(api: httpx.Client) -> set[str]:
    return {h["hostname"] for h in api.get("/api/v1/hosts", params={"limit": 500}).json()["items"]}


def _wait_snapshot_after(api: httpx.Client, after: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = api.get("/api/v1/config/snapshots").json()["items"]
        if items and items[0]["id"] > after:
            return int(items[0]["id"])
        time.sleep(0.3)
    raise AssertionError("no new snapshot")


def test_import_dry_run_diff_and_snapshots(page: Page, live_server: LiveServer) -> None:
    suffix = secrets.token_hex(3)
    host = f"cfg-{suffix}.example.com"
    api = _api(live_server)
    latest = api.get("/api/v1/config/snapshots").json()["items"]
    before_id = latest[0]["id"] if latest else 0
    # A change through the normal API records a snapshot (source api).
    kept = f"kept-{suffix}.example.com"
    assert (
        api.post("/api/v1/hosts", json={"hostname": kept, "address": "10.2.0.1"}).status_code == 201
    )
    base_id = _wait_snapshot_after(api, before_id)

    sign_in(page, live_server)
    page.get_by_test_id("nav-config").click()
    expect(page).to_have_url(re.compile(r"/configuration$"))
    expect(page.get_by_test_id("config-import")).to_be_visible(timeout=LIVE)

    doc = (
        "version: 1\nkinds:\n  hosts:\n"
        f"    - hostname: {host}\n      address: 10.2.0.9\n      tags: [e2e]\n"
    )
    page.get_by_test_id("config-import-text").fill(doc)
    page.get_by_test_id("config-preview").click()
    plan = page.get_by_test_id("plan-changes")
    expect(plan).to_be_visible(timeout=LIVE)
    rows = plan.get_by_test_id("change-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(host)
    expect(rows.first).to_contain_text("added")
    shot(page, "config-import-dry-run")
    assert host not in _hostnames(api)  # the dry run applied nothing

    # An invalid document names the path and applies nothing.
    page.get_by_test_id("config-import-text").fill(doc + "      colour: red\n")
    page.get_by_test_id("config-preview").click()
    expect(page.get_by_test_id("import-error")).to_contain_text("kinds.hosts[0].colour")
    shot(page, "config-import-error")

    page.get_by_test_id("config-import-text").fill(doc)
    page.get_by_test_id("config-preview").click()
    page.get_by_test_id("config-apply").click()
    expect(page.get_by_text("Applied 1 change(s)")).to_be_visible(timeout=LIVE)
    assert host in _hostnames(api)

    # Snapshots: the import is the newest; compare it with the one before.
    table = page.get_by_test_id("snapshots-table")
    expect(table.get_by_test_id("snapshot-row").first).to_contain_text("import", timeout=LIVE)
    page.get_by_test_id("diff-from").select_option(str(base_id))
    diff = page.get_by_test_id("snapshot-diff")
    expect(diff.get_by_test_id("change-row").filter(has_text=host)).to_contain_text("added")
    expect(page.get_by_test_id("snapshot-diff-text")).to_contain_text("address: 10.2.0.9")
    shot(page, "config-snapshots-diff")

    # Roll back to the snapshot before the import: the imported host goes, the other stays.
    row = table.locator(f"[data-snapshot-id='{base_id}']")
    row.get_by_test_id("snapshot-rollback").click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_contain_text(f"#{base_id}")
    shot(page, "config-rollback-confirm")
    dialog.get_by_role("button", name="Roll back").click()
    expect(page.get_by_text(re.compile(r"Rolled back: \d+ change"))).to_be_visible(timeout=LIVE)
    expect(table.get_by_test_id("snapshot-row").first).to_contain_text("rollback", timeout=LIVE)
    names = _hostnames(api)
    assert host not in names
    assert kept in names
    shot(page, "config-after-rollback")
