"""The node API: agent nodes, enrollment tokens, enrollment, rotation, revocation, delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from dockyard.kit.clock import utcnow
from dockyard.nodes.models import Node
from dockyard.settings import Settings
from tests.conftest import (
    LiveApp,
    add_user,
    assert_error,
    audit_rows,
    running_app,
    unique_email,
)


async def _admin(api: LiveApp) -> dict[str, str]:
    return api.bearer(await api.token())


async def _create(api: LiveApp, headers: dict[str, str], name: str, **extra: Any) -> Any:
    response = await api.client.post("/api/v1/nodes", json={"name": name, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_agent_node_shows_its_token_once(api: LiveApp) -> None:
    headers = await _admin(api)
    body = await _create(api, headers, "edge-1", labels={"zone": "a"})
    assert body["kind"] == "agent"
    assert body["status"] == "offline"
    assert body["enrolled"] is False
    assert body["labels"] == {"zone": "a"}
    assert body["enrollment_token"].startswith("dye_")
    assert "." not in body["enrollment_token"]  # no TLS: no fingerprint
    assert body["enrollment_token"] in body["agent_command"]
    assert body["enrollment_expires_at"]
    assert body["docker_host"] == f"agent://node-{body['id']}"  # each process has its socket
    assert body["agent"]["connected_at"] is None
    # The socket listens at once (0600, in a 0700 directory).
    path = api.runtime.agents.socket_path(body["id"])
    assert path.exists()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700

    one = (await api.client.get(f"/api/v1/nodes/{body['id']}", headers=headers)).json()
    assert "enrollment_token" not in one
    assert one["enrollment_expires_at"] == body["enrollment_expires_at"]
    listed = (await api.client.get("/api/v1/nodes", headers=headers)).json()
    assert body["id"] in [n["id"] for n in listed["items"]]

    # Never in the audit log, never stored in clear.
    rows = await audit_rows(api, action="node.created", target_id=str(body["id"]))
    assert rows
    assert body["enrollment_token"] not in str(rows[0].details)
    async with api.runtime.db.read_session() as session:
        node = await session.get(Node, body["id"])
        assert node is not None
        assert node.enrollment_token_hash
        assert body["enrollment_token"] not in node.enrollment_token_hash

    dup = await api.client.post("/api/v1/nodes", json={"name": "edge-1"}, headers=headers)
    assert_error(dup, 409, "node_name_taken")
    bad = await api.client.post("/api/v1/nodes", json={"name": "no spaces"}, headers=headers)
    assert_error(bad, 422)


async def test_enroll_is_single_use_and_expires(api: LiveApp) -> None:
    headers = await _admin(api)
    node = await _create(api, headers, "edge-enroll")
    token = node["enrollment_token"]
    enroll = {"token": token, "agent_version": "1.0", "docker_host": "unix:///x", "hostname": "h"}
    first = await api.client.post("/api/v1/agent/enroll", json=enroll)
    assert first.status_code == 200, first.text
    result = first.json()
    assert result["node_id"] == node["id"]
    assert result["credential"].startswith(f"dyn_{node['id']}_")
    assert result["server_fingerprint"] is None
    again = await api.client.post("/api/v1/agent/enroll", json=enroll)
    assert_error(again, 401, "invalid_enrollment_token")
    wrong = await api.client.post(
        "/api/v1/agent/enroll", json={**enroll, "token": "dye_" + "x" * 43}
    )
    assert_error(wrong, 401, "invalid_enrollment_token")
    garbage = await api.client.post("/api/v1/agent/enroll", json={**enroll, "token": "nope"})
    assert_error(garbage, 401, "invalid_enrollment_token")

    got = (await api.client.get(f"/api/v1/nodes/{node['id']}", headers=headers)).json()
    assert got["enrolled"] is True
    assert got["enrollment_expires_at"] is None
    assert got["agent"]["version"] == "1.0"
    assert got["agent"]["hostname"] == "h"
    # Enrolled: no new token until it is revoked.
    again_token = await api.client.post(
        f"/api/v1/nodes/{node['id']}/enrollment-token", headers=headers
    )
    assert_error(again_token, 409, "node_enrolled")

    # An expired token is refused with its own code.
    other = await _create(api, headers, "edge-expired")
    async with api.runtime.db.session() as session:
        await session.execute(
            update(Node)
            .where(Node.id == other["id"])
            .values(enrollment_expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    expired = await api.client.post(
        "/api/v1/agent/enroll", json={**enroll, "token": other["enrollment_token"]}
    )
    assert_error(expired, 401, "enrollment_token_expired")


async def test_revoke_rotate_offline_and_new_token(api: LiveApp) -> None:
    headers = await _admin(api)
    node = await _create(api, headers, "edge-revoke")
    enroll = {"token": node["enrollment_token"]}
    assert (await api.client.post("/api/v1/agent/enroll", json=enroll)).status_code == 200

    # Offline rotation: the old credential stops working, a fresh token re-enrolls.
    rotated = await api.client.post(
        f"/api/v1/nodes/{node['id']}/rotate-credentials", headers=headers
    )
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["delivered"] is False
    assert body["enrollment_token"].startswith("dye_")
    got = (await api.client.get(f"/api/v1/nodes/{node['id']}", headers=headers)).json()
    assert got["enrolled"] is False
    again = await api.client.post("/api/v1/agent/enroll", json={"token": body["enrollment_token"]})
    assert again.status_code == 200

    revoked = await api.client.post(f"/api/v1/nodes/{node['id']}/revoke", headers=headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert revoked.json()["enrolled"] is False
    fresh = await api.client.post(f"/api/v1/nodes/{node['id']}/enrollment-token", headers=headers)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["enrollment_token"].startswith("dye_")
    actions = [r.action for r in await audit_rows(api, target_id=str(node["id"]))]
    for action in (
        "node.created",
        "node.enrolled",
        "node.credentials_rotated",
        "node.credentials_revoked",
        "node.enrollment_token_issued",
    ):
        assert action in actions


async def test_patch_and_delete(api: LiveApp) -> None:
    headers = await _admin(api)
    node = await _create(api, headers, "edge-patch")
    patched = await api.client.patch(
        f"/api/v1/nodes/{node['id']}",
        json={"name": "edge-renamed", "labels": {"gpu": "yes"}},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "edge-renamed"
    assert patched.json()["labels"] == {"gpu": "yes"}
    bad = await api.client.patch(
        f"/api/v1/nodes/{node['id']}", json={"labels": {"bad key!": "x"}}, headers=headers
    )
    assert_error(bad, 422)

    local = (await api.client.get("/api/v1/nodes", headers=headers)).json()["items"][0]
    assert local["kind"] == "local"
    assert_error(
        await api.client.delete(f"/api/v1/nodes/{local['id']}", headers=headers),
        409,
        "node_is_local",
    )
    assert_error(
        await api.client.post(f"/api/v1/nodes/{local['id']}/revoke", headers=headers),
        409,
        "node_is_local",
    )
    path = api.runtime.agents.socket_path(node["id"])
    deleted = await api.client.delete(f"/api/v1/nodes/{node['id']}", headers=headers)
    assert deleted.status_code == 204, deleted.text
    assert not path.exists()
    gone = await api.client.get(f"/api/v1/nodes/{node['id']}", headers=headers)
    assert_error(gone, 404, "node_not_found")


async def test_delete_a_gone_node_forgetting_its_services(api: LiveApp) -> None:
    """A node whose host is gone for good keeps its services from being deleted (their
    delete job needs the engine): `forget_services=true` removes them with the node."""
    headers = await _admin(api)
    node = await _create(api, headers, "edge-gone")
    compose = "services:\n  web:\n    image: dockyard-test/busybox:1\n"
    created = await api.client.post(
        "/api/v1/services",
        json={"name": "stranded", "node_id": node["id"], "compose": compose},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    service_id = created.json()["id"]

    refused = assert_error(
        await api.client.delete(f"/api/v1/nodes/{node['id']}", headers=headers),
        409,
        "node_in_use",
    )
    assert "forget_services=true" in refused["message"]

    email, password = unique_email("op"), "Operator-Password-123456"
    await add_user(api, email, password, role="viewer")
    viewer = api.bearer((await api.login(email, password))["access_token"])
    assert_error(
        await api.client.delete(f"/api/v1/nodes/{node['id']}?forget_services=true", headers=viewer),
        403,
    )

    deleted = await api.client.delete(
        f"/api/v1/nodes/{node['id']}?forget_services=true", headers=headers
    )
    assert deleted.status_code == 204, deleted.text
    assert_error(await api.client.get(f"/api/v1/services/{service_id}", headers=headers), 404)
    (row,) = [
        r for r in await audit_rows(api, action="node.deleted") if r.target_id == str(node["id"])
    ]
    assert row.details["forgotten_services"] == ["stranded"]


async def test_permissions(api: LiveApp) -> None:
    email, password = unique_email("viewer"), "Viewer-Password-123456"
    await add_user(api, email, password, role="viewer")
    viewer = api.bearer((await api.login(email, password))["access_token"])
    assert (await api.client.get("/api/v1/nodes", headers=viewer)).status_code == 200
    denied = await api.client.post("/api/v1/nodes", json={"name": "nope"}, headers=viewer)
    assert_error(denied, 403)


async def test_tunnels_listen_again_after_a_restart(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    settings = app_settings(db_url)
    async with running_app(settings) as first:
        headers = first.bearer(await first.token())
        node = await _create(first, headers, "survivor")
        path = first.runtime.agents.socket_path(node["id"])
        assert path.exists()
    assert not path.exists()  # closed with the server
    async with running_app(settings) as second:
        path = second.runtime.agents.socket_path(node["id"])
        assert path.exists()
        assert path.stat().st_mode & 0o777 == 0o600
        headers = second.bearer(await second.token())
        again = (await second.client.get(f"/api/v1/nodes/{node['id']}", headers=headers)).json()
        assert again["status"] == "offline"
        assert again["docker_host"] == f"agent://node-{node['id']}"
        watcher = second.runtime.state.watcher(node["id"])
        assert watcher is not None
        assert watcher.push
