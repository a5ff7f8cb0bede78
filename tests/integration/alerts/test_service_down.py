"""service_down on the real engine: a stopped busybox service fires after `for_s`, resolves
when it runs again. The evaluator is driven with explicit `now` values (no long sleeps)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from dockyard.alerts.engine import engine_of
from dockyard.kit.clock import utcnow
from tests.conftest import LiveApp, make_settings, remove_compose_project, running_app
from tests.integration.alerts.conftest import Receiver, until
from tests.integration.services.conftest import act, wait_status

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


@pytest.fixture
async def manual_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveApp]:
    """No scheduler: the test drives the alert engine itself."""
    settings = make_settings(tmp_path_factory.mktemp("alerts-data"), None, run_scheduler=False)
    async with running_app(settings) as test_app:
        test_app.client.headers.update(test_app.bearer(await test_app.token()))
        yield test_app


@pytest.fixture
def project(docker_client: Any) -> Iterator[str]:
    name = f"t-alert-{secrets.token_hex(3)}"
    yield name
    remove_compose_project(docker_client, name)


async def test_service_down_for_s_fires_then_resolves(
    manual_api: LiveApp, project: str, webhook_receiver: Receiver
) -> None:
    api = manual_api
    compose = (
        f"services:\n  app:\n    image: {IMAGE}\n    command: [sleep, '3600']\n"
        "    stop_grace_period: 1s\n    labels:\n      io.dockyard.test: '1'\n"
    )
    created = await api.client.post("/api/v1/services", json={"name": project, "compose": compose})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert (await act(api, sid, "deploy"))["status"] == "succeeded"
    await wait_status(api, sid, lambda s: s["status"] == "running")

    channel = (
        await api.client.post(
            "/api/v1/alert-channels",
            json={"name": "hook", "type": "webhook", "config": {"url": webhook_receiver.url}},
        )
    ).json()
    rule = await api.client.post(
        "/api/v1/alert-rules",
        json={
            "name": "down",
            "condition": {"kind": "service_down"},
            "scope": {"type": "service", "ids": [sid]},
            "for_s": 60,
            "channels": [channel["id"]],
        },
    )
    assert rule.status_code == 201, rule.text
    engine = engine_of(api.runtime)
    t0 = utcnow()
    assert await engine.evaluate(t0) == []  # running: nothing

    assert (await act(api, sid, "stop"))["status"] == "succeeded"
    await wait_status(api, sid, lambda s: s["status"] == "stopped")
    assert await engine.evaluate(t0 + timedelta(seconds=1)) == []  # pending, not yet 60 s
    assert await engine.evaluate(t0 + timedelta(seconds=40)) == []
    listed = (await api.client.get("/api/v1/alerts")).json()
    assert listed["total"] == 0

    opened = await engine.evaluate(t0 + timedelta(seconds=62))
    assert len(opened) == 1
    assert await engine.evaluate(t0 + timedelta(seconds=75)) == []  # dedup: still one
    # Opening the alert queued its delivery and kicked a background send. Only the real
    # clock here: a `now` past the send's claim (CLAIM_S) would take the same delivery
    # over while it is in flight and send it twice.
    await engine.deliver_due()
    firing = (await webhook_receiver.wait(1))[0].json()
    assert firing["status"] == "firing"
    assert firing["target"]["id"] == sid
    assert f"Service {project} is stopped" in firing["summary"]
    listed = (await api.client.get("/api/v1/alerts", params={"status": "firing"})).json()
    assert listed["total"] == 1
    summary = (await api.client.get("/api/v1/dashboard/summary")).json()
    assert summary["alerts_firing"] == 1
    assert summary["services_stopped"] >= 1

    assert (await act(api, sid, "start"))["status"] == "succeeded"
    await wait_status(api, sid, lambda s: s["status"] == "running")
    await engine.evaluate(t0 + timedelta(seconds=90))
    await engine.deliver_due()
    resolved = (await webhook_receiver.wait(2))[1].json()
    assert resolved["status"] == "resolved"
    assert resolved["alert"]["id"] == firing["alert"]["id"]
    assert (await api.client.get("/api/v1/alerts", params={"status": "firing"})).json()[
        "total"
    ] == 0

    async def all_sent() -> bool:
        detail = (await api.client.get(f"/api/v1/alerts/{firing['alert']['id']}")).json()
        return [d["status"] for d in detail["deliveries"]] == ["sent", "sent"]

    await until(all_sent)
    assert len(webhook_receiver.requests) == 2  # each notification once
    assert (await act(api, sid, "delete"))["status"] == "succeeded"
