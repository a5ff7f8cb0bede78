"""The hosts page in a real browser: CSV import with a dry-run preview of bad rows, the
table with filters, the SSH command, and a host's artifacts (upload, list)."""

from __future__ import annotations

import hashlib
import re
import secrets

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import DESKTOP, LiveServer, shot, sign_in

HEADER = "hostname,address,ssh_port,ssh_user,bastion,environment,tags,notes\n"


def test_csv_import_preview_table_and_artifacts(browser: Browser, live_server: LiveServer) -> None:
    suffix = secrets.token_hex(3)
    context = browser.new_context(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.base_url)
    page = context.new_page()
    try:
        sign_in(page, live_server)
        page.get_by_test_id("nav-hosts").click()
        expect(page).to_have_url(re.compile(r"/hosts$"))
        page.get_by_test_id("hosts-import").first.click()
        dialog = page.get_by_test_id("import-dialog")
        expect(dialog).to_be_visible()

        csv_text = HEADER + (
            f"web-1-{suffix}.example.com,10.0.0.11,22,deploy,,prod,web;eu,Frontend\n"
            f"web-2-{suffix}.example.com,10.0.0.12,2222,deploy,ops@jump.example.com,prod,web,\n"
            f"db-1-{suffix}.example.com,999.0.0.1,22,postgres,,staging,db,bad address\n"
            f"web-1-{suffix}.example.com,10.0.0.13,22,deploy,,prod,,duplicate\n"
            f"cache-{suffix}.example.com,10.0.0.14,70000,,,staging,cache,bad port\n"
        )
        dialog.get_by_test_id("import-file").set_input_files(
            files=[{"name": "hosts.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}]
        )
        preview = dialog.get_by_test_id("import-preview")
        expect(preview).to_be_visible()
        expect(dialog.get_by_test_id("import-created")).to_have_text("2 to create")
        expect(dialog.get_by_test_id("import-errors")).to_have_text("3 rows with errors")
        rows = dialog.get_by_test_id("import-error-row")
        expect(rows).to_have_count(3)
        expect(rows.nth(0)).to_contain_text("4")
        expect(rows.nth(0)).to_contain_text("address")
        expect(rows.nth(1)).to_contain_text("duplicate hostname")
        expect(rows.nth(2)).to_contain_text("ssh_port")
        shot(page, "hosts-import-preview")
        # The dry run wrote nothing (other tests share this server: count only these hosts).
        expect(page.get_by_test_id("host-row").filter(has_text=suffix)).to_have_count(0)

        dialog.get_by_test_id("import-commit").click()
        expect(dialog).to_be_hidden()
        table = page.get_by_test_id("hosts-table")
        expect(table).to_contain_text(f"web-1-{suffix}.example.com")
        expect(table).to_contain_text(f"web-2-{suffix}.example.com")
        expect(page.get_by_test_id("host-row").filter(has_text=suffix)).to_have_count(2)
        shot(page, "hosts-table")

        # Filter by tag, then copy an SSH command (audited server-side).
        page.get_by_test_id("hosts-tag").select_option("eu")
        expect(page.get_by_test_id("host-row").filter(has_text=suffix)).to_have_count(1)
        page.get_by_test_id("host-copy-ssh").first.click()
        expect(page.get_by_text("Copied the SSH command")).to_be_visible()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == "ssh -p 22 deploy@10.0.0.11"
        page.get_by_test_id("hosts-tag").select_option("")
        expect(page.get_by_test_id("host-row").filter(has_text=suffix)).to_have_count(2)

        # The host drawer: upload an artifact and see it listed with its short hash.
        page.get_by_test_id("host-open").first.click()
        drawer = page.get_by_test_id("host-drawer")
        expect(drawer).to_be_visible()
        content = b"#!/bin/sh\necho provisioned\n" * 1000
        drawer.get_by_test_id("artifact-file").set_input_files(
            files=[{"name": "provision.sh", "mimeType": "text/x-sh", "buffer": content}]
        )
        artifact = drawer.get_by_test_id("artifact-row")
        expect(artifact).to_have_count(1)
        expect(artifact).to_contain_text("provision.sh")
        expect(artifact).to_contain_text(hashlib.sha256(content).hexdigest()[:12])
        shot(page, "hosts-drawer-artifacts")
    finally:
        context.close()
