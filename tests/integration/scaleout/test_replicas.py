"""Two `dockyard serve` replicas + PostgreSQL + Redis + a worker behave as one.

An agent connected to replica A serves commands issued through replica B (and run by the
worker); replica A is killed in the middle of a long deploy; the agent moves to B; the job
ends once (succeeded, or failed and reported), never twice; a browser on B saw it all.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import httpx
import pytest

from bench.fleetkit import agent_process, clean_environ, dockyard_executable
from bench.replicas import ReplicaSet, replica_set
from tests.conftest import remove_compose_project
from tests.integration.scaleout.conftest import open_browser_socket

CLI = [dockyard_executable()]
IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")

# `db` turns healthy only after a while and `web` waits for it: a deploy that takes long
# enough to kill a replica in its middle.
SLOW_COMPOSE = f"""
services:
  db:
    image: {IMAGE}
    command: ["sh", "-c", "sleep 10; touch /tmp/ready; exec sleep 3600"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 1s
      retries: 120
  web:
    image: {IMAGE}
    command: ["sh", "-c", "exec sleep 3600"]
    stop_grace_period: 1s
    depends_on:
      db:
        condition: service_healthy
"""


@pytest.fixture(scope="module")
def replicas(scaleout_env: None) -> Iterator[ReplicaSet]:
    with replica_set(replicas=2, worker=True, nginx=False) as rs:
        yield rs


@pytest.fixture
def node2() -> Iterator[tuple[str, docker.DockerClient]]:
    """Node 2's engine, with the test image (an image cleanup test may have pruned it)."""
    host = os.environ["DOCKYARD_TEST_NODE2_DOCKER_HOST"]
    client = docker.DockerClient(base_url=host, timeout=30)
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        main = docker.DockerClient(base_url=os.environ["DOCKYARD_TEST_DOCKER_HOST"], timeout=60)
        try:
            client.images.load(b"".join(main.images.get(IMAGE).save()))
        finally:
            main.close()
    yield host, client
    client.close()


def _project(client: docker.DockerClient, name: str) -> list[Any]:
    label = f"com.docker.compose.project={name}"
    return list(client.containers.list(all=True, filters={"label": label}))


async def _node(http: httpx.AsyncClient, base_url: str, node_id: int) -> dict[str, Any]:
    response = await http.get(f"{base_url}/api/v1/nodes/{node_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _wait_node(
    http: httpx.AsyncClient,
    base_url: str,
    node_id: int,
    timeout_s: float,
    held_by: Callable[[str | None], bool] = bool,
) -> dict[str, Any]:
    """Until the node is online through `base_url`, its agent held by a replica for which
    `held_by(replica id)` is true."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = await _node(http, base_url, node_id)
        if body["status"] == "online" and held_by(body["agent"]["replica"]):
            return body
        assert time.monotonic() < deadline, f"node not online as expected: {body}"
        await asyncio.sleep(0.25)


async def _job(
    http: httpx.AsyncClient, base_url: str, job_id: str, timeout_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = (await http.get(f"{base_url}/api/v1/jobs/{job_id}")).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        await asyncio.sleep(0.25)


async def _collect(ws: Any, into: list[dict[str, Any]]) -> None:
    async for raw in ws:
        into.append(json.loads(raw))


async def test_an_agent_on_replica_a_serves_replica_b_and_survives_a_dying(
    replicas: ReplicaSet, node2: tuple[str, docker.DockerClient]
) -> None:
    rs = replicas
    node2_host, node2_client = node2
    ids: dict[str, Any] = {}
    async with httpx.AsyncClient(headers=rs.headers(), timeout=30) as http:
        for replica in rs.replicas:
            info = (await http.get(f"{replica.base_url}/api/v1/system/info")).json()
            ids[info["replica"]] = replica
        assert len(ids) == 2, ids
        first, second = rs.replicas
        created = await http.post(f"{second.base_url}/api/v1/nodes", json={"name": "far-node"})
        assert created.status_code == 201, created.text
        node_id = created.json()["id"]
        token = created.json()["enrollment_token"]
        # The agent knows both replicas and dials the first; "A" is whichever holds it once
        # both agree (a reconnect on this busy machine may have moved it already), "B" the
        # other.
        with agent_process(f"{first.base_url},{second.base_url}", token, node2_host) as agent:
            try:
                online = await _wait_node(http, first.base_url, node_id, 30)
                a_id = online["agent"]["replica"]
                on_second = await _wait_node(
                    http, second.base_url, node_id, 15, lambda r: r == a_id
                )
                a = ids[a_id]
                b = second if a is first else first
                # B answers for the node too: online, through A, with its engine's facts.
                on_b = online if b is first else on_second
                assert on_b["engine"]["reachable"] is True, on_b["engine"]
                assert on_b["engine"]["name"] == node2_client.info()["Name"]
            except BaseException:
                print(agent.tail(40), rs.logs())
                raise

            # Both replicas registered; A holds the agent. The API and the CLI say so.
            listed = (await http.get(f"{b.base_url}/api/v1/system/replicas")).json()["items"]
            by_id = {r["id"]: r for r in listed}
            assert len(by_id) == 2, listed
            assert all(r["alive"] for r in listed), listed
            assert by_id[a_id]["agents"] == 1, listed
            assert by_id[a_id]["url"] == a.base_url, listed
            assert [r["current"] for r in listed if r["id"] != a_id] == [True], listed
            cli = await asyncio.to_thread(
                subprocess.run,
                [*CLI, "replica", "list", "--json", "--server", b.base_url],
                capture_output=True,
                text=True,
                timeout=60,
                env=clean_environ(
                    DOCKYARD_TOKEN=rs.admin_token(), HOME=str(rs.replicas[1].data_dir)
                ),
                check=False,
            )
            assert cli.returncode == 0, cli.stderr
            assert {r["id"] for r in json.loads(cli.stdout)} == set(by_id), cli.stdout

            browser = await open_browser_socket(b.base_url, rs.admin_token())
            seen: list[dict[str, Any]] = []
            reader = asyncio.create_task(_collect(browser, seen))
            name = f"rs-{secrets.token_hex(4)}"
            try:
                service = await http.post(
                    f"{b.base_url}/api/v1/services",
                    json={"name": name, "compose": SLOW_COMPOSE, "node_id": node_id},
                )
                assert service.status_code == 201, service.text
                sid = service.json()["id"]
                deploy = await http.post(f"{b.base_url}/api/v1/services/{sid}/deploy")
                assert deploy.status_code == 202, deploy.text
                job_id = deploy.json()["job"]["id"]

                # Mid-way: the worker started `db` on node 2 through A and waits for it
                # to turn healthy.
                deadline = time.monotonic() + 60
                while not [c for c in _project(node2_client, name) if c.status == "running"]:
                    early = (await http.get(f"{b.base_url}/api/v1/jobs/{job_id}")).json()
                    assert early["status"] in ("queued", "running"), early["error"]
                    assert time.monotonic() < deadline, rs.logs()
                    await asyncio.sleep(0.2)
                running = (await http.get(f"{b.base_url}/api/v1/jobs/{job_id}")).json()
                assert running["status"] == "running", running
                a.kill()

                # The agent moves to B, which now holds it.
                await _wait_node(http, b.base_url, node_id, 30, lambda r: r not in (None, a_id))
                job = await _job(http, b.base_url, job_id, 120)
                print("the job A's death interrupted:", job["status"], job["error"])
                if job["status"] == "failed":  # failed and reported, with the reason
                    assert job["error"], job
                # Never twice: no second container of a compose service (`-db-2`), and all
                # of them on node 2's engine.
                names = sorted(c.name for c in _project(node2_client, name))
                expected = [f"{name}-db-1", f"{name}-web-1"]
                if job["status"] == "succeeded":
                    assert names == expected, names
                else:  # what a failed deploy created may be cleaned up
                    assert set(names) <= set(expected), names

                # Through B alone now, a deploy completes on node 2.
                again = await http.post(f"{b.base_url}/api/v1/services/{sid}/deploy")
                assert again.status_code == 202, again.text
                second = await _job(http, b.base_url, again.json()["job"]["id"], 120)
                assert second["status"] == "succeeded", (
                    job["status"],
                    job["error"],
                    second["error"],
                    rs.logs(),
                )
                names = sorted(c.name for c in _project(node2_client, name))
                assert names == expected, names

                # The browser on B saw the first job's progress and end, and the second's.
                await asyncio.sleep(1.0)
                for jid, status in ((job_id, job["status"]), (second["id"], "succeeded")):
                    mine = [m for m in seen if (m.get("data") or {}).get("job_id") == jid]
                    types = [m["type"] for m in mine]
                    assert "job.progress" in types, (jid, types)
                    finished = [m for m in mine if m["type"] == "job.finished"]
                    assert [m["data"]["status"] for m in finished] == [status], finished
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                await browser.close()
                remove_compose_project(node2_client, name)


async def test_a_stopping_replica_hands_its_agents_over_at_once(
    replicas: ReplicaSet, node2: tuple[str, docker.DockerClient]
) -> None:
    rs = replicas
    node2_host, _ = node2
    while len(rs.live()) < 2:  # the test before killed one
        await asyncio.to_thread(rs.start_replica)
    first, second = rs.live()[:2]
    async with httpx.AsyncClient(headers=rs.headers(), timeout=30) as http:
        ids: dict[str, Any] = {}
        for replica in (first, second):
            info = (await http.get(f"{replica.base_url}/api/v1/system/info")).json()
            ids[info["replica"]] = replica
        created = await http.post(f"{second.base_url}/api/v1/nodes", json={"name": "handed-node"})
        assert created.status_code == 201, created.text
        node_id = created.json()["id"]
        token = created.json()["enrollment_token"]
        with agent_process(f"{first.base_url},{second.base_url}", token, node2_host) as agent:
            online = await _wait_node(http, first.base_url, node_id, 30)
            holder = ids[online["agent"]["replica"]]
            other = second if holder is first else first
            other_id = next(k for k, v in ids.items() if v is other)
            await _wait_node(http, other.base_url, node_id, 15, lambda r: r != other_id)

            await asyncio.to_thread(holder.stop)  # SIGTERM: a graceful shutdown
            assert holder.process.returncode == 0, holder.tail(40)
            body = await _wait_node(http, other.base_url, node_id, 15, lambda r: r == other_id)
            assert body["engine"]["reachable"] is True, body["engine"]
            log = agent.tail(60)
            # Told "service restart" (1012), it reconnected at once, not after a backoff.
            assert "1012" in log, log
            waits = re.findall(r"reconnecting to \S+ in ([0-9.]+) s", log)
            assert waits, log
            assert float(waits[-1]) <= 0.5, log
            listed = (await http.get(f"{other.base_url}/api/v1/system/replicas")).json()
            assert holder not in [ids.get(r["id"]) for r in listed["items"]], listed
