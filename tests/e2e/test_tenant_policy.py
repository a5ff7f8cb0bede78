"""Tenancy in a real browser: an admin grants and limits a tenant, who is refused a privileged
container with a readable message naming the field and the rule, and sees their quota."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, LiveServer, shot, sign_in

PASSWORD = "Tenant-Policy-Password-5517"
LIVE = 15_000


def bearer(server: LiveServer, email: str, password: str) -> dict[str, str]:
    response = httpx.post(
        f"{server.base_url}/api/v1/auth/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def api_get(server: LiveServer, headers: dict[str, str], path: str) -> Any:
    response = httpx.get(f"{server.base_url}{path}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_admin_grants_and_limits_a_tenant_who_is_refused_privileged(
    browser: Browser, page: Page, live_server: LiveServer
) -> None:
    suffix = secrets.token_hex(3)
    email = f"policy-{suffix}@example.com"
    admin = bearer(live_server, live_server.admin_email, live_server.admin_password)
    created = httpx.post(
        f"{live_server.base_url}/api/v1/users",
        json={"email": email, "password": PASSWORD, "role": "user", "display_name": "Pat Policy"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    node = api_get(live_server, admin, "/api/v1/nodes?limit=200")["items"][0]

    # The admin gives the tenant a grant and a quota of their own on the Users page.
    sign_in(page, live_server)
    page.get_by_test_id("nav-users").click()
    row = page.locator(f'[data-testid="user-row"][data-email="{email}"]')
    expect(row).to_be_visible(timeout=LIVE)
    row.get_by_test_id("user-access").click()
    dialog = page.get_by_test_id("user-access-dialog")
    expect(dialog.get_by_test_id("grants-empty")).to_be_visible(timeout=LIVE)
    dialog.get_by_test_id("grant-role").select_option("viewer")
    dialog.get_by_test_id("grant-scope-type").select_option("node")
    dialog.get_by_test_id("grant-target").select_option(str(node["id"]))
    dialog.get_by_test_id("grant-add").click()
    grant_row = dialog.locator('[data-testid="grant-row"][data-scope="node"]')
    expect(grant_row).to_contain_text(f"node {node['name']}", timeout=LIVE)
    expect(grant_row).to_contain_text("viewer")
    grants = api_get(live_server, admin, f"/api/v1/users/{user_id}/grants")["items"]
    assert [(g["role"], g["scope_type"], g["scope_id"]) for g in grants] == [
        ("viewer", "node", node["id"])
    ]
    shot(page, "tenant-access-grants")

    dialog.get_by_test_id("access-tab-quota").click()
    expect(dialog.get_by_test_id("quota-usage")).to_contain_text("0 of 10", timeout=LIVE)
    dialog.get_by_test_id("quota-max_services").fill("2.5")
    dialog.get_by_test_id("quota-save").click()
    expect(dialog.get_by_text("Enter a whole number.")).to_be_visible()
    dialog.get_by_test_id("quota-max_services").fill("3")
    dialog.get_by_test_id("quota-max_memory_gib").fill("1.5")
    dialog.get_by_test_id("quota-save").click()
    services_row = dialog.locator('[data-testid="quota-usage-row"][data-key="services"]')
    expect(services_row).to_contain_text("0 of 3", timeout=LIVE)
    expect(dialog.locator('[data-testid="quota-usage-row"][data-key="memory"]')).to_contain_text(
        "of 1.5 GiB"
    )
    quota = api_get(live_server, admin, f"/api/v1/users/{user_id}/quota")
    assert quota["custom"] is True
    assert (quota["own"]["max_services"], quota["own"]["max_memory_bytes"]) == (3, 1.5 * 1024**3)
    assert quota["own"]["max_cpus"] is None
    shot(page, "tenant-access-quota")

    # The grant can be taken back from the same dialog.
    dialog.get_by_test_id("access-tab-grants").click()
    dialog.get_by_test_id("grant-remove").click()
    expect(dialog.get_by_test_id("grants-empty")).to_be_visible(timeout=LIVE)
    assert api_get(live_server, admin, f"/api/v1/users/{user_id}/grants")["items"] == []
    page.keyboard.press("Escape")

    # Roles say which of them require MFA (a server setting, shown read-only).
    page.get_by_test_id("nav-roles").click()
    note = page.get_by_test_id("roles-mfa-note")
    expect(note).to_contain_text("DOCKYARD_MFA_REQUIRED_ROLES", timeout=LIVE)
    expect(note).to_contain_text("no role")
    expect(page.get_by_test_id("role-mfa-required")).to_have_count(0)
    shot(page, "roles-mfa-note")

    # The tenant, in a second browser context.
    context = browser.new_context(viewport=DESKTOP)
    try:
        tenant: Any = context.new_page()
        tenant.goto(f"{live_server.base_url}/login")
        tenant.get_by_test_id("login-email").fill(email)
        tenant.get_by_test_id("login-password").fill(PASSWORD)
        tenant.get_by_test_id("login-submit").click()
        expect(tenant.get_by_test_id("nav-services")).to_be_visible(timeout=LIVE)

        # Their own quota and usage on the Account page.
        tenant.goto(f"{live_server.base_url}/account")
        card = tenant.get_by_test_id("my-quota-card")
        expect(card.locator('[data-key="services"]')).to_contain_text("0 of 3", timeout=LIVE)
        shot(tenant, "tenant-account-quota")

        # A privileged container through the compose editor is refused, readably.
        name = f"priv-{suffix}"
        tenant.goto(f"{live_server.base_url}/services/new?mode=compose")
        tenant.get_by_test_id("service-form-name").fill(name)
        tenant.get_by_test_id("compose-editor").fill(
            "services:\n"
            "  web:\n"
            "    image: dockyard-test/busybox:1\n"
            "    privileged: true\n"
            "    labels:\n"
            '      io.dockyard.test: "1"\n'
        )
        tenant.get_by_test_id("create-submit").click()
        issues = tenant.get_by_test_id("validation-issues")
        expect(issues).to_contain_text("Not allowed for your account", timeout=LIVE)
        issue = issues.get_by_test_id("validation-issue").filter(has_text="services.web.privileged")
        expect(issue).to_have_count(1)
        expect(issue).to_contain_text("privileged containers are for admins only")
        expect(issue.get_by_test_id("issue-rule")).to_have_text("rule: privileged")
        expect(issue).to_contain_text("L4")  # the line of `privileged: true`
        # Still on the create page: nothing was created.
        assert tenant.url.endswith("/services/new?mode=compose")
        shot(tenant, "tenant-policy-violation")
    finally:
        context.close()

    names = {s["name"] for s in api_get(live_server, admin, "/api/v1/services?limit=500")["items"]}
    assert name not in names
    denied = api_get(
        live_server, admin, f"/api/v1/audit?action=service.policy.denied&actor={user_id}"
    )
    assert denied["items"], denied
