"""The web SSH terminal in a real browser against the test sshd: create and assign a key
credential in the host drawer, confirm the host key on first use, run a command."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
from playwright.sync_api import Browser, expect

from tests.conftest import require_env
from tests.e2e.conftest import DESKTOP, LiveServer, shot, sign_in


def test_terminal_to_the_test_host(browser: Browser, live_server: LiveServer) -> None:
    ssh_host = require_env("DOCKYARD_TEST_SSH_HOST")
    ssh_port = int(require_env("DOCKYARD_TEST_SSH_PORT"))
    ssh_user = require_env("DOCKYARD_TEST_SSH_USER")
    key_text = Path(require_env("DOCKYARD_TEST_SSH_KEY")).read_text()
    hostname = f"sshbox-{secrets.token_hex(3)}.example.com"

    with httpx.Client(base_url=live_server.base_url, timeout=30) as http:
        token = http.post(
            "/api/v1/auth/login",
            json={"email": live_server.admin_email, "password": live_server.admin_password},
        ).json()["access_token"]
        created = http.post(
            "/api/v1/hosts",
            json={"hostname": hostname, "address": ssh_host, "ssh_port": ssh_port},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text

    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        page.get_by_test_id("nav-hosts").click()
        expect(page).to_have_url(re.compile(r"/hosts$"))
        page.get_by_test_id("hosts-search").fill(hostname)
        expect(page.get_by_test_id("host-row")).to_have_count(1)
        page.get_by_test_id("host-open").first.click()
        drawer = page.get_by_test_id("host-drawer")
        panel = drawer.get_by_test_id("host-ssh-panel")
        expect(panel).to_be_visible()
        expect(panel.get_by_test_id("host-ssh-problems")).to_contain_text("No SSH credential")
        expect(panel.get_by_test_id("host-terminal-open")).to_be_disabled()

        # A new key credential, assigned to the host on save.
        panel.get_by_test_id("host-ssh-credential-new").click()
        dialog = page.get_by_test_id("ssh-credential-dialog")
        dialog.get_by_test_id("ssh-cred-name").fill(f"test key {hostname}")
        dialog.get_by_test_id("ssh-cred-user").fill(ssh_user)
        dialog.get_by_test_id("ssh-cred-key").fill(key_text)
        dialog.get_by_test_id("ssh-cred-save").click()
        expect(dialog).to_be_hidden()
        expect(panel.get_by_test_id("host-ssh-credential")).to_have_value(re.compile(r"^\d+$"))
        expect(panel).to_contain_text("ssh-ed25519 SHA256:")
        expect(panel.get_by_test_id("host-terminal-open")).to_be_enabled()
        shot(page, "ssh-host-drawer")

        # First use: the scanned fingerprint is shown for confirmation.
        panel.get_by_test_id("host-terminal-open").click()
        hostkey = page.get_by_test_id("ssh-hostkey-dialog")
        expect(hostkey).to_be_visible()
        expect(hostkey).to_contain_text("Trust this host key?")
        fingerprint = hostkey.get_by_test_id("ssh-hostkey-fingerprint").inner_text()
        assert fingerprint.startswith("SHA256:"), fingerprint
        shot(page, "ssh-hostkey-confirm")
        hostkey.get_by_test_id("ssh-hostkey-trust").click()

        terminal = page.get_by_test_id("ssh-terminal-dialog")
        expect(terminal).to_be_visible()
        expect(terminal.get_by_test_id("ssh-terminal-status")).to_have_text(
            "Connected", timeout=20_000
        )
        expect(terminal.get_by_test_id("ssh-terminal-info")).to_contain_text(fingerprint)
        screen = terminal.get_by_test_id("ssh-terminal-screen")
        screen.click()
        page.keyboard.type("echo hello-from-$((6*7)); whoami")
        page.keyboard.press("Enter")
        expect(screen.locator(".xterm-rows")).to_contain_text("hello-from-42", timeout=15_000)
        expect(screen.locator(".xterm-rows")).to_contain_text(ssh_user)
        shot(page, "ssh-terminal")
        page.keyboard.type("exit")
        page.keyboard.press("Enter")
        expect(terminal.get_by_test_id("ssh-terminal-status")).to_have_text("Disconnected")
        expect(terminal.get_by_test_id("ssh-terminal-message")).to_contain_text("exit status 0")
        page.keyboard.press("Escape")
        expect(panel.get_by_test_id("host-ssh-hostkey")).to_contain_text(fingerprint)
    finally:
        context.close()
