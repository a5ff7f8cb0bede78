"""Users in a real browser: an admin creates a tenant, who then sees only their own services."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, LiveServer, shot, sign_in

PASSWORD = "Tenant-E2E-Password-7731"
LIVE = 15_000


def api_token(server: LiveServer, email: str, password: str) -> str:
    response = httpx.post(
        f"{server.base_url}/api/v1/auth/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def create_service(server: LiveServer, token: str, name: str) -> int:
    response = httpx.post(
        f"{server.base_url}/api/v1/services",
        json={
            "name": name,
            "definition": {
                "services": {
                    "web": {"image": "dockyard-test/busybox:1", "labels": {"io.dockyard.test": "1"}}
                }
            },
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
def created(live_server: LiveServer) -> Iterator[list[int]]:
    """Service ids to remove afterwards (never deployed: only their rows exist)."""
    ids: list[int] = []
    yield ids
    token = api_token(live_server, live_server.admin_email, live_server.admin_password)
    for sid in ids:
        httpx.post(
            f"{live_server.base_url}/api/v1/services/{sid}/delete",
            headers={"Authorization": f"Bearer {token}"},
        )


def test_admin_creates_a_tenant_who_sees_only_their_services(
    browser: Browser, page: Page, live_server: LiveServer, created: list[int]
) -> None:
    suffix = secrets.token_hex(3)
    email = f"tenant-{suffix}@example.com"

    # The admin creates the user on the Users page.
    sign_in(page, live_server)
    page.get_by_test_id("nav-users").click()
    expect(page.get_by_test_id("users-table")).to_be_visible(timeout=LIVE)
    page.get_by_test_id("user-add").click()
    page.get_by_test_id("user-email").fill(email)
    page.get_by_test_id("user-display-name").fill("Tenant Tess")
    page.get_by_test_id("user-role").select_option("user")
    page.get_by_test_id("user-password").fill(PASSWORD)
    shot(page, "users-create-dialog")
    page.get_by_test_id("user-save").click()
    row = page.locator(f'[data-testid="user-row"][data-email="{email}"]')
    expect(row).to_be_visible(timeout=LIVE)
    expect(row).to_contain_text("user")
    shot(page, "users-list")

    # The admin can see the roles; the built-in ones are locked.
    page.get_by_test_id("nav-roles").click()
    expect(page.locator('[data-testid="role-card"][data-role="user"]')).to_contain_text(
        "own services only", timeout=LIVE
    )
    shot(page, "roles-list")
    # A custom role from the permission picker, inheriting from viewer.
    role_name = f"deployer-{suffix}"
    page.get_by_test_id("role-add").click()
    page.get_by_test_id("role-name").fill(role_name)
    page.get_by_test_id("role-parent").select_option("viewer")
    expect(page.get_by_test_id("perm-services:read")).to_be_disabled()  # inherited
    page.get_by_test_id("perm-services:deploy").check()
    shot(page, "roles-create-dialog")
    page.get_by_test_id("role-save").click()
    card = page.locator(f'[data-testid="role-card"][data-role="{role_name}"]')
    expect(card).to_contain_text("inherits viewer", timeout=LIVE)
    expect(card).to_contain_text("deploy")

    # One service each, through the API.
    admin_token = api_token(live_server, live_server.admin_email, live_server.admin_password)
    tenant_token = api_token(live_server, email, PASSWORD)
    admin_service = f"adm-{suffix}"
    tenant_service = f"mine-{suffix}"
    admin_id = create_service(live_server, admin_token, admin_service)
    created.append(admin_id)
    created.append(create_service(live_server, tenant_token, tenant_service))

    # The tenant, in a second browser context.
    context = browser.new_context(viewport=DESKTOP)
    try:
        tenant: Any = context.new_page()
        tenant.goto(f"{live_server.base_url}/login")
        tenant.get_by_test_id("login-email").fill(email)
        tenant.get_by_test_id("login-password").fill(PASSWORD)
        tenant.get_by_test_id("login-submit").click()
        expect(tenant.get_by_test_id("nav-services")).to_be_visible(timeout=LIVE)
        tenant.wait_for_load_state("networkidle")
        # Nothing the tenant lands on asks for what it may not read.
        expect(tenant.get_by_text("You do not have")).to_have_count(0)
        shot(tenant, "users-tenant-dashboard")
        tenant.get_by_test_id("nav-services").click()
        rows = tenant.get_by_test_id("service-row")
        expect(rows.filter(has_text=tenant_service)).to_have_count(1, timeout=LIVE)
        expect(rows).to_have_count(1)
        expect(tenant.get_by_text(admin_service)).to_have_count(0)
        # Administration pages are not offered to a tenant.
        expect(tenant.get_by_test_id("nav-services")).to_be_visible()
        expect(tenant.get_by_test_id("nav-users")).to_have_count(0)
        expect(tenant.get_by_test_id("nav-roles")).to_have_count(0)
        expect(tenant.get_by_test_id("nav-audit")).to_have_count(0)
        shot(tenant, "users-tenant-services")
        # The admin's service does not exist as far as the tenant can tell.
        tenant.goto(f"{live_server.base_url}/services/{admin_id}")
        expect(tenant.get_by_text("does not exist").first).to_be_visible(timeout=LIVE)
        shot(tenant, "users-tenant-foreign-service")
    finally:
        context.close()

    # Meanwhile the admin sees both.
    page.get_by_test_id("nav-services").click()
    rows = page.get_by_test_id("service-row")
    expect(rows.filter(has_text=admin_service)).to_have_count(1, timeout=LIVE)
    expect(rows.filter(has_text=tenant_service)).to_have_count(1)
