"""The agent WebSocket and tunnel against misbehaving and well-behaved peers (real server).

Each bad peer is rejected with the protocol's close code, and the server keeps serving:
another agent stays online and `/healthz` answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import docker
import pytest
from websockets.exceptions import ConnectionClosed

from dockyard.agent.protocol import Heartbeat, encode
from dockyard.engine.adapter import DockerEngine
from dockyard.engine.errors import NodeOfflineError
from tests.integration.fleet.conftest import HEARTBEAT_S, FleetServer
from tests.integration.fleet.fake_agent import FakeAgent, say_hello, ws_connect


async def _enrolled(fleet: FleetServer, name: str) -> tuple[dict[str, Any], str]:
    node = await fleet.create_node(name)
    credential = (await fleet.enroll(node["enrollment_token"]))["credential"]
    return node, str(credential)


async def _closed_with(ws: Any, timeout_s: float = 5) -> tuple[int | None, str | None]:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout_s)
    except ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)


@pytest.fixture(scope="module")
async def witness(fleet: FleetServer) -> AsyncIterator[FakeAgent]:
    """A good agent that must stay online whatever the bad ones do."""
    node, credential = await _enrolled(fleet, "witness")
    agent = FakeAgent(fleet.ws_url, credential)
    await agent.start()
    await fleet.wait_online(node["id"])
    yield agent
    await agent.stop()


async def _server_still_serves(fleet: FleetServer, witness: FakeAgent) -> None:
    assert (await fleet.http.get("/healthz")).status_code == 200
    assert fleet.runtime.agents.is_online(witness.welcome["node_id"])
    assert not witness.closed.is_set()


async def test_good_agent_is_welcomed_and_online(fleet: FleetServer, witness: FakeAgent) -> None:
    welcome = witness.welcome
    assert welcome["type"] == "welcome"
    assert welcome["heartbeat_s"] == HEARTBEAT_S
    assert welcome["max_frame_bytes"] == fleet.runtime.settings.agent_max_frame_bytes
    node = await fleet.node(welcome["node_id"])
    assert node["status"] == "online"
    assert node["agent"]["version"] == "fake"
    assert node["agent"]["connected_at"] is not None
    assert node["agent"]["remote_addr"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("first", "code", "reason"),
    [
        ("not json at all", 1002, "invalid JSON"),
        (json.dumps({"v": 1, "type": "teleport"}), 1002, "unknown message type"),
        (encode(Heartbeat(sent_at="2026-01-01T00:00:00Z")), 1008, "hello"),
        (
            json.dumps(
                {"v": 1, "type": "hello", "credential": "dyn_1_" + "x" * 43}
                | {"agent_version": "x", "docker_host": "", "hostname": ""}
            ),
            1008,
            "invalid credential",
        ),
    ],
)
async def test_bad_first_messages_are_refused(
    fleet: FleetServer, witness: FakeAgent, first: str, code: int, reason: str
) -> None:
    async with ws_connect(fleet.ws_url) as ws:
        await ws.send(first)
        got_code, got_reason = await _closed_with(ws)
    assert got_code == code
    assert reason in (got_reason or "")
    await _server_still_serves(fleet, witness)


async def test_silent_peer_times_out(fleet: FleetServer, witness: FakeAgent) -> None:
    fleet.runtime.agents.hello_timeout_s = 0.5
    try:
        async with ws_connect(fleet.ws_url) as ws:
            started = time.monotonic()
            code, reason = await _closed_with(ws)
        assert code == 1008
        assert reason == "authentication timeout"
        assert time.monotonic() - started < 3
    finally:
        fleet.runtime.agents.hello_timeout_s = 10.0
    await _server_still_serves(fleet, witness)


async def test_credential_of_one_node_cannot_act_as_another(
    fleet: FleetServer, witness: FakeAgent
) -> None:
    _, credential2 = await _enrolled(fleet, "imp-2")
    node3, _ = await _enrolled(fleet, "imp-3")
    secret = credential2.rsplit("_", 1)[1]
    forged = f"dyn_{node3['id']}_{secret}"
    async with ws_connect(fleet.ws_url) as ws:
        await ws.send(
            json.dumps(
                {"v": 1, "type": "hello", "credential": forged}
                | {"agent_version": "x", "docker_host": "", "hostname": ""}
            )
        )
        code, reason = await _closed_with(ws)
    assert (code, reason) == (1008, "invalid credential")
    assert not fleet.runtime.agents.is_online(node3["id"])
    await _server_still_serves(fleet, witness)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{broken", 1002),
        (json.dumps({"v": 1, "type": "format_disk"}), 1002),
        (json.dumps({"v": 1, "type": "events", "items": [{"seq": 0, "event": {}}]}), 1002),
        (b"\x00\x00", 1002),  # a binary frame shorter than its stream id
        ("x" * (2 * 1024 * 1024), 1009),  # over the 1 MiB frame limit
    ],
)
async def test_malformed_frames_close_only_that_agent(
    fleet: FleetServer, witness: FakeAgent, frame: str | bytes, code: int
) -> None:
    node, credential = await _enrolled(fleet, f"bad-{time.monotonic_ns()}")
    async with ws_connect(fleet.ws_url) as ws:
        await say_hello(ws, credential)
        await fleet.wait_online(node["id"])
        await ws.send(frame)
        got, _ = await _closed_with(ws)
    assert got == code
    await fleet.wait_online(node["id"], online=False, timeout_s=5)
    await _server_still_serves(fleet, witness)


async def test_revoke_disconnects_at_once_and_for_good(
    fleet: FleetServer, witness: FakeAgent
) -> None:
    node, credential = await _enrolled(fleet, "to-revoke")
    agent = FakeAgent(fleet.ws_url, credential)
    await agent.start()
    await fleet.wait_online(node["id"])
    started = time.monotonic()
    response = await fleet.http.post(f"/api/v1/nodes/{node['id']}/revoke", headers=fleet.headers)
    assert response.status_code == 200, response.text
    await asyncio.wait_for(agent.closed.wait(), 2)
    assert time.monotonic() - started < 2
    assert (agent.close_code, agent.close_reason) == (1008, "credential revoked")
    assert not fleet.runtime.agents.is_online(node["id"])
    async with ws_connect(fleet.ws_url) as ws:
        await ws.send(
            json.dumps(
                {"v": 1, "type": "hello", "credential": credential}
                | {"agent_version": "x", "docker_host": "", "hostname": ""}
            )
        )
        assert await _closed_with(ws) == (1008, "credential revoked")
    await _server_still_serves(fleet, witness)


async def test_newer_connection_replaces_older(fleet: FleetServer, witness: FakeAgent) -> None:
    node, credential = await _enrolled(fleet, "twice")
    first = FakeAgent(fleet.ws_url, credential)
    await first.start()
    second = FakeAgent(fleet.ws_url, credential)
    await second.start()
    await asyncio.wait_for(first.closed.wait(), 3)
    assert (first.close_code, first.close_reason) == (1000, "replaced by a newer connection")
    assert fleet.runtime.agents.is_online(node["id"])
    assert not second.closed.is_set()
    await second.stop()
    await fleet.wait_online(node["id"], online=False, timeout_s=5)


async def test_missed_heartbeats_mark_the_node_offline(
    fleet: FleetServer, witness: FakeAgent
) -> None:
    node, credential = await _enrolled(fleet, "quiet")
    agent = FakeAgent(fleet.ws_url, credential)
    await agent.start()
    await fleet.wait_online(node["id"])
    agent.heartbeats = False
    started = time.monotonic()
    await fleet.wait_online(node["id"], online=False, timeout_s=5)
    assert time.monotonic() - started <= 2 * HEARTBEAT_S + 0.5
    body = await fleet.node(node["id"])
    assert body["status"] == "offline"
    assert body["last_seen"] is not None
    await agent.stop()
    await _server_still_serves(fleet, witness)


async def test_rotation_delivers_a_new_credential(fleet: FleetServer, witness: FakeAgent) -> None:
    node, credential = await _enrolled(fleet, "rotating")
    agent = FakeAgent(fleet.ws_url, credential)
    await agent.start()
    await fleet.wait_online(node["id"])
    response = await fleet.http.post(
        f"/api/v1/nodes/{node['id']}/rotate-credentials", headers=fleet.headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "delivered": True,
        "enrollment_token": None,
        "enrollment_expires_at": None,
        "agent_command": None,
    }
    assert len(agent.rotated) == 1
    assert agent.rotated[0] != credential
    await agent.stop()
    await fleet.wait_online(node["id"], online=False, timeout_s=5)
    # The old credential no longer works; the new one does.
    async with ws_connect(fleet.ws_url) as ws:
        await ws.send(
            json.dumps(
                {"v": 1, "type": "hello", "credential": credential}
                | {"agent_version": "x", "docker_host": "", "hostname": ""}
            )
        )
        assert await _closed_with(ws) == (1008, "invalid credential")
    again = FakeAgent(fleet.ws_url, agent.rotated[0])
    await again.start()
    await fleet.wait_online(node["id"])
    await again.stop()


async def test_tunnel_reaches_the_agents_engine_and_fails_fast_offline(
    fleet: FleetServer, witness: FakeAgent, node2_host: str
) -> None:
    node, credential = await _enrolled(fleet, "tunnel")
    engine_path = node2_host.removeprefix("unix://")
    agent = FakeAgent(fleet.ws_url, credential, engine_path=engine_path)
    await agent.start()
    await fleet.wait_online(node["id"])
    url = fleet.runtime.agents.socket_url(node["id"])

    def node2_name(base_url: str) -> str:
        client = docker.DockerClient(base_url=base_url, version="auto", timeout=10)
        try:
            return str(client.info()["Name"]) + "/" + str(len(client.containers.list(all=True)))
        finally:
            client.close()

    through = await asyncio.to_thread(node2_name, url)
    direct = await asyncio.to_thread(node2_name, node2_host)
    assert through == direct

    await agent.stop()
    await fleet.wait_online(node["id"], online=False, timeout_s=5)
    engine = DockerEngine(url, timeout_s=30)
    try:
        started = time.monotonic()
        with pytest.raises(NodeOfflineError) as caught:
            await engine.list_containers()
        assert time.monotonic() - started < 2
        assert caught.value.code == "node_offline"
        assert caught.value.message.startswith("Node tunnel is offline: its agent was last seen")
    finally:
        await engine.close()
    # The API says so too: a clear 503, not a 502 with raw text.
    started = time.monotonic()
    response = await fleet.http.get(f"/api/v1/nodes/{node['id']}/images", headers=fleet.headers)
    assert time.monotonic() - started < 2
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "node_offline"
    assert "Node tunnel is offline" in error["message"]


async def test_pushed_state_and_events_feed_the_nodes_cache(
    fleet: FleetServer, witness: FakeAgent, node2_host: str, test_image: str
) -> None:
    from dockyard.agent.protocol import EventItem, Events, State

    node, credential = await _enrolled(fleet, "pushing")
    agent = FakeAgent(fleet.ws_url, credential, engine_path=node2_host.removeprefix("unix://"))
    await agent.start()
    await fleet.wait_online(node["id"])
    direct = docker.DockerClient(base_url=node2_host, timeout=30)
    name = f"dy-push-{time.monotonic_ns()}"
    try:
        # docker-py blocks: in a thread, never on the loop the server shares with the test.
        container = await asyncio.to_thread(
            direct.containers.create, test_image, name=name, labels={"io.dockyard.test": "1"}
        )
        listed = await asyncio.to_thread(direct.api.containers, all=True)
        await agent.send(encode(State(containers=listed)))
        watcher = fleet.runtime.state.watcher(node["id"])
        assert watcher is not None
        assert watcher.push
        await watcher.wait_connected(10)
        cache = fleet.runtime.state.cache(node["id"])
        assert cache is not None
        assert cache.get(container.id) is not None
        assert cache.get(container.id).state == "created"  # type: ignore[union-attr]

        await asyncio.to_thread(container.start)

        def start_event() -> dict[str, Any]:
            events = direct.events(
                decode=True,
                filters={"container": container.id, "event": "start"},
                since=int(time.time()) - 60,
                until=int(time.time()) + 1,
            )
            return next(e for e in events if e.get("Action") == "start")

        start = await asyncio.to_thread(start_event)
        await agent.send(encode(Events(items=[EventItem(seq=7, event=start)])))
        deadline = time.monotonic() + 3  # well before the 5 s reconcile would repair it
        while cache.get(container.id).state != "running":  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the pushed start event did not apply"
            await asyncio.sleep(0.05)
        while 7 not in agent.acks:
            assert time.monotonic() < deadline, "the events were not acknowledged"
            await asyncio.sleep(0.05)

        await agent.stop()
        await fleet.wait_online(node["id"], online=False, timeout_s=5)
        deadline = time.monotonic() + 5
        while watcher.connected:
            assert time.monotonic() < deadline, "the watcher still reads as connected"
            await asyncio.sleep(0.05)
    finally:

        def remove() -> None:
            with contextlib.suppress(docker.errors.NotFound):
                direct.containers.get(name).remove(force=True)
            direct.close()

        await asyncio.to_thread(remove)


async def test_agent_without_its_engine_answers_engine_unavailable(
    fleet: FleetServer, witness: FakeAgent
) -> None:
    from dockyard.engine.errors import EngineUnavailableError

    node, credential = await _enrolled(fleet, "no-engine")
    agent = FakeAgent(fleet.ws_url, credential, engine_path="/nonexistent/docker.sock")
    await agent.start()
    await fleet.wait_online(node["id"])
    engine = DockerEngine(fleet.runtime.agents.socket_url(node["id"]), timeout_s=30)
    try:
        started = time.monotonic()
        with pytest.raises(EngineUnavailableError) as caught:
            await engine.list_containers()
        assert time.monotonic() - started < 2
        assert not isinstance(caught.value, NodeOfflineError)
        assert caught.value.message.startswith("Node no-engine: ")
    finally:
        await engine.close()
        await agent.stop()
    await _server_still_serves(fleet, witness)


async def test_a_busy_database_during_hello_closes_with_try_again(
    fleet: FleetServer, witness: FakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    _, credential = await _enrolled(fleet, "busy-db")

    async def locked(*_: Any) -> int:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    monkeypatch.setattr(fleet.runtime.agents, "_authenticate", locked)
    async with ws_connect(fleet.ws_url) as ws:
        await ws.send(
            json.dumps(
                {"v": 1, "type": "hello", "credential": credential}
                | {"agent_version": "x", "docker_host": "", "hostname": ""}
            )
        )
        assert await _closed_with(ws) == (1011, "server busy, try again")
    await _server_still_serves(fleet, witness)


async def test_metrics_of_many_agents_are_stored_by_one_batching_writer(
    fleet: FleetServer, witness: FakeAgent
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from dockyard.agent.protocol import Metrics
    from dockyard.metrics.models import HostPoint
    from dockyard.metrics.samples import HostSample, MetricsSample

    host = HostSample(
        cpu_percent=5.0,
        cpu_count=2,
        memory_used_bytes=1,
        memory_total_bytes=2,
        disk_used_bytes=1,
        disk_total_bytes=2,
        net_rx_bytes=0,
        net_tx_bytes=0,
        load_1=0.0,
        load_5=0.0,
        load_15=0.0,
        listening_ports=[22, 8700],
    )
    crowd: list[tuple[int, FakeAgent]] = []
    for i in range(10):
        node, credential = await _enrolled(fleet, f"crowd-{i}")
        agent = FakeAgent(fleet.ws_url, credential)
        await agent.start()
        crowd.append((node["id"], agent))
    try:
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        for second in range(3):
            sample = MetricsSample(taken_at=t0 + timedelta(seconds=second), host=host)
            await asyncio.gather(*(a.send(encode(Metrics(sample=sample))) for _, a in crowd))
        ids = [node_id for node_id, _ in crowd]
        deadline = time.monotonic() + 15
        while True:
            async with fleet.runtime.db.read_session() as session:
                stored = (
                    await session.execute(select(func.count()).where(HostPoint.node_id.in_(ids)))
                ).scalar_one()
            if stored == 30:
                break
            assert time.monotonic() < deadline, f"{stored} of 30 samples stored"
            await asyncio.sleep(0.2)
        assert fleet.runtime.agents.listening_ports(ids[0]) == {22, 8700}
    finally:
        await asyncio.gather(*(a.stop() for _, a in crowd))
    await _server_still_serves(fleet, witness)
