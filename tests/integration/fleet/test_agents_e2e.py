"""Real `dockyard agent` processes for node 2 and node 3 against a live server.

A service deployed to node 2 runs on node 2's engine only; logs, stop/start, update and
cleanup go through the agent. Killing the agent makes the node offline within two
heartbeats and actions fail fast with a clear error; restarting it resyncs the state.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors
import pytest

from tests.conftest import remove_compose_project
from tests.integration.fleet.conftest import HEARTBEAT_S, AgentProcess, FleetServer, new_agent
from tests.integration.services.conftest import free_port

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


def web(port: int, greeting: str) -> str:
    return f"""
services:
  web:
    image: {IMAGE}
    command: ["sh", "-c", "echo greeting $$GREETING; exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
    environment:
      GREETING: {greeting}
    ports:
      - "{port}:80"
"""


@pytest.fixture
def node2_client(node2_host: str) -> Iterator[Any]:
    client = docker.DockerClient(base_url=node2_host, timeout=30)
    yield client
    client.close()


def _project(client: Any, name: str) -> list[Any]:
    return list(
        client.containers.list(all=True, filters={"label": f"com.docker.compose.project={name}"})
    )


async def off(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking docker-py call in a thread: the server shares the test's loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def _cleanup(client: Any, name: str) -> None:
    run = {"label": f"io.dockyard.test-run={name}"}
    for container in client.containers.list(all=True, filters=run):
        container.remove(force=True)
    remove_compose_project(client, name)


async def _start_agent(
    fleet: FleetServer, started: list[AgentProcess], docker_host: str, name: str
) -> tuple[dict[str, Any], AgentProcess]:
    node = await fleet.create_node(name)
    agent = new_agent(fleet, docker_host, started)
    agent.start(node["enrollment_token"])
    try:
        await fleet.wait_online(node["id"], timeout_s=30)
    except BaseException:
        print(agent.log())
        raise
    return node, agent


async def _job(fleet: FleetServer, response: Any, timeout_s: float = 90) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    job_id = response.json()["job"]["id"]
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = (
            await fleet.http.get(f"/api/v1/jobs/{job_id}", headers=fleet.headers)
        ).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        await asyncio.sleep(0.2)


async def _act(fleet: FleetServer, sid: int, action: str) -> dict[str, Any]:
    response = await fleet.http.post(f"/api/v1/services/{sid}/{action}", headers=fleet.headers)
    return await _job(fleet, response)


async def _service(fleet: FleetServer, sid: int) -> dict[str, Any]:
    response = await fleet.http.get(f"/api/v1/services/{sid}", headers=fleet.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _wait_service(
    fleet: FleetServer, sid: int, status: str, timeout_s: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        service = await _service(fleet, sid)
        if service["status"] == status:
            return service
        assert time.monotonic() < deadline, f"service never {status}: {service}"
        await asyncio.sleep(0.1)


async def test_service_on_node2_through_the_agent(
    fleet: FleetServer,
    agents: list[AgentProcess],
    node2_host: str,
    node2_client: Any,
    docker_client: Any,
) -> None:
    node, agent = await _start_agent(fleet, agents, node2_host, "node2")
    body = await fleet.node(node["id"])
    assert body["status"] == "online"
    assert body["enrolled"] is True
    assert body["engine"]["reachable"] is True, body["engine"]
    assert body["engine"]["name"] == (await off(node2_client.info))["Name"]
    assert body["agent"]["docker_host"] == node2_host
    assert body["agent"]["version"]

    name = f"t-{secrets.token_hex(4)}"
    port = free_port()
    try:
        created = await fleet.http.post(
            "/api/v1/services",
            json={"name": name, "compose": web(port, "one"), "node_id": node["id"]},
            headers=fleet.headers,
        )
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        job = await _act(fleet, sid, "deploy")
        assert job["status"] == "succeeded", job
        # On node 2's engine only.
        on_node2 = await off(_project, node2_client, name)
        assert [c.name for c in on_node2] == [f"{name}-web-1"]
        assert not await off(_project, docker_client, name)
        running = await _wait_service(fleet, sid, "running")
        assert running["node_id"] == node["id"]

        # Logs come through the agent.
        deadline = time.monotonic() + 10
        while True:
            logs = await fleet.http.get(f"/api/v1/services/{sid}/logs", headers=fleet.headers)
            assert logs.status_code == 200, logs.text
            if any(line["message"] == "greeting one" for line in logs.json()["lines"]):
                break
            assert time.monotonic() < deadline, logs.json()
            await asyncio.sleep(0.2)

        # Metrics samples from the agent are stored for node 2.
        from sqlalchemy import func, select

        from dockyard.metrics.models import HostPoint

        deadline = time.monotonic() + 30  # a sweep every 2 s; the box may be very busy
        while True:
            async with fleet.runtime.db.read_session() as session:
                points = (
                    await session.execute(
                        select(func.count()).where(HostPoint.node_id == node["id"])
                    )
                ).scalar_one()
            if points:
                break
            ingest = fleet.runtime.agents._metrics
            assert time.monotonic() < deadline, (
                f"no metrics stored for node 2 (hub stored {ingest.stored}, "
                f"dropped {ingest.dropped}); agent log: {agent.log()}"
            )
            await asyncio.sleep(0.5)
        assert fleet.runtime.agents.listening_ports(node["id"]) is not None

        # Stop and start.
        assert (await _act(fleet, sid, "stop"))["status"] == "succeeded"
        await _wait_service(fleet, sid, "stopped")
        assert (await off(node2_client.containers.get, f"{name}-web-1")).status == "exited"
        assert (await _act(fleet, sid, "start"))["status"] == "succeeded"
        await _wait_service(fleet, sid, "running")

        # Update: a new definition, redeployed on node 2.
        patched = await fleet.http.put(
            f"/api/v1/services/{sid}", json={"compose": web(port, "two")}, headers=fleet.headers
        )
        assert patched.status_code == 200, patched.text
        assert (await _act(fleet, sid, "deploy"))["status"] == "succeeded"
        await _wait_service(fleet, sid, "running")
        env = (await off(node2_client.containers.get, f"{name}-web-1")).attrs["Config"]["Env"]
        assert "GREETING=two" in env

        # Cleanup on node 2, limited to this test's label.
        label = f"io.dockyard.test-run={name}"
        leftover = await off(
            node2_client.containers.create,
            IMAGE,
            name=f"{name}-leftover",
            labels={"io.dockyard.test": "1", **dict([label.split("=")])},
        )
        plan = await fleet.http.post(
            f"/api/v1/nodes/{node['id']}/cleanup",
            json={"dry_run": True, "targets": ["stopped_containers"], "label": label},
            headers=fleet.headers,
        )
        assert plan.status_code == 200, plan.text
        assert [i["id"] for i in plan.json()["items"]] == [leftover.id]
        done = await _job(
            fleet,
            await fleet.http.post(
                f"/api/v1/nodes/{node['id']}/cleanup",
                json={"dry_run": False, "plan_id": plan.json()["plan_id"]},
                headers=fleet.headers,
            ),
        )
        assert done["status"] == "succeeded", done
        with pytest.raises(docker.errors.NotFound):
            await off(node2_client.containers.get, leftover.id)

        # Kill the agent: offline within two heartbeats; actions fail fast and clearly.
        agent.kill()
        killed_at = time.monotonic()
        await fleet.wait_online(node["id"], online=False, timeout_s=2 * HEARTBEAT_S + 1)
        assert time.monotonic() - killed_at <= 2 * HEARTBEAT_S + 0.5
        started = time.monotonic()
        images = await fleet.http.get(f"/api/v1/nodes/{node['id']}/images", headers=fleet.headers)
        assert time.monotonic() - started < 2
        assert images.status_code == 503, images.text
        error = images.json()["error"]
        assert error["code"] == "node_offline"
        assert error["message"].startswith("Node node2 is offline: its agent was last seen ")
        started = time.monotonic()
        failed = await _act(fleet, sid, "stop")
        assert failed["status"] == "failed"
        assert time.monotonic() - started < 5
        assert "offline" in str(failed), failed
        assert (await fleet.node(node["id"]))["status"] == "offline"

        # While it is away, the container is stopped on the host.
        await off(lambda: node2_client.containers.get(f"{name}-web-1").stop(timeout=1))
        agent.start()  # no token: the credential is in its data dir
        await fleet.wait_online(node["id"], timeout_s=30)
        await _wait_service(fleet, sid, "stopped", timeout_s=15)

        # Delete: gone from node 2.
        assert (await _act(fleet, sid, "delete"))["status"] == "succeeded"
        assert not await off(_project, node2_client, name)
    finally:
        await off(_cleanup, node2_client, name)


async def test_two_agents_each_reach_their_own_engine(
    fleet: FleetServer, agents: list[AgentProcess], node2_host: str, node3_host: str
) -> None:
    node2, agent2 = await _start_agent(fleet, agents, node2_host, f"n2-{secrets.token_hex(2)}")
    node3, agent3 = await _start_agent(fleet, agents, node3_host, f"n3-{secrets.token_hex(2)}")
    # Once online, the agents stay online (heartbeats keep flowing from the first session).
    deadline = time.monotonic() + 3 * HEARTBEAT_S
    while time.monotonic() < deadline:
        assert fleet.runtime.agents.is_online(node2["id"])
        assert fleet.runtime.agents.is_online(node3["id"])
        await asyncio.sleep(0.1)
    facts2 = (await fleet.node(node2["id"]))["engine"]
    facts3 = (await fleet.node(node3["id"]))["engine"]
    assert facts2["reachable"]
    assert facts3["reachable"]
    assert facts2["docker_root_dir"] != facts3["docker_root_dir"]
    # Revoking node 3 stops its agent for good; node 2 stays online.
    response = await fleet.http.post(f"/api/v1/nodes/{node3['id']}/revoke", headers=fleet.headers)
    assert response.status_code == 200
    assert agent3.proc is not None
    await asyncio.to_thread(agent3.proc.wait, 10)
    assert agent3.proc.returncode == 3, agent3.log()
    assert fleet.runtime.agents.is_online(node2["id"])
    assert not fleet.runtime.agents.is_online(node3["id"])

    # Rotation reaches the running agent; after a restart it signs in with the new one.
    rotated = await fleet.http.post(
        f"/api/v1/nodes/{node2['id']}/rotate-credentials", headers=fleet.headers
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["delivered"] is True
    agent2.kill()
    await fleet.wait_online(node2["id"], online=False, timeout_s=2 * HEARTBEAT_S + 1)
    agent2.start()
    await fleet.wait_online(node2["id"], timeout_s=30)


async def test_agents_with_bad_tokens_are_refused_for_good(
    fleet: FleetServer, agents: list[AgentProcess], node2_host: str
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from dockyard.kit.clock import utcnow
    from dockyard.nodes.models import Node

    wrong = new_agent(fleet, node2_host, agents)
    wrong.start("dye_" + "A" * 43)
    assert wrong.proc is not None
    await asyncio.to_thread(wrong.proc.wait, 20)
    assert wrong.proc.returncode == 3, wrong.log()

    node = await fleet.create_node(f"late-{secrets.token_hex(2)}")
    async with fleet.runtime.db.session() as session:
        await session.execute(
            update(Node)
            .where(Node.id == node["id"])
            .values(enrollment_expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    late = new_agent(fleet, node2_host, agents)
    late.start(node["enrollment_token"])
    assert late.proc is not None
    await asyncio.to_thread(late.proc.wait, 20)
    assert late.proc.returncode == 3, late.log()
    assert "expired" in late.log()
    assert not fleet.runtime.agents.is_online(node["id"])
    assert (await fleet.http.get("/healthz")).status_code == 200
