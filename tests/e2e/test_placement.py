"""The Placement page in a real browser: clusters, port ranges, allocations, preview."""

from __future__ import annotations

import os
import re
import secrets

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot, sign_in

LIVE = 30_000
IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


def _api(server: LiveServer) -> httpx.Client:
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/login",
        json={"email": server.admin_email, "password": server.admin_password},
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def test_placement_page(page: Page, live_server: LiveServer) -> None:
    suffix = secrets.token_hex(3)
    cluster_name = f"edge-{suffix}"
    with _api(live_server) as api:
        local = min(n["id"] for n in api.get("/api/v1/nodes").json()["items"])
        sign_in(page, live_server)
        expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible(timeout=LIVE)
        page.get_by_test_id("nav-placement").click()
        expect(page).to_have_url(re.compile(r"/placement$"))
        expect(page.get_by_role("heading", name="Clusters", exact=True)).to_be_visible(timeout=LIVE)

        # Create a cluster with the local node and a label.
        page.get_by_test_id("cluster-add").first.click()
        dialog = page.get_by_test_id("cluster-dialog")
        dialog.get_by_test_id("cluster-name").fill(cluster_name)
        dialog.get_by_test_id("cluster-labels").fill("tier=edge")
        dialog.locator(f'[data-testid="cluster-member"][data-node-id="{local}"]').check()
        dialog.get_by_test_id("cluster-save").click()
        row = page.get_by_test_id("cluster-row").filter(has_text=cluster_name)
        expect(row).to_be_visible(timeout=LIVE)
        expect(row).to_contain_text("tier=edge")

        # A bad range is refused in the form; a good one is saved.
        page.get_by_test_id("ports-node").select_option(str(local))
        page.get_by_test_id("ports-ranges").fill("31500-31510, 31505-31520")
        page.get_by_test_id("ports-save").click()
        expect(page.get_by_test_id("ports-form-error")).to_contain_text("overlaps")
        page.get_by_test_id("ports-ranges").fill("31500-31510")
        page.get_by_test_id("ports-save").click()
        expect(page.get_by_text("Saved the port ranges")).to_be_visible(timeout=LIVE)
        expect(page.get_by_test_id("ports-form-error")).to_have_count(0)
        ranges = api.get(f"/api/v1/nodes/{local}/port-ranges").json()
        assert ranges["ranges"] == [{"start": 31500, "end": 31510}]

        # A service with an `auto` port in the cluster shows up in the allocations.
        created = api.post(
            "/api/v1/services",
            json={
                "name": f"pl-e2e-{suffix}",
                "cluster_id": next(
                    c["id"]
                    for c in api.get("/api/v1/clusters").json()["items"]
                    if c["name"] == cluster_name
                ),
                "definition": {
                    "services": {"web": {"image": IMAGE, "ports": ["127.0.0.1:auto:80"]}}
                },
            },
        )
        assert created.status_code == 201, created.text
        service = created.json()
        port = service["definition"]["services"]["web"]["ports"][0]["published"]
        assert 31500 <= port <= 31510
        try:
            page.reload()
            allocation = page.get_by_test_id("allocation-row").filter(has_text=f"pl-e2e-{suffix}")
            expect(allocation).to_contain_text(f"127.0.0.1:{port}/tcp", timeout=LIVE)
            expect(allocation).to_contain_text("auto")

            # The preview explains the choice.
            page.get_by_test_id("preview-target").select_option(label=f"Cluster {cluster_name}")
            page.get_by_test_id("preview-run").click()
            explanation = page.get_by_test_id("preview-explanation")
            expect(explanation.get_by_test_id("placement-chosen")).to_contain_text(
                "Placed on", timeout=LIVE
            )
            expect(explanation).to_contain_text(f"member of cluster {cluster_name}")
            page.get_by_test_id("preview-labels").fill("gpu=a100")
            page.get_by_test_id("preview-run").click()
            expect(explanation.get_by_test_id("placement-none")).to_be_visible(timeout=LIVE)
            expect(explanation).to_contain_text("label gpu=a100 required")
            shot(page, "placement-page")

            # The service page shows where the scheduler put it, and why.
            page.goto(f"{live_server.base_url}/services/{service['id']}")
            card = page.get_by_test_id("service-placement")
            expect(card).to_contain_text("Placed on", timeout=LIVE)
            expect(card).to_contain_text(f"member of cluster {cluster_name}")
            shot(page, "placement-service")
        finally:
            api.post(f"/api/v1/services/{service['id']}/delete")
