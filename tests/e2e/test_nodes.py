"""Nodes in a real browser: add an agent node, its one-time token and command, enrollment,
offline state, labels, revoke, delete, and the local node's page.

The refused delete (409 while a service is on the node) runs against a node with a real agent
(node 2's engine): a service on an agent node that never connects can't be deleted (its delete
job needs the engine), so it would be left behind in the shared server."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, LiveServer, shot, sign_in

LIVE = 30_000
DEFAULT_COMMAND_TAIL = (
    "--docker-host unix:///var/run/docker.sock --data-dir /var/lib/dockyard-agent"
)


@pytest.fixture
def clip_page(browser: Browser) -> Iterator[Page]:
    """A desktop page allowed to use the clipboard (the copy buttons are checked)."""
    context = browser.new_context(
        viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def node_name(live_server: LiveServer) -> Iterator[str]:
    """A unique node name; a node left behind by a failed test is deleted afterwards."""
    name = f"e2e-node-{secrets.token_hex(3)}"
    yield name
    with _api(live_server) as api:
        for node in api.get("/api/v1/nodes", params={"limit": 500}).json()["items"]:
            if node["name"] == name:
                api.delete(f"/api/v1/nodes/{node['id']}")


def _api(server: LiveServer) -> httpx.Client:
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": server.admin_email, "password": server.admin_password},
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _delete_service(api: httpx.Client, service_id: int) -> None:
    """Delete a service (a job) and wait until it is gone."""
    accepted = api.post(f"/api/v1/services/{service_id}/delete")
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job"]["id"]
    deadline = time.monotonic() + 60
    while (job := api.get(f"/api/v1/jobs/{job_id}").json())["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert api.get(f"/api/v1/services/{service_id}").status_code == 404


def _shot(page: Page, name: str) -> None:
    """A full-page screenshot from the top, once the toasts are gone."""
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.locator("[data-sonner-toast]")).to_have_count(0, timeout=LIVE)
    shot(page, name)


def _fits(page: Page, test_id: str) -> None:
    """The element's content does not overflow it sideways (long tokens wrap)."""
    overflow = page.get_by_test_id(test_id).first.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 1, f"{test_id} overflows by {overflow}px"


