"""Fleet-wide views on real engines: the local engine and node 2 in one container table,
visibility, an unreachable node, container detail, and streamed log search."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import docker
import pytest

from dockyard.nodes.models import Node
from dockyard.services.models import Service
from tests.conftest import LiveApp, add_user, assert_error, audit_rows, require_env, unique_email
from tests.integration.state.docker_helpers import TEST_LABELS, Containers, containers

MARK = f"fleetmark-{secrets.token_hex(4)}"
TWO_LINES = f"echo {MARK} one; sleep 3; echo {MARK} two; echo unrelated; exec sleep 3600"


@dataclass
class Fleet:
    local: Containers
    node2: Containers
    # container ids
    local_box: str
    local_exited: str
    node2_box: str
    secret_box: str


def _wait_logs(client: docker.APIClient, cid: str, needle: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if needle in client.logs(cid).decode():
            return
        time.sleep(0.2)
    pytest.fail(f"container {cid[:12]} never printed {needle!r}", pytrace=False)


@pytest.fixture(scope="module")
def node2_host() -> str:
    host = require_env("DOCKYARD_TEST_NODE2_DOCKER_HOST")
    client = docker.APIClient(base_url=host, version="auto", timeout=10)
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(f"node 2's engine at {host} does not answer: {exc}", pytrace=False)
    finally:
        client.close()
    return host


@pytest.fixture(scope="module")
def fleet(docker_host: str, node2_host: str, test_image: str) -> Iterator[Fleet]:
    with containers(docker_host, test_image) as local, containers(node2_host, test_image) as n2:
        local_box = local.run(["sh", "-c", TWO_LINES])
        local_exited = local.run(["sh", "-c", f"echo {MARK} exited; exit 3"])
        node2_box = n2.run(["sh", "-c", TWO_LINES])
        made = local.client.create_container(
            local.image,
            ["sleep", "3600"],
            name=f"dockyard-test-{secrets.token_hex(4)}",
            labels=TEST_LABELS,
            environment={"DB_PASSWORD": "hunter2-secret", "PLAIN_SETTING": "visible-value"},
        )
        secret_box = str(made["Id"])
        local.created.append(secret_box)
        local.client.start(secret_box)
        _wait_logs(local.client, local_box, f"{MARK} two")
        _wait_logs(n2.client, node2_box, f"{MARK} two")
        local.client.wait(local_exited, timeout=30)
        yield Fleet(local, n2, local_box, local_exited, node2_box, secret_box)


@dataclass
class Env:
    app: LiveApp
    admin: dict[str, str]
    local_id: int
    node2_id: int
    node2_name: str
    broken_id: int


async def _add_node(app: LiveApp, name: str, docker_host: str) -> int:
    async with app.runtime.db.session() as session:
        node = Node(name=name, kind="agent", docker_host=docker_host, labels={})
        session.add(node)
        await session.commit()
        return node.id


@pytest.fixture(scope="module")
async def env(shared_api: LiveApp, node2_host: str, fleet: Fleet) -> AsyncIterator[Env]:
    app = shared_api
    admin = app.bearer(await app.token())
    async with app.runtime.db.read_session() as session:
        from sqlalchemy import select

        local = (await session.execute(select(Node).where(Node.kind == "local"))).scalars().first()
    assert local is not None
    suffix = secrets.token_hex(3)
    node2_name = f"node2-{suffix}"
    node2_id = await _add_node(app, node2_name, node2_host)
    broken_id = await _add_node(
        app, f"gone-{suffix}", f"unix:///tmp/dockyard-missing-{suffix}/docker.sock"
    )
    return Env(app, admin, local.id, node2_id, node2_name, broken_id)


async def _list(env: Env, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    response = await env.app.client.get(
        "/api/v1/containers", params={"limit": 500, **params}, headers=headers or env.admin
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _list_until(
    env: Env, wanted: set[str], headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    """The local node reads from the state cache, which follows events: allow it a moment."""
    deadline = time.monotonic() + 15
    while True:
        body = await _list(env, headers, **params)
        if wanted <= {row["id"] for row in body["items"]} or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.3)


def _ids(body: dict[str, Any]) -> set[str]:
    return {row["id"] for row in body["items"]}


async def test_one_table_across_nodes(env: Env, fleet: Fleet) -> None:
    body = await _list_until(env, {fleet.local_box, fleet.node2_box, fleet.local_exited})
    rows = {row["id"]: row for row in body["items"]}
    assert rows[fleet.local_box]["node_id"] == env.local_id
    assert rows[fleet.node2_box]["node_id"] == env.node2_id
    assert rows[fleet.node2_box]["node_name"] == env.node2_name
    assert rows[fleet.local_box]["state"] == "running"
    assert rows[fleet.local_box]["status"].startswith("Up")
    assert rows[fleet.local_exited]["state"] == "exited"
    assert "(3)" in rows[fleet.local_exited]["status"]
    assert rows[fleet.node2_box]["image"] == fleet.node2.image
    assert rows[fleet.node2_box]["created"] is not None
    assert rows[fleet.node2_box]["service_id"] is None
    # The unreachable node is reported; the others still answer.
    unavailable = {u["node_id"]: u for u in body["unavailable_nodes"]}
    assert env.broken_id in unavailable
    assert unavailable[env.broken_id]["error"]
    assert env.local_id not in unavailable
    assert env.node2_id not in unavailable
    nodes = {n["node_id"]: n for n in body["nodes"]}
    assert nodes[env.broken_id]["available"] is False
    assert nodes[env.node2_id]["available"] is True
    assert body["total"] == len(body["items"])


async def test_filters_and_sorting(env: Env, fleet: Fleet) -> None:
    await _list_until(env, {fleet.local_box, fleet.local_exited})
    only2 = await _list(env, node_id=env.node2_id)
    assert fleet.node2_box in _ids(only2)
    assert {row["node_id"] for row in only2["items"]} == {env.node2_id}
    assert only2["unavailable_nodes"] == []  # the broken node was not asked

    exited = await _list(env, state="exited")
    assert fleet.local_exited in _ids(exited)
    assert fleet.local_box not in _ids(exited)
    assert {row["state"] for row in exited["items"]} == {"exited"}

    image = await _list(env, image=fleet.local.image.split("/")[-1].upper())
    assert {fleet.local_box, fleet.node2_box} <= _ids(image)
    assert (await _list(env, image="no-such-image-anywhere"))["items"] == []

    node2_name = fleet.node2.client.inspect_container(fleet.node2_box)["Name"].lstrip("/")
    by_name = await _list(env, q=node2_name.upper())
    assert _ids(by_name) == {fleet.node2_box}
    assert _ids(await _list(env, q=fleet.node2_box[:12])) == {fleet.node2_box}

    page = await _list(env, sort="name", order="desc", limit=2, offset=0)
    assert len(page["items"]) <= 2
    assert page["limit"] == 2
    full = await _list(env, sort="name", order="desc")
    names = [row["name"].lower() for row in full["items"]]
    assert names == sorted(names, reverse=True)
    assert [r["id"] for r in page["items"]] == [r["id"] for r in full["items"][:2]]


async def test_scoped_user_sees_only_their_services(env: Env, fleet: Fleet) -> None:
    app = env.app
    tenant_mark = f"fleettenant-{secrets.token_hex(4)}"  # per backend: both runs share engines
    email = unique_email("tenant")
    user_id = await add_user(app, email, "Tenant-Password-1234", role="user")
    async with app.runtime.db.session() as session:
        service = Service(
            name=f"fleet-{secrets.token_hex(3)}", node_id=env.local_id, owner_id=user_id
        )
        other = Service(name=f"other-{secrets.token_hex(3)}", node_id=env.local_id, owner_id=None)
        session.add_all([service, other])
        await session.commit()
        sid, other_id = service.id, other.id
    instance = app.runtime.instance_id
    mine = fleet.local.run(
        ["sh", "-c", f"echo {tenant_mark}; exec sleep 3600"],
        labels={"io.dockyard.service-id": str(sid), "io.dockyard.instance": instance},
    )
    theirs = fleet.local.run(
        ["sh", "-c", f"echo {tenant_mark}; exec sleep 3600"],
        labels={"io.dockyard.service-id": str(other_id), "io.dockyard.instance": instance},
    )
    _wait_logs(fleet.local.client, mine, tenant_mark)
    _wait_logs(fleet.local.client, theirs, tenant_mark)
    tokens = await app.login(email, "Tenant-Password-1234")
    tenant = app.bearer(tokens["access_token"])

    admin_view = await _list_until(env, {mine, theirs})
    rows = {row["id"]: row for row in admin_view["items"]}
    assert rows[mine]["service_id"] == sid
    assert rows[mine]["service_name"].startswith("fleet-")
    assert (await _list(env, service_id=sid))["items"][0]["id"] == mine

    body = await _list_until(env, {mine}, headers=tenant)
    assert _ids(body) == {mine}
    # Only the nodes its services live on are asked: nothing about the others leaks.
    assert {n["node_id"] for n in body["nodes"]} == {env.local_id}
    assert body["unavailable_nodes"] == []

    detail = await app.client.get(f"/api/v1/containers/{env.local_id}/{mine}", headers=tenant)
    assert detail.status_code == 200, detail.text
    assert detail.json()["service_id"] == sid
    assert detail.json()["access"] == {"logs": True, "exec": True}
    hidden = await app.client.get(f"/api/v1/containers/{env.local_id}/{theirs}", headers=tenant)
    assert_error(hidden, 404, "container_not_found")
    unmanaged = f"/api/v1/containers/{env.local_id}/{fleet.local_box}"
    assert_error(await app.client.get(unmanaged, headers=tenant), 404)

    # Log search: only their service's containers.
    lines = await _search(env, headers=tenant, q=tenant_mark)
    found = [x for x in lines if x["type"] == "match"]
    assert {m["container_id"] for m in found} == {mine}
    assert found[0]["service_id"] == sid
    everything = await _search(env, q=tenant_mark)
    assert {m["container_id"] for m in everything if m["type"] == "match"} == {mine, theirs}


async def test_container_detail_masks_secrets(env: Env, fleet: Fleet) -> None:
    url = f"/api/v1/containers/{env.local_id}/{fleet.secret_box}"
    response = await env.app.client.get(url, headers=env.admin)
    assert response.status_code == 200, response.text
    body = response.json()
    env_vars = {e["name"]: e for e in body["config"]["env"]}
    assert env_vars["DB_PASSWORD"] == {"name": "DB_PASSWORD", "value": "********", "masked": True}
    assert env_vars["PLAIN_SETTING"]["value"] == "visible-value"
    assert "hunter2-secret" not in response.text
    assert body["state"]["running"] is True
    assert body["config"]["command"] == ["sleep", "3600"]
    assert body["labels"]["io.dockyard.test"] == "1"
    assert body["networks"]
    assert body["networks"][0]["name"]
    assert body["access"] == {"logs": True, "exec": True}

    # A container on node 2, by its short id, through node 2's engine.
    remote = await env.app.client.get(
        f"/api/v1/containers/{env.node2_id}/{fleet.node2_box[:12]}", headers=env.admin
    )
    assert remote.status_code == 200, remote.text
    assert remote.json()["id"] == fleet.node2_box
    assert remote.json()["node_name"] == env.node2_name

    logs = await env.app.client.get(
        f"/api/v1/containers/{env.node2_id}/{fleet.node2_box}/logs",
        params={"tail": 2},
        headers=env.admin,
    )
    assert logs.status_code == 200, logs.text
    assert [ln["message"] for ln in logs.json()["lines"]] == [f"{MARK} two", "unrelated"]

    missing = await env.app.client.get(
        f"/api/v1/containers/{env.local_id}/{'0' * 64}", headers=env.admin
    )
    assert_error(missing, 404, "container_not_found")
    offline = await env.app.client.get(
        f"/api/v1/containers/{env.broken_id}/{fleet.local_box}", headers=env.admin
    )
    assert offline.status_code == 503, offline.text


# ---------------------------------------------------------------- log search


async def _search(
    env: Env, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    async with env.app.client.stream(
        "GET", "/api/v1/logs/search", params=params, headers=headers or env.admin
    ) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) async for line in response.aiter_lines() if line]
    assert lines, "no summary line"
    assert lines[-1]["type"] == "summary"
    assert all(x["type"] == "match" for x in lines[:-1])
    return lines


async def test_log_search_across_nodes_in_range(env: Env, fleet: Fleet) -> None:
    lines = await _search(env, q=f"{MARK} ")
    matches = [x for x in lines if x["type"] == "match"]
    by_container: dict[str, list[str]] = {}
    for m in matches:
        by_container.setdefault(m["container_id"], []).append(m["line"])
        assert m["ts"]
        assert m["stream"] == "stdout"
    assert sorted(by_container[fleet.local_box]) == [f"{MARK} one", f"{MARK} two"]
    assert sorted(by_container[fleet.node2_box]) == [f"{MARK} one", f"{MARK} two"]
    assert by_container[fleet.local_exited] == [f"{MARK} exited"]
    node_of = {m["container_id"]: m["node_id"] for m in matches}
    assert node_of[fleet.node2_box] == env.node2_id
    assert node_of[fleet.local_box] == env.local_id
    summary = lines[-1]
    assert summary["matches"] == len(matches)
    assert summary["limit_reached"] is False
    assert any(e["node_id"] == env.broken_id for e in summary["errors"])

    # Split the range between the `one` and `two` lines (3 s apart).
    ones = [
        datetime.fromisoformat(m["ts"])
        for m in matches
        if m["line"] == f"{MARK} one" and m["container_id"] in (fleet.local_box, fleet.node2_box)
    ]
    split = max(ones) + timedelta(seconds=1)
    later = await _search(env, q=MARK, since=split.isoformat())
    assert sorted(m["line"] for m in later if m["type"] == "match") == [f"{MARK} two"] * 2
    earlier = await _search(
        env, q=MARK, since=(min(ones) - timedelta(seconds=1)).isoformat(), until=split.isoformat()
    )
    got = sorted(m["line"] for m in earlier if m["type"] == "match" and "exited" not in m["line"])
    assert got == [f"{MARK} one"] * 2
    # Nothing in a range that ended before the containers existed.
    old = datetime.now(UTC) - timedelta(days=2)
    none = await _search(
        env, q=MARK, since=old.isoformat(), until=(old + timedelta(hours=1)).isoformat()
    )
    assert none[-1]["matches"] == 0
    assert len(none) == 1


async def test_log_search_filters_limit_regex_and_audit(env: Env, fleet: Fleet) -> None:
    only2 = await _search(env, q=MARK, node_id=env.node2_id)
    assert {m["container_id"] for m in only2 if m["type"] == "match"} == {fleet.node2_box}
    assert only2[-1]["errors"] == []

    limited = await _search(env, q=MARK, limit=1)
    assert len(limited) == 2
    assert limited[-1]["limit_reached"] is True
    assert limited[-1]["truncated"] is True

    regex = await _search(env, q=rf"{MARK} (ONE|tw.)$", regex="true", node_id=env.node2_id)
    assert sorted(m["line"] for m in regex if m["type"] == "match") == [
        f"{MARK} one",
        f"{MARK} two",
    ]
    # A plain search takes regex characters literally.
    assert (await _search(env, q=f"{MARK} (ONE|tw.)"))[-1]["matches"] == 0

    by_container = await _search(env, q=MARK, container=fleet.node2_box[:12])
    assert {m["container_id"] for m in by_container if m["type"] == "match"} == {fleet.node2_box}

    for bad in ("(unclosed", "x" * 300, "(a+)+$"):
        response = await env.app.client.get(
            "/api/v1/logs/search", params={"q": bad, "regex": "true"}, headers=env.admin
        )
        error = assert_error(response, 422, "invalid_regex")
        assert error["details"]["errors"][0]["path"] == "q"
    reversed_range = await env.app.client.get(
        "/api/v1/logs/search",
        params={"q": "x", "since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"},
        headers=env.admin,
    )
    assert_error(reversed_range, 422)

    rows = await audit_rows(env.app, action="logs.searched")
    assert any(r.details.get("q") == rf"{MARK} (ONE|tw.)$" and r.details["regex"] for r in rows)
    assert all("line" not in r.details for r in rows)


async def test_viewer_without_log_permissions_is_refused(env: Env) -> None:
    email = unique_email("viewer")
    await add_user(env.app, email, "Viewer-Password-1234", role="viewer")
    tokens = await env.app.login(email, "Viewer-Password-1234")
    viewer = env.app.bearer(tokens["access_token"])
    response = await env.app.client.get("/api/v1/logs/search", params={"q": "x"}, headers=viewer)
    assert_error(response, 403)
    # services:read alone still lists (managed containers of visible services only).
    body = await _list(env, headers=viewer)
    assert all(row["service_id"] is not None for row in body["items"])


async def test_client_disconnect_stops_the_search(env: Env, fleet: Fleet) -> None:
    async with env.app.client.stream(
        "GET", "/api/v1/logs/search", params={"q": MARK}, headers=env.admin
    ) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            assert json.loads(line)["type"] in ("match", "summary")
            break  # leave after the first line: the stream closes
    # The server keeps answering.
    again = await _search(env, q=MARK, node_id=env.node2_id)
    assert again[-1]["matches"] == 2


async def test_offline_agent_node_is_unavailable_not_fatal(env: Env, fleet: Fleet) -> None:
    """An agent node whose agent never connected: its tunnel answers 503 at once."""
    name = f"offline-{secrets.token_hex(3)}"
    created = await env.app.client.post("/api/v1/nodes", json={"name": name}, headers=env.admin)
    assert created.status_code == 201, created.text
    node_id = created.json()["id"]
    try:
        started = time.monotonic()
        body = await _list_until(env, {fleet.node2_box})
        assert time.monotonic() - started < 5  # failed fast, not after the per-node timeout
        unavailable = {u["node_id"]: u["error"] for u in body["unavailable_nodes"]}
        assert "offline" in unavailable[node_id].lower()
        assert fleet.node2_box in _ids(body)
        lines = await _search(env, q=MARK, node_id=node_id)
        assert lines[-1]["matches"] == 0
        assert [e["node_id"] for e in lines[-1]["errors"]] == [node_id]
    finally:
        deleted = await env.app.client.delete(f"/api/v1/nodes/{node_id}", headers=env.admin)
        assert deleted.status_code == 204, deleted.text
