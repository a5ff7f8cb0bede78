"""Placement on real engines and real databases: clusters, explanations, port allocation."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import pytest
from sqlalchemy import func, select

from dockyard.nodes.models import Node
from dockyard.placement.models import PortAllocation
from tests.conftest import LiveApp, assert_error, audit_rows
from tests.integration.placement.conftest import add_direct_node, local_node_id
from tests.integration.services.conftest import act, http_get, wait_job

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


def web(*ports: str, **extra: Any) -> dict[str, Any]:
    """A definition of one httpd container (serving on 80) publishing `ports`."""
    return {
        "services": {
            "web": {
                "image": IMAGE,
                "command": ["httpd", "-f", "-p", "80", "-h", "/www"],
                "labels": {"io.dockyard.test": "1"},
                "stop_grace_period": "1s",
                "ports": list(ports),
                **extra,
            }
        }
    }


async def create_on(app: LiveApp, name: str, definition: dict[str, Any], node_id: int) -> Any:
    """POST a service fixed to `node_id`; the response, for the caller to check."""
    return await app.client.post(
        "/api/v1/services", json={"name": name, "definition": definition, "node_id": node_id}
    )


async def allocations(app: LiveApp, node_id: int) -> list[dict[str, Any]]:
    response = await app.client.get(f"/api/v1/nodes/{node_id}/port-allocations")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def allocation_rows(app: LiveApp) -> int:
    async with app.runtime.db.read_session() as session:
        return int((await session.execute(select(func.count(PortAllocation.id)))).scalar_one())


async def test_cluster_crud_is_validated_and_audited(papi: LiveApp, node2_host: str) -> None:
    node2 = await add_direct_node(papi, "node2", node2_host, zone="b")
    created = await papi.client.post(
        "/api/v1/clusters",
        json={"name": "edge", "labels": {"tier": "edge"}, "node_ids": [node2]},
    )
    assert created.status_code == 201, created.text
    cluster = created.json()
    assert [n["name"] for n in cluster["nodes"]] == ["node2"]
    assert cluster["labels"] == {"tier": "edge"}
    assert_error(await papi.client.post("/api/v1/clusters", json={"name": "edge"}), 409)
    bad = await papi.client.post("/api/v1/clusters", json={"name": "x", "node_ids": [999]})
    assert assert_error(bad, 422, "node_not_found")["details"]["errors"][0]["path"] == "node_ids.0"
    local = await local_node_id(papi)
    updated = await papi.client.put(
        f"/api/v1/clusters/{cluster['id']}", json={"node_ids": [local, node2], "name": "edge2"}
    )
    assert updated.status_code == 200, updated.text
    assert {n["id"] for n in updated.json()["nodes"]} == {local, node2}
    listed = (await papi.client.get("/api/v1/clusters")).json()["items"]
    assert [c["name"] for c in listed] == ["edge2"]
    deleted = await papi.client.delete(f"/api/v1/clusters/{cluster['id']}")
    assert deleted.status_code == 204
    assert_error(await papi.client.get(f"/api/v1/clusters/{cluster['id']}"), 404)
    actions = [e.action for e in await audit_rows(papi, target_type="cluster")]
    assert actions == ["cluster.created", "cluster.updated", "cluster.deleted"]


async def test_port_ranges_are_validated(papi: LiveApp) -> None:
    node = await local_node_id(papi)
    default = (await papi.client.get(f"/api/v1/nodes/{node}/port-ranges")).json()
    assert default == {
        "node_id": node,
        "ranges": [{"start": 20000, "end": 29999}],
        "default": True,
    }
    bad = await papi.client.put(
        f"/api/v1/nodes/{node}/port-ranges",
        json={
            "ranges": [
                {"start": 80, "end": 90},
                {"start": 30000, "end": 30100},
                {"start": 30050, "end": 30060},
            ]
        },
    )
    error = assert_error(bad, 422, "invalid_port_ranges")
    assert {e["path"] for e in error["details"]["errors"]} == {"ranges.0", "ranges.2"}
    ok = await papi.client.put(
        f"/api/v1/nodes/{node}/port-ranges",
        json={"ranges": [{"start": 31000, "end": 31001}]},
    )
    assert ok.json() == {
        "node_id": node,
        "ranges": [{"start": 31000, "end": 31001}],
        "default": False,
    }
    assert_error(await papi.client.get("/api/v1/nodes/999/port-ranges"), 404, "node_not_found")
    for path in (
        "/api/v1/nodes/99999999999999999999/port-ranges",
        "/api/v1/nodes/9999999999/port-allocations",
        "/api/v1/clusters/9999999999",
    ):
        response = await papi.client.get(path)
        assert response.status_code in (404, 422), (path, response.text)
    huge = await papi.client.post(
        "/api/v1/placement/preview",
        json={"definition": web(), "node_id": 9999999999, "cluster_id": 9999999999},
    )
    assert huge.status_code in (404, 422), huge.text


async def test_a_cluster_targeted_service_runs_on_the_member_node(
    papi: LiveApp, node2_host: str, node2_client: Any, docker_client: Any, project_prefix: str
) -> None:
    node2 = await add_direct_node(papi, "node2", node2_host)
    local = await local_node_id(papi)
    cluster = (
        await papi.client.post("/api/v1/clusters", json={"name": "two", "node_ids": [node2]})
    ).json()
    name = f"{project_prefix}-c"
    created = await papi.client.post(
        "/api/v1/services",
        json={"name": name, "definition": web("127.0.0.1:auto:80"), "cluster_id": cluster["id"]},
    )
    assert created.status_code == 201, created.text
    service = created.json()
    assert service["node_id"] == node2
    assert service["cluster_id"] == cluster["id"]
    placement = service["placement"]
    assert placement["chosen"]["node_id"] == node2
    assert "member of cluster two" in placement["chosen"]["reasons"]
    rejected = {c["node_id"]: c["reasons"] for c in placement["candidates"] if not c["eligible"]}
    assert rejected == {local: ["not a member of cluster two"]}
    port = service["definition"]["services"]["web"]["ports"][0]
    assert port["auto"] is True
    assert 20000 <= port["published"] <= 29999
    held = await allocations(papi, node2)
    assert [(a["host_port"], a["service_name"], a["auto"]) for a in held] == [
        (port["published"], name, True)
    ]
    job = await act(papi, service["id"], "deploy")
    assert job["status"] == "succeeded", job
    filters = {"label": f"com.docker.compose.project={name}"}
    on_node2 = node2_client.containers.list(filters=filters)
    assert len(on_node2) == 1
    assert docker_client.containers.list(all=True, filters=filters) == []
    bindings = on_node2[0].attrs["HostConfig"]["PortBindings"]["80/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(port["published"])}]
    body = await asyncio.to_thread(http_get, port["published"])
    assert "dockyard-test" in body.text
    # Deleting the service releases its port.
    job = await act(papi, service["id"], "delete")
    assert job["status"] == "succeeded", job
    assert await allocations(papi, node2) == []
    assert node2_client.containers.list(all=True, filters=filters) == []


async def test_an_impossible_request_fails_with_every_nodes_reasons(
    papi: LiveApp, node2_host: str, project_prefix: str
) -> None:
    node2 = await add_direct_node(papi, "node2", node2_host)
    local = await local_node_id(papi)
    huge = web(mem_limit="100000g")
    preview = await papi.client.post("/api/v1/placement/preview", json={"definition": huge})
    assert preview.status_code == 200, preview.text
    assert preview.json()["chosen"] is None
    response = await papi.client.post(
        "/api/v1/services", json={"name": f"{project_prefix}-x", "definition": huge}
    )
    error = assert_error(response, 422, "placement_failed")
    errors = error["details"]["errors"]
    assert len(errors) == 2
    for item in errors:
        assert item["message"].startswith("a container's memory limit of 100000 GiB exceeds"), item
    explained = {c["node_id"] for c in error["details"]["explanation"]["candidates"]}
    assert explained == {local, node2}
    assert "No node can run this service" in error["message"]
    # Nothing was saved.
    assert (await papi.client.get("/api/v1/services")).json()["total"] == 0
    # A label constraint no node has is explained too.
    labelled = await papi.client.post(
        "/api/v1/services",
        json={
            "name": f"{project_prefix}-l",
            "definition": web(),
            "placement": {"constraints": {"labels": {"gpu": "a100"}}},
        },
    )
    error = assert_error(labelled, 422, "placement_failed")
    assert all("label gpu=a100 required" in e["message"] for e in error["details"]["errors"])


async def test_placement_picks_the_node_with_room_and_preview_agrees(
    papi: LiveApp, node2_host: str, project_prefix: str
) -> None:
    node2 = await add_direct_node(papi, "node2", node2_host, disk="ssd")
    local = await local_node_id(papi)
    facts = (await papi.client.get(f"/api/v1/nodes/{local}")).json()["engine"]
    # A service reserving most of the local node's memory makes node 2 the roomier one
    # (both engines run on this host and report the same memory).
    big = int(facts["memory_bytes"] * 0.6)
    first = await papi.client.post(
        "/api/v1/services",
        json={
            "name": f"{project_prefix}-a",
            "definition": web(mem_reservation=str(big)),
            "node_id": local,
        },
    )
    assert first.status_code == 201, first.text
    assert first.json()["placement"] is None  # a fixed node: nothing was scheduled
    body = {"definition": web(mem_limit="64m")}
    preview = (await papi.client.post("/api/v1/placement/preview", json=body)).json()
    assert preview["chosen"]["node_id"] == node2
    scores = {c["node_id"]: c["score"] for c in preview["candidates"]}
    assert scores[node2] > scores[local]
    second = await papi.client.post(
        "/api/v1/services", json={"name": f"{project_prefix}-b", **body}
    )
    assert second.status_code == 201, second.text
    assert second.json()["node_id"] == node2
    # Labels steer it: only node 2 has disk=ssd.
    constrained = await papi.client.post(
        "/api/v1/placement/preview",
        json={**body, "placement": {"constraints": {"labels": {"disk": "ssd"}}}},
    )
    assert constrained.json()["chosen"]["node_id"] == node2
    # Offline nodes are never chosen: an agent that is not connected, an engine that is gone.
    async with papi.runtime.db.session() as session:
        agent = Node(name="agent-x", kind="agent", docker_host="unix:///nonexistent/a.sock")
        session.add(agent)
        await session.commit()
        agent_id = agent.id
    gone = await add_direct_node(papi, "gone", "unix:///tmp/dockyard-missing-placement/docker.sock")
    preview = (await papi.client.post("/api/v1/placement/preview", json=body)).json()
    reasons = {c["node_id"]: c["reasons"] for c in preview["candidates"]}
    assert reasons[agent_id] == ["offline: its agent is not connected"]
    assert reasons[gone][0].startswith("offline: ")
    assert preview["chosen"]["node_id"] == node2


async def test_fixed_ports_are_recorded_and_a_holder_is_named(
    papi: LiveApp, project_prefix: str
) -> None:
    local = await local_node_id(papi)
    first = await create_on(papi, f"{project_prefix}-a", web("127.0.0.1:28080:80"), local)
    assert first.status_code == 201, first.text
    # Same port, another address: the definitions do not clash but the port is held.
    second = await create_on(papi, f"{project_prefix}-b", web("127.0.0.2:28080:80"), local)
    error = assert_error(second, 409, "port_allocated")
    assert f"service {project_prefix}-a" in error["message"]
    assert error["details"]["errors"][0]["path"] == "services.web.ports.0"
    # The same address: the existing definition check answers (422, naming the holder).
    third = await create_on(papi, f"{project_prefix}-c", web("127.0.0.1:28080:80"), local)
    assert f"{project_prefix}-a" in assert_error(third, 422, "invalid_definition")["message"] + str(
        third.json()
    )
    held = await allocations(papi, local)
    assert [(a["host_port"], a["auto"]) for a in held] == [(28080, False)]


async def test_auto_ports_are_kept_across_edits_and_released_when_dropped(
    papi: LiveApp, project_prefix: str
) -> None:
    local = await local_node_id(papi)
    ranged = await papi.client.put(
        f"/api/v1/nodes/{local}/port-ranges", json={"ranges": [{"start": 31000, "end": 31001}]}
    )
    assert ranged.status_code == 200
    created = await papi.client.post(
        "/api/v1/services",
        json={
            "name": f"{project_prefix}-a",
            "definition": web("auto:80", "auto:81"),
            "node_id": local,
        },
    )
    assert created.status_code == 201, created.text
    service = created.json()
    ports = sorted(p["published"] for p in service["definition"]["services"]["web"]["ports"])
    assert ports == [31000, 31001]
    # The range is full: another service's auto port is refused with the range named.
    full = await papi.client.post(
        "/api/v1/services",
        json={"name": f"{project_prefix}-b", "definition": web("auto:80"), "node_id": local},
    )
    assert "31000-31001" in assert_error(full, 409, "ports_exhausted")["message"]
    # An edit that still says `auto` keeps the same ports.
    edited = await papi.client.put(
        f"/api/v1/services/{service['id']}",
        json={"definition": web("auto:80", "auto:81", environment={"A": "1"})},
    )
    assert edited.status_code == 200, edited.text
    kept = sorted(p["published"] for p in edited.json()["definition"]["services"]["web"]["ports"])
    assert kept == ports
    # Dropping a port releases it, and the other service can now have it.
    dropped = await papi.client.put(
        f"/api/v1/services/{service['id']}", json={"definition": web("auto:80")}
    )
    assert dropped.status_code == 200, dropped.text
    assert len(await allocations(papi, local)) == 1
    again = await papi.client.post(
        "/api/v1/services",
        json={"name": f"{project_prefix}-b", "definition": web("auto:80"), "node_id": local},
    )
    assert again.status_code == 201, again.text
    assert await allocation_rows(papi) == 2


async def test_fifty_concurrent_deployments_never_share_an_auto_port(
    papi: LiveApp, docker_client: Any, project_prefix: str
) -> None:
    local = await local_node_id(papi)
    names = [f"{project_prefix}-{i:02d}" for i in range(50)]
    # One shared network: 50 project networks would exhaust the engine's address pools.
    network = docker_client.networks.create(
        f"{project_prefix}-net", labels={"io.dockyard.test": "1"}
    )
    definition = web("127.0.0.1:auto:80")
    definition["networks"] = {"default": {"name": network.name, "external": True}}

    async def create(name: str) -> dict[str, Any]:
        response = await papi.client.post(
            "/api/v1/services",
            json={"name": name, "definition": definition, "node_id": local},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    services = await asyncio.gather(*(create(n) for n in names))
    deploys = await asyncio.gather(
        *(papi.client.post(f"/api/v1/services/{s['id']}/deploy") for s in services)
    )
    assert all(r.status_code == 202 for r in deploys), [r.text for r in deploys]
    # One poller for all the jobs (50 concurrent pollers would only measure the pool).
    jobs = [await wait_job(papi, r.json()["job"]["id"], timeout_s=300) for r in deploys]
    failed = [
        (j["service_id"], j["error"], j.get("lines", [])[-2:])
        for j in jobs
        if j["status"] != "succeeded"
    ]
    assert failed == []
    published: dict[str, str] = {}
    for name in names:
        found = docker_client.containers.list(
            filters={"label": f"com.docker.compose.project={name}"}
        )
        assert len(found) == 1, name
        bindings = found[0].attrs["HostConfig"]["PortBindings"]["80/tcp"]
        assert len(bindings) == 1, bindings
        assert bindings[0]["HostIp"] == "127.0.0.1", bindings
        published[name] = bindings[0]["HostPort"]
        live = found[0].attrs["NetworkSettings"]["Ports"]["80/tcp"]
        assert {b["HostIp"] for b in live} == {"127.0.0.1"}
    assert len(set(published.values())) == 50
    stored = {a["host_port"] for a in await allocations(papi, local)}
    assert stored == {int(p) for p in published.values()}
    deletes = await asyncio.gather(
        *(papi.client.post(f"/api/v1/services/{s['id']}/delete") for s in services)
    )
    for response in deletes:
        assert (await wait_job(papi, response.json()["job"]["id"], timeout_s=300))["status"] == (
            "succeeded"
        )
    assert await allocation_rows(papi) == 0


@pytest.mark.parametrize("unused", [None])
async def test_preview_needs_services_create(papi: LiveApp, unused: None) -> None:
    del unused
    anonymous = await papi.client.post(
        "/api/v1/placement/preview", json={"definition": web()}, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401


async def test_ports_held_on_one_node_or_by_the_host_are_told_apart(
    papi: LiveApp, node2_host: str, project_prefix: str
) -> None:
    node2 = await add_direct_node(papi, "node2", node2_host)
    local = await local_node_id(papi)
    held = await create_on(papi, f"{project_prefix}-a", web("127.0.0.1:28181:80"), local)
    assert held.status_code == 201, held.text
    # A service's port is held on its own node only.
    preview = (
        await papi.client.post(
            "/api/v1/placement/preview", json={"definition": web("127.0.0.1:28181:80")}
        )
    ).json()
    reasons = {c["node_id"]: c["reasons"] for c in preview["candidates"]}
    assert reasons[local] == [f"host port 28181/tcp is in use by service {project_prefix}-a"]
    assert reasons[node2] == []
    assert preview["chosen"]["node_id"] == node2
    # A port a process listens on is held on every node whose engine runs on this host.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        preview = (
            await papi.client.post(
                "/api/v1/placement/preview", json={"definition": web(f"127.0.0.1:{port}:80")}
            )
        ).json()
    reasons = {c["node_id"]: c["reasons"] for c in preview["candidates"]}
    for node_id in (local, node2):
        assert reasons[node_id] == [f"host port {port}/tcp is in use by a process on the host"]
    assert preview["chosen"] is None