def test_add_enroll_revoke_and_delete_a_node(
    clip_page: Page, live_server: LiveServer, node_name: str
) -> None:
    page = clip_page
    base = live_server.base_url
    name = node_name
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    page.get_by_test_id("nav-nodes").click()
    expect(page).to_have_url(re.compile(r"/nodes$"))
    local = page.get_by_test_id("node-row").filter(
        has=page.get_by_test_id("node-kind").filter(has_text="Local")
    )
    expect(local.first).to_have_attribute("data-state", "online")
    expect(local.first.get_by_test_id("node-last-seen")).to_contain_text(
        re.compile(r"last seen (just now|\d+ s ago)")
    )

    # Add: name and labels, then the token once with the exact command.
    page.get_by_test_id("node-add").click()
    dialog = page.get_by_test_id("add-node-dialog")
    dialog.get_by_test_id("node-form-name").fill("bad name")
    expect(dialog.get_by_test_id("node-form-name-error")).to_be_visible()
    expect(dialog.get_by_test_id("add-node-submit")).to_be_disabled()
    dialog.get_by_test_id("node-form-name").fill(name)
    dialog.get_by_test_id("node-form-labels").fill("zone=e2e\nrack r1")
    expect(dialog.get_by_test_id("node-form-label-errors")).to_contain_text("Line 2")
    dialog.get_by_test_id("node-form-labels").fill("zone=e2e\nrack=r1")
    dialog.get_by_test_id("add-node-submit").click()
    token_box = dialog.get_by_test_id("enrollment-token")
    expect(token_box).to_be_visible(timeout=LIVE)
    token = token_box.inner_text().strip()
    assert re.fullmatch(r"dye_[A-Za-z0-9_\-]+(\.[0-9a-f]{64})?", token), token
    command = dialog.get_by_test_id("enrollment-command").inner_text().strip()
    assert command == f"dockyard agent --server {base} --token {token} {DEFAULT_COMMAND_TAIL}"
    expect(dialog.get_by_test_id("enrollment-warning")).to_contain_text("not shown again")
    expect(dialog.get_by_test_id("enrollment-expiry")).to_contain_text(
        re.compile(r"expires in \d+ (min|h)")
    )
    dialog.get_by_test_id("enrollment-command-copy").click()
    expect(dialog.get_by_test_id("enrollment-command-copy")).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == command
    _fits(page, "enrollment-token")
    _fits(page, "enrollment-command")
    dialog.get_by_test_id("enrollment-systemd").locator("summary").click()
    unit = dialog.get_by_test_id("enrollment-unit").inner_text()
    assert "ExecStart=/usr/local/bin/dockyard agent --server" in unit
    assert token not in unit
    shot(page, "nodes-token-dialog")
    page.set_viewport_size(PHONE)
    _fits(page, "enrollment-token")
    _fits(page, "enrollment-command")
    shot(page, "nodes-token-dialog-phone")
    page.set_viewport_size(DESKTOP)
    dialog.get_by_test_id("add-node-done").click()
    expect(dialog).to_have_count(0)

    # Listed as waiting for its agent; the token is not shown again anywhere.
    row = page.get_by_test_id("node-row").filter(has_text=name)
    expect(row).to_have_attribute("data-state", "pending")
    expect(row.get_by_test_id("node-status")).to_have_text("Waiting for agent")
    expect(row.get_by_test_id("node-labels")).to_contain_text("rack=r1")
    assert token not in page.content()
    shot(page, "nodes-list")

    with _api(live_server) as api:
        node = next(n for n in api.get("/api/v1/nodes").json()["items"] if n["name"] == name)
        node_id = node["id"]
        assert node["kind"] == "agent"
        assert node["enrolled"] is False

        # The pending node's page: the banner, no token, only "New enrollment token".
        row.get_by_test_id("node-link").click()
        expect(page).to_have_url(re.compile(rf"/nodes/{node_id}$"))
        expect(page.get_by_test_id("node-pending-banner")).to_contain_text("Waiting for the agent")
        expect(page.get_by_test_id("node-new-token")).to_be_visible()
        expect(page.get_by_test_id("node-revoke")).to_have_count(0)
        expect(page.get_by_test_id("enrollment-token")).to_have_count(0)
        shot(page, "node-detail-pending")

        # Enroll like an agent does (no agent process): enrolled, but not connected.
        enrolled = httpx.post(
            f"{base}/api/v1/agent/enroll",
            json={
                "token": token,
                "agent_version": "0.0.0-e2e",
                "docker_host": "unix:///var/run/docker.sock",
                "hostname": "e2e-host",
            },
        )
        assert enrolled.status_code == 200, enrolled.text
        assert enrolled.json()["credential"].startswith(f"dyn_{node_id}_")
        again = httpx.post(f"{base}/api/v1/agent/enroll", json={"token": token})
        assert again.status_code in (401, 403, 409, 422), again.text

        page.reload()
        expect(page.get_by_test_id("node-status")).to_have_attribute(
            "data-state", "offline", timeout=LIVE
        )
        expect(page.get_by_test_id("node-offline-banner")).to_contain_text(
            re.compile(r"actions on this node fail until it (re)?connects")
        )
        expect(page.get_by_test_id("agent-hostname")).to_have_text("e2e-host")
        expect(page.get_by_test_id("agent-version")).to_have_text("0.0.0-e2e")
        expect(page.get_by_test_id("labels-card")).to_contain_text("zone=e2e")
        expect(page.get_by_test_id("node-services-empty")).to_be_visible()

        # Labels editor (PATCH).
        page.get_by_test_id("labels-edit").click()
        edit = page.get_by_test_id("edit-node-dialog")
        expect(edit.get_by_test_id("node-form-labels")).to_have_value("rack=r1\nzone=e2e")
        edit.get_by_test_id("node-form-labels").fill("rack=r2\nzone=e2e")
        edit.get_by_test_id("edit-node-save").click()
        expect(edit).to_have_count(0)
        expect(page.get_by_test_id("labels-card")).to_contain_text("rack=r2")
        assert api.get(f"/api/v1/nodes/{node_id}").json()["labels"] == {"rack": "r2", "zone": "e2e"}
        _shot(page, "node-detail-offline")

        # Revoke (confirm, destructive): the credential stops working.
        page.get_by_test_id("node-revoke").click()
        confirm = page.get_by_test_id("confirm-dialog")
        expect(confirm).to_contain_text("disconnected at once")
        confirm.get_by_test_id("confirm-submit").click()
        expect(confirm).to_have_count(0)
        expect(page.get_by_test_id("node-status")).to_have_attribute(
            "data-state", "revoked", timeout=LIVE
        )
        expect(page.get_by_test_id("node-revoked-banner")).to_be_visible()
        expect(page.get_by_test_id("node-rotate")).to_have_count(0)
        expect(page.get_by_test_id("node-new-token")).to_be_visible()
        after = api.get(f"/api/v1/nodes/{node_id}").json()
        assert after["revoked_at"]
        assert after["enrolled"] is False
        _shot(page, "node-detail-revoked")

        # A new enrollment token for the revoked node: shown once, the node waits again.
        page.get_by_test_id("node-new-token").click()
        page.get_by_test_id("confirm-submit").click()
        issued = page.get_by_test_id("enrollment-dialog")
        new_token = issued.get_by_test_id("enrollment-token").inner_text().strip()
        assert new_token.startswith("dye_")
        assert new_token != token
        expect(issued.get_by_test_id("enrollment-command")).to_contain_text(f"--token {new_token} ")
        _fits(page, "enrollment-command")
        issued.get_by_test_id("enrollment-done").click()
        expect(issued).to_have_count(0)
        expect(page.get_by_test_id("node-status")).to_have_attribute(
            "data-state", "pending", timeout=LIVE
        )
        expect(page.get_by_test_id("node-pending-banner")).to_be_visible()
        assert new_token not in page.content()

        # Delete (type the name to confirm): gone from the list and the API.
        page.get_by_test_id("node-delete").click()
        confirm = page.get_by_test_id("confirm-dialog")
        expect(confirm.get_by_test_id("confirm-submit")).to_be_disabled()
        confirm.get_by_test_id("confirm-input").fill(name)
        confirm.get_by_test_id("confirm-submit").click()
        expect(page).to_have_url(re.compile(r"/nodes$"))
        expect(page.get_by_test_id("node-row").filter(has_text=name)).to_have_count(0)
        assert api.get(f"/api/v1/nodes/{node_id}").status_code == 404


