"""The template gallery in a real browser: categories, search, the detail drawer, import
of a template, and the deploy dialog with its generated, validated form."""

from __future__ import annotations

import json
import os
import re
import secrets

import httpx
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import DESKTOP, LiveServer, shot, sign_in

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
SECRET = "E2e-Secret-Token-4242"


def _admin_headers(server: LiveServer) -> dict[str, str]:
    response = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": server.admin_email, "password": server.admin_password},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_gallery_import_and_deploy_dialog(browser: Browser, live_server: LiveServer) -> None:
    suffix = secrets.token_hex(3)
    slug = f"e2e-web-{suffix}"
    service = f"e2e-tpl-{suffix}"
    page = browser.new_context(viewport=DESKTOP).new_page()
    try:
        sign_in(page, live_server)
        page.get_by_test_id("nav-templates").click()
        expect(page).to_have_url(re.compile(r"/templates$"))
        grid = page.get_by_test_id("template-grid")
        expect(grid.get_by_test_id("template-card-postgres")).to_be_visible()
        expect(grid.get_by_test_id("template-card-static-web")).to_be_visible()
        shot(page, "templates-gallery")

        # Category chips and search narrow the gallery.
        page.get_by_test_id("category-databases").click()
        expect(grid.locator("[data-testid^=template-card-]")).to_have_count(2)
        page.get_by_test_id("category-All").click()
        page.get_by_test_id("template-search").fill("kuma")
        expect(grid.locator("[data-testid^=template-card-]")).to_have_count(1)
        expect(grid.get_by_test_id("template-card-uptime-kuma")).to_be_visible()
        page.get_by_test_id("template-search").fill("")

        # The detail drawer shows the documentation.
        grid.get_by_test_id("template-card-postgres").get_by_role("button", name="Details").click()
        drawer = page.get_by_test_id("template-drawer")
        expect(drawer.get_by_test_id("template-docs")).to_contain_text("never shown")
        shot(page, "templates-drawer")
        page.keyboard.press("Escape")
        expect(drawer).to_be_hidden()

        # Import a template (Dockyard format) that uses the local test image.
        document = {
            "name": f"E2E web {suffix}",
            "slug": slug,
            "category": "testing",
            "icon": "globe",
            "description": "The test image's web server",
            "variables": [
                {"name": "HOST_PORT", "label": "Host port", "type": "number", "required": True},
                {
                    "name": "GREETING",
                    "label": "Greeting",
                    "required": True,
                    "pattern": "[a-z]+",
                    "description": "Lower-case letters",
                },
                {"name": "API_TOKEN", "label": "API token", "type": "secret", "required": True},
                {
                    "name": "MODE",
                    "type": "select",
                    "default": "fast",
                    "options": [
                        {"label": "Fast", "value": "fast"},
                        {"label": "Safe", "value": "safe"},
                    ],
                },
            ],
            "compose": (
                f"services:\n  web:\n    image: {IMAGE}\n"
                '    command: ["httpd", "-f", "-p", "80", "-h", "/www"]\n'
                "    environment:\n      GREETING: ${GREETING}\n      API_TOKEN: ${API_TOKEN}\n"
                "      MODE: ${MODE}\n"
                '    ports:\n      - "127.0.0.1:${HOST_PORT}:80"\n'
                "    labels:\n      io.dockyard.test: '1'\n"
            ),
        }
        page.get_by_test_id("template-import-open").click()
        dialog = page.get_by_test_id("template-import-dialog")
        dialog.get_by_test_id("template-import-format").select_option("dockyard")
        dialog.get_by_test_id("template-import-content").fill(json.dumps(document, indent=2))
        dialog.get_by_test_id("template-import-submit").click()
        expect(dialog.get_by_test_id("template-import-result")).to_contain_text(f"E2E web {suffix}")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        card = grid.get_by_test_id(f"template-card-{slug}")
        expect(card).to_be_visible()

        # The deploy dialog: a form from the variables, validated before sending.
        card.get_by_test_id(f"deploy-{slug}").click()
        deploy = page.get_by_test_id("deploy-dialog")
        expect(deploy).to_be_visible()
        expect(deploy.get_by_test_id("var-API_TOKEN")).to_have_attribute("type", "password")
        expect(deploy.get_by_test_id("var-MODE")).to_have_value("fast")
        deploy.get_by_test_id("deploy-name").fill(service)
        deploy.get_by_test_id("var-GREETING").fill("Hello!")
        deploy.get_by_test_id("deploy-submit").click()
        expect(deploy.get_by_text("Must match [a-z]+")).to_be_visible()
        expect(deploy.get_by_text("Required").first).to_be_visible()
        shot(page, "templates-deploy-invalid")

        deploy.get_by_test_id("var-HOST_PORT").fill("18765")
        deploy.get_by_test_id("var-GREETING").fill("hello")
        deploy.get_by_test_id("var-API_TOKEN").fill(SECRET)
        deploy.get_by_test_id("var-MODE").select_option("safe")
        deploy.get_by_test_id("deploy-submit").click()
        expect(page).to_have_url(re.compile(r"/services/\d+"))
        expect(page.get_by_text(service).first).to_be_visible()
        shot(page, "templates-deployed-service")
        service_id = int(re.search(r"/services/(\d+)", page.url).group(1))  # type: ignore[union-attr]
        expect(page.get_by_test_id("template-update")).to_have_count(0)

        # A new template version is offered on the service's page with a diff.
        headers = _admin_headers(live_server)
        found = httpx.get(
            f"{live_server.base_url}/api/v1/templates", params={"search": slug}, headers=headers
        ).json()["items"]
        newer = {**document, "version": "2", "compose": document["compose"] + "    init: true\n"}
        bumped = httpx.put(
            f"{live_server.base_url}/api/v1/templates/{found[0]['id']}", json=newer, headers=headers
        )
        assert bumped.status_code == 200, bumped.text
        page.reload()
        banner = page.get_by_test_id("template-update")
        expect(banner).to_contain_text("1 → 2")
        banner.get_by_role("button", name="Show diff").click()
        expect(banner.locator("pre")).to_contain_text("+    init: true")
        expect(banner).not_to_contain_text(SECRET)
        shot(page, "templates-update-offer")
    finally:
        page.context.close()

    headers = _admin_headers(live_server)
    detail = httpx.get(f"{live_server.base_url}/api/v1/services/{service_id}", headers=headers)
    env = detail.json()["definition"]["services"]["web"]["environment"]
    assert env["GREETING"] == "hello"
    assert env["MODE"] == "safe"
    offer = httpx.get(
        f"{live_server.base_url}/api/v1/services/{service_id}/template-update", headers=headers
    ).json()
    assert offer["template_slug"] == slug
    assert offer["update_available"] is True
    # Clean up: the service was never deployed, so deleting it removes no container.
    removed = httpx.post(
        f"{live_server.base_url}/api/v1/services/{service_id}/delete", headers=headers
    )
    assert removed.status_code == 202, removed.text
