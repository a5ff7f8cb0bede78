"""The WebSocket delivers a tenant only events about services it may see."""

from __future__ import annotations

import secrets
from typing import Any

from tests.conftest import unique_email
from tests.integration.realtime.test_ws import Server, hello, recv, server  # noqa: F401

PASSWORD = "Realtime-Tenant-Pass-2468"


async def _service(srv: Server, token: str) -> int:
    response = await srv.http.post(
        "/api/v1/services",
        json={
            "name": f"rt-{secrets.token_hex(4)}",
            "definition": {"services": {"web": {"image": "dockyard-test/busybox:1"}}},
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _tenant(srv: Server, admin: str) -> str:
    email = unique_email("rt")
    response = await srv.http.post(
        "/api/v1/users",
        json={"email": email, "password": PASSWORD, "role": "user"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert response.status_code == 201, response.text
    login = await srv.http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    return str(login.json()["access_token"])


async def _events_until_marker(ws: Any, marker: int) -> list[dict[str, Any]]:
    seen = []
    while True:
        message = await recv(ws)
        if message.get("type") == "ping":
            continue
        seen.append(message)
        if message["type"] == "service.status" and message["data"].get("service_id") == marker:
            return seen


async def test_tenant_receives_only_its_services_events(server: Server) -> None:  # noqa: F811
    admin = await server.login()
    tenant = await _tenant(server, admin)
    own = await _service(server, tenant)
    foreign = await _service(server, admin)
    bus = server.hub.bus

    async with server.connect(f"?ticket={await server.ticket(tenant)}") as ws:
        await hello(ws)
        async with server.connect(f"?ticket={await server.ticket(admin)}") as admin_ws:
            await hello(admin_ws)
            bus.publish("service.status", {"service_id": foreign})
            bus.publish("job.progress", {"job_id": "j1", "service_id": foreign, "message": "x"})
            bus.publish("container.state", {"service_id": None, "name": "loose"})
            bus.publish("audit.created", {"id": 1, "action": "user.created"})
            bus.publish("job.progress", {"job_id": "j2", "service_id": own, "message": "mine"})
            bus.publish("service.status", {"service_id": own})
            tenant_seen = await _events_until_marker(ws, own)
            admin_seen = await _events_until_marker(admin_ws, own)
    assert [(m["type"], m["data"].get("service_id")) for m in tenant_seen] == [
        ("job.progress", own),
        ("service.status", own),
    ]
    assert len(admin_seen) == 6


async def test_tenant_cannot_follow_logs_of_unknown_containers(server: Server) -> None:  # noqa: F811
    admin = await server.login()
    tenant = await _tenant(server, admin)
    async with server.connect(f"?ticket={await server.ticket(tenant)}") as ws:
        await hello(ws)
        await ws.send(
            '{"type": "logs.follow", "id": "a", "node_id": 1, "container_ids": ["deadbeef"]}'
        )
        message = await recv(ws)
        while message["type"] == "ping":
            message = await recv(ws)
        assert message["type"] == "error"
        assert message["code"] == "unknown_container"
