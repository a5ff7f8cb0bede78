"""Metrics end to end on the real engine: collect, ingest, query (both backends), alerts."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from dockyard.alerts.engine import engine_of
from dockyard.kit.clock import utcnow
from dockyard.metrics.collector import collect_sample
from dockyard.metrics.ingest import ingest_sample
from dockyard.settings import Settings
from tests.conftest import (
    LiveApp,
    add_user,
    assert_error,
    remove_compose_project,
    running_app,
    unique_email,
)
from tests.integration.services.conftest import act, wait_status

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


@pytest.fixture
async def manual_api(db_url: str, app_settings: Callable[..., Settings]) -> AsyncIterator[LiveApp]:
    """No scheduler: the test collects and evaluates itself."""
    async with running_app(app_settings(db_url, run_scheduler=False)) as test_app:
        test_app.client.headers.update(test_app.bearer(await test_app.token()))
        yield test_app


@pytest.fixture
def project(docker_client: Any) -> Iterator[str]:
    name = f"t-metrics-{secrets.token_hex(3)}"
    yield name
    remove_compose_project(docker_client, name)


async def test_collect_ingest_query_and_alerts(manual_api: LiveApp, project: str) -> None:
    api = manual_api
    compose = (
        "services:\n"
        f"  busy:\n    image: {IMAGE}\n"
        "    command: [sh, -c, 'timeout 20 sh -c \"while :; do :; done\"; sleep 3600']\n"
        "    stop_grace_period: 1s\n    labels:\n      io.dockyard.test: '1'\n"
        f"  idle:\n    image: {IMAGE}\n    command: [sleep, '3600']\n"
        "    stop_grace_period: 1s\n    labels:\n      io.dockyard.test: '1'\n"
    )
    created = await api.client.post("/api/v1/services", json={"name": project, "compose": compose})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert (await act(api, sid, "deploy"))["status"] == "succeeded"
    await wait_status(api, sid, lambda s: s["status"] == "running")
    node_id = created.json()["node_id"]

    runtime = api.runtime
    async with runtime.db.read_session() as session:
        from dockyard.nodes.repository import get as get_node

        node = await get_node(session, node_id)
        assert node is not None
        engine = runtime.nodes.engine_for(node)

    first = await collect_sample(engine)
    await ingest_sample(runtime, node_id, first)
    await asyncio.sleep(1.5)
    second = await collect_sample(engine)
    await ingest_sample(runtime, node_id, second)

    mine = {c.name: c for c in second.containers if c.name.startswith(project)}
    assert all(c.service_id == sid for c in mine.values())
    assert all(c.instance == runtime.instance_id for c in mine.values())
    assert len(mine) == 2, [c.name for c in second.containers]
    busy = next(c for name, c in mine.items() if "busy" in name)
    idle = next(c for name, c in mine.items() if "idle" in name)
    # A shell spinning (on a shared, busy machine: well under a full core) and a sleeper.
    assert busy.cpu_percent > 10, busy
    assert idle.cpu_percent < 2, idle
    for c in (busy, idle):
        assert 0 < c.memory_used_bytes < c.memory_limit_bytes
        assert c.pids >= 1
    host = second.host
    assert 0 <= host.cpu_percent <= 100
    assert 0 < host.memory_used_bytes < host.memory_total_bytes
    assert 0 < host.disk_used_bytes < host.disk_total_bytes
    assert host.net_rx_bytes > 0
    assert host.cpu_count >= 1

    # Queries.
    nodes = await api.client.get(f"/api/v1/metrics/nodes/{node_id}", params={"range": "1h"})
    assert nodes.status_code == 200, nodes.text
    body = nodes.json()
    assert body["tier"] == "raw"
    assert body["resolution_s"] == 10
    assert 1 <= len(body["points"]) <= 2
    assert body["points"][-1]["mem_total"] == host.memory_total_bytes

    svc = (await api.client.get(f"/api/v1/metrics/services/{sid}")).json()
    assert svc["points"]
    assert svc["points"][-1]["containers"] == 2
    assert svc["points"][-1]["mem_used"] >= busy.memory_used_bytes

    one = await api.client.get(f"/api/v1/metrics/containers/{node_id}/{busy.container_id[:12]}")
    assert one.status_code == 200, one.text
    assert one.json()["container_id"] == busy.container_id
    assert one.json()["service_id"] == sid
    assert one.json()["points"][-1]["pids"] >= 1

    fleet = (await api.client.get("/api/v1/metrics/fleet", params={"range": "1h"})).json()
    assert fleet["now"]["nodes_reporting"] == 1
    assert fleet["now"]["cpu_pct"] is not None
    assert fleet["points"]
    dash = (await api.client.get("/api/v1/dashboard/summary")).json()
    assert dash["fleet_memory_pct"] == pytest.approx(fleet["now"]["mem_pct"])

    # Validation and errors in the standard shape.
    bad = await api.client.get(f"/api/v1/metrics/nodes/{node_id}", params={"range": "2h"})
    details = assert_error(bad, 422)
    assert any("range" in e["path"] for e in details["details"]["errors"])
    assert_error(await api.client.get("/api/v1/metrics/nodes/999999"), 404, "node_not_found")

    # A tenant who cannot see the service: 404 for it and its containers.
    email = unique_email("tenant")
    await add_user(api, email, "tenant-password-123", role="user")
    tenant = api.bearer(str((await api.login(email, "tenant-password-123"))["access_token"]))
    hidden = await api.client.get(f"/api/v1/metrics/services/{sid}", headers=tenant)
    assert_error(hidden, 404)
    hidden_c = await api.client.get(
        f"/api/v1/metrics/containers/{node_id}/{busy.container_id}", headers=tenant
    )
    assert_error(hidden_c, 404, "container_not_found")

    # Alert conditions on the metrics: host memory over 0.1% and busy container CPU.
    for name, condition, scope in (
        ("mem", {"kind": "host_memory", "threshold_pct": 0.1}, {"type": "node", "ids": [node_id]}),
        ("cpu", {"kind": "container_cpu", "threshold_pct": 5}, {"type": "service", "ids": [sid]}),
        ("disk", {"kind": "host_disk", "threshold_pct": 100}, {"type": "all"}),
    ):
        rule = await api.client.post(
            "/api/v1/alert-rules",
            json={"name": f"{project}-{name}", "condition": condition, "scope": scope},
        )
        assert rule.status_code == 201, rule.text
    opened = await engine_of(runtime).evaluate(utcnow())
    summaries = sorted(a.summary for a in opened)
    assert len(opened) == 2, summaries
    assert any(s.startswith(f"Node {node.name} memory at") for s in summaries), summaries
    assert any(
        s.startswith(f"Container {busy.container_id[:12]}") and "CPU" in s for s in summaries
    ), summaries