def _start_agent(server: LiveServer, token: str, data_dir: Path) -> subprocess.Popen[bytes]:
    docker_host = os.environ.get("DOCKYARD_TEST_NODE2_DOCKER_HOST", "")
    if not docker_host:
        pytest.fail("DOCKYARD_TEST_NODE2_DOCKER_HOST is not set: run scripts/test-env.sh up")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DOCKYARD_") or k.startswith("DOCKYARD_TEST_")
    }
    log = (data_dir.parent / "agent.log").open("wb")
    return subprocess.Popen(
        [
            "dockyard",
            "agent",
            "--server",
            server.base_url,
            "--token",
            token,
            "--docker-host",
            docker_host,
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_online_agent_node(page: Page, live_server: LiveServer, tmp_path: Path) -> None:
    """A real agent on node 2: online with engine and agent facts, rotation delivered,
    delete refused while a service is on it, offline banner once the agent stops."""
    name = f"e2e-agent-{secrets.token_hex(3)}"
    with _api(live_server) as api:
        created = api.post("/api/v1/nodes", json={"name": name, "labels": {"zone": "e2e"}})
        assert created.status_code == 201, created.text
        node_id = created.json()["id"]
        agent = _start_agent(
            live_server, created.json()["enrollment_token"], tmp_path / "agent-data"
        )
        service_id: int | None = None
        try:
            sign_in(page, live_server)
            expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
            page.goto(f"{live_server.base_url}/nodes")
            row = page.get_by_test_id("node-row").filter(has_text=name)
            expect(row).to_have_attribute("data-state", "online", timeout=LIVE)
            expect(row.get_by_test_id("node-agent-version")).not_to_have_text("—")
            expect(row.get_by_test_id("node-last-seen")).to_contain_text(
                re.compile(r"last seen (just now|\d+ s ago)")
            )
            _shot(page, "nodes-list-online")

            row.get_by_test_id("node-link").click()
            expect(page).to_have_url(re.compile(rf"/nodes/{node_id}$"))
            expect(page.get_by_test_id("node-name")).to_have_text(name)
            expect(page.get_by_test_id("node-status")).to_have_attribute("data-state", "online")
            expect(page.get_by_test_id("engine-server-version")).not_to_have_text("—", timeout=LIVE)
            expect(page.get_by_test_id("agent-remote-addr")).to_contain_text("127.0.0.1")
            expect(page.get_by_test_id("agent-docker-host")).to_have_text(
                os.environ["DOCKYARD_TEST_NODE2_DOCKER_HOST"]
            )
            expect(page.get_by_test_id("node-offline-banner")).to_have_count(0)

            # Rotation while online is delivered over the agent's connection.
            page.get_by_test_id("node-rotate").click()
            page.get_by_test_id("confirm-submit").click()
            expect(
                page.get_by_text(re.compile(r"New credential delivered to the agent"))
            ).to_be_visible(timeout=LIVE)
            expect(page.get_by_test_id("enrollment-dialog")).to_have_count(0)
            expect(page.get_by_test_id("node-status")).to_have_attribute("data-state", "online")

            # A service placed on the node: listed here, and delete is refused with the reason.
            service = api.post(
                "/api/v1/services",
                json={
                    "name": f"e2e-on-{name}",
                    "node_id": node_id,
                    "compose": "services:\n  app:\n    image: busybox\n",
                },
            )
            assert service.status_code == 201, service.text
            service_id = service.json()["id"]
            expect(page.get_by_test_id("node-service-row")).to_have_count(1, timeout=LIVE)
            _shot(page, "node-detail-online")
            page.set_viewport_size(PHONE)
            _shot(page, "node-detail-online-phone")
            page.set_viewport_size(DESKTOP)
            page.get_by_test_id("node-delete").click()
            confirm = page.get_by_test_id("confirm-dialog")
            confirm.get_by_test_id("confirm-input").fill(name)
            confirm.get_by_test_id("confirm-submit").click()
            expect(confirm.get_by_test_id("node-delete-blocked")).to_contain_text(
                "move or delete them first"
            )
            shot(page, "node-delete-blocked")
            confirm.get_by_role("button", name="Cancel").click()
            _delete_service(api, service_id)
            service_id = None
            expect(page.get_by_test_id("node-services-empty")).to_be_visible(timeout=LIVE)

            # The agent stops: offline within 2 heartbeats, with the banner.
            _stop(agent)
            expect(page.get_by_test_id("node-offline-banner")).to_contain_text(
                # 2 missed heartbeats (10 s) plus one poll; generous for a loaded machine.
                "actions on this node fail until it reconnects",
                timeout=2 * LIVE,
            )
            expect(page.get_by_test_id("node-status")).to_have_attribute("data-state", "offline")
            _shot(page, "node-detail-offline-after-online")

            # Rotation while offline: the old credential stops working, a new token is shown.
            page.get_by_test_id("node-rotate").click()
            page.get_by_test_id("confirm-submit").click()
            issued = page.get_by_test_id("enrollment-dialog")
            expect(issued).to_contain_text("The agent was offline")
            new_token = issued.get_by_test_id("enrollment-token").inner_text().strip()
            assert new_token.startswith("dye_")
            command = issued.get_by_test_id("enrollment-command")
            expect(command).to_contain_text(f"--token {new_token} ")
            issued.get_by_test_id("enrollment-done").click()
            expect(page.get_by_test_id("node-status")).to_have_attribute(
                "data-state", "pending", timeout=LIVE
            )
        finally:
            # Best effort after a failure: the service first (its delete needs the agent).
            if service_id is not None:
                with contextlib.suppress(Exception):
                    _delete_service(api, service_id)
            _stop(agent)
            deleted = api.delete(f"/api/v1/nodes/{node_id}")
        assert deleted.status_code == 204, deleted.text


def test_local_node_page(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    with _api(live_server) as api:
        local = next(n for n in api.get("/api/v1/nodes").json()["items"] if n["kind"] == "local")
    page.goto(f"{live_server.base_url}/nodes/{local['id']}")
    expect(page.get_by_test_id("node-name")).to_have_text(local["name"])
    expect(page.get_by_test_id("node-status")).to_have_attribute("data-state", "online")
    expect(page.get_by_test_id("engine-server-version")).not_to_have_text("—")
    expect(page.get_by_test_id("node-services-card")).to_be_visible()
    # The local node has no agent: no agent card, no revoke or delete.
    expect(page.get_by_test_id("agent-card")).to_have_count(0)
    expect(page.get_by_test_id("node-revoke")).to_have_count(0)
    expect(page.get_by_test_id("node-delete")).to_have_count(0)
    expect(page.get_by_test_id("node-edit")).to_be_visible()
    shot(page, "node-detail-local")

    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.base_url}/nodes")
    expect(page.get_by_test_id("node-card").first).to_be_visible()
    shot(page, "nodes-list-phone")
