"""Images page in a real browser: the list, a pull with live progress, a cleanup preview."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, shot, sign_in

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
LIVE = 30_000


@pytest.fixture
def client() -> Iterator[Any]:
    c: Any = docker.DockerClient(
        base_url=os.environ.get("DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"),
        version="auto",
    )
    yield c
    c.close()


@pytest.fixture
def dangling(client: Any) -> Iterator[str]:
    """A dangling image of this test only (removed afterwards)."""
    labels = {"io.dockyard.test": "1", "io.dockyard.test-run": uuid.uuid4().hex}
    container = client.containers.create(IMAGE, ["true"], labels=labels)
    try:
        image = container.commit(conf={"Labels": labels})
    finally:
        container.remove(force=True)
    yield str(image.id)
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_image(image.id, force=True)


def test_images_page_pull_and_cleanup_preview(
    page: Page, live_server: LiveServer, dangling: str, client: Any
) -> None:
    sign_in(page, live_server)
    expect(page.get_by_test_id("dashboard-engine-card")).to_be_visible()
    page.get_by_test_id("nav-images").click()
    expect(page).to_have_url(f"{live_server.base_url}/images")
    table = page.get_by_test_id("images-table")
    expect(table).to_be_visible(timeout=LIVE)
    row = page.locator('[data-testid="image-row"]').filter(has_text=IMAGE)
    expect(row).to_be_visible()
    expect(row).to_contain_text(client.images.get(IMAGE).short_id.removeprefix("sha256:")[:12])
    short = dangling.removeprefix("sha256:")[:12]
    dangling_row = page.locator('[data-testid="image-row"]').filter(has_text=short)
    expect(dangling_row).to_contain_text("dangling")

    page.get_by_test_id("resource-search").fill("dockyard-test/busybox")
    expect(page.locator('[data-testid="image-row"]').filter(has_text=short)).to_have_count(0)
    expect(row).to_be_visible()
    shot(page, "images-list")
    page.get_by_test_id("resource-search").fill("")

    # Pull: a bad reference is refused in the form; a good one runs as a job with progress.
    page.get_by_test_id("pull-button").click()
    dialog = page.get_by_test_id("pull-dialog")
    page.get_by_test_id("pull-reference").fill("Bad Ref")
    page.get_by_test_id("pull-submit").click()
    expect(dialog).to_contain_text("No spaces allowed")
    reference = f"{os.environ['DOCKYARD_TEST_REGISTRY_IMAGE']}:1"
    page.get_by_test_id("pull-reference").fill(reference)
    page.get_by_test_id("pull-submit").click()
    expect(dialog.get_by_test_id("job-status")).to_have_attribute(
        "data-status", "succeeded", timeout=LIVE
    )
    expect(dialog.get_by_test_id("job-lines")).to_contain_text("Digest: sha256:")
    shot(page, "images-pull")
    dialog.get_by_role("button", name="Close").first.click()

    # Cleanup preview of dangling images only: our image is listed with its size; nothing
    # is removed by the preview.
    page.get_by_test_id("cleanup-button").click()
    cleanup = page.get_by_test_id("cleanup-dialog")
    for target in ("stopped_containers", "build_cache"):
        page.get_by_test_id(f"target-{target}").uncheck()
    page.get_by_test_id("target-dangling_images").check()
    expect(cleanup.get_by_test_id("cleanup-schedule")).to_contain_text("Scheduled cleanup")
    shot(page, "images-cleanup-choose")
    page.get_by_test_id("cleanup-preview").click()
    plan = page.get_by_test_id("cleanup-plan")
    expect(plan).to_be_visible(timeout=LIVE)
    expect(plan.get_by_test_id("cleanup-item").filter(has_text=short)).to_have_count(1)
    expect(page.get_by_test_id("cleanup-summary")).to_contain_text("reclaimable")
    expect(page.get_by_test_id("cleanup-execute")).to_contain_text("Remove")
    shot(page, "images-cleanup-preview")
    cleanup.get_by_role("button", name="Cancel").click()
    expect(cleanup).to_be_hidden()
    assert client.images.get(dangling)

    page.get_by_test_id("tab-volumes").click()
    expect(page).to_have_url(f"{live_server.base_url}/images/volumes")
    page.get_by_test_id("tab-networks").click()
    expect(page.get_by_test_id("networks-table")).to_contain_text("bridge")
    shot(page, "images-networks")
