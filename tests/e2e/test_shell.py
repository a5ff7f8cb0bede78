"""The UI shell in a real browser: sign-in, dashboard with real engine facts, audit, themes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import docker
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, LiveServer, shot, sign_in, start_server


def _engine_facts() -> dict[str, object]:
    host = os.environ.get("DOCKYARD_TEST_DOCKER_HOST")
    if not host:
        pytest.fail(
            "DOCKYARD_TEST_DOCKER_HOST is not set: run `make test` (scripts/test-env.sh up)."
        )
    client = docker.DockerClient(base_url=host, version="auto")
    try:
        info = client.info()
        return {"version": client.version()["Version"], "images": info["Images"]}
    finally:
        client.close()


def test_wrong_password_is_refused_with_a_message(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, password="not-the-password-at-all")
    error = page.get_by_test_id("login-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("incorrect")
    expect(page).to_have_url(re.compile(r"/login"))
    shot(page, "login-error")


def test_first_run_admin_sees_dashboard_with_real_engine_facts(
    page: Page, live_server: LiveServer
) -> None:
    facts = _engine_facts()
    page.goto(f"{live_server.base_url}/login")
    shot(page, "login")
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    expect(page.get_by_test_id("engine-server-version")).to_contain_text(str(facts["version"]))
    expect(page.get_by_test_id("stat-images")).to_contain_text(str(facts["images"]))
    expect(page.get_by_test_id("stat-containers-total")).to_be_visible()
    shot(page, "dashboard-desktop")


def test_audit_page_shows_the_login_event(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    page.get_by_test_id("nav-audit").click()
    expect(page).to_have_url(re.compile(r"/audit"))
    table = page.get_by_test_id("audit-table")
    expect(table).to_be_visible()
    expect(table).to_contain_text("auth.login.succeeded")
    expect(table).to_contain_text("admin@localhost")
    shot(page, "audit-desktop")

    page.get_by_test_id("audit-filter-action").fill("auth.login.failed")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"action=auth\.login\.failed"))
    rows = page.get_by_test_id("audit-row")
    expect(rows.first).to_contain_text("auth.login.failed")
    for text in rows.all_inner_texts():
        assert "auth.login.succeeded" not in text
    shot(page, "audit-filtered")


def test_phone_width_layout_and_navigation(browser: Browser, live_server: LiveServer) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
        expect(page.get_by_test_id("sidebar")).not_to_be_in_viewport()
        # Nothing may be wider than the screen.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the page is {overflow}px wider than a phone screen"
        shot(page, "dashboard-phone")
        page.get_by_test_id("mobile-menu-button").click()
        expect(page.get_by_test_id("nav-audit")).to_be_visible()
        shot(page, "menu-phone")
        page.get_by_test_id("nav-audit").click()
        expect(page.get_by_text("auth.login.succeeded").first).to_be_visible()
        shot(page, "audit-phone")
    finally:
        context.close()


def test_dark_theme_persists(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    html = page.locator("html")
    page.get_by_test_id("theme-toggle").click()
    page.get_by_test_id("theme-dark").click()
    expect(html).to_have_class(re.compile(r"\bdark\b"))
    page.reload()
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    expect(html).to_have_class(re.compile(r"\bdark\b"))
    shot(page, "dashboard-dark")
    page.get_by_test_id("nav-audit").click()
    expect(page.get_by_test_id("audit-table")).to_be_visible()
    shot(page, "audit-dark")
    page.get_by_test_id("theme-toggle").click()
    page.get_by_test_id("theme-light").click()
    expect(html).not_to_have_class(re.compile(r"\bdark\b"))


def test_pages_not_built_yet_say_so_honestly(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    # Every other section is built (each has its own e2e test); Settings says it is not.
    page.get_by_test_id("nav-settings").click()
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    shot(page, "empty-state")


def test_sign_out_returns_to_login_and_ends_the_session(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(f"{live_server.base_url}/audit")
    expect(page).to_have_url(re.compile(r"/login"))


def test_unreachable_engine_is_shown_clearly(browser: Browser, tmp_path: Path) -> None:
    process, server = start_server(tmp_path, docker_host="unix:///nonexistent/docker.sock")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        sign_in(page, server)
        banner = page.get_by_test_id("engine-unreachable")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("socket does not exist")
        shot(page, "dashboard-engine-unreachable")
    finally:
        context.close()
        process.terminate()
        process.wait(timeout=20)
