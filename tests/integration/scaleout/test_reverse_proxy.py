"""nginx (deploy/nginx/dockyard.conf, rendered by bench/replicas.py) in front of two replicas
on PostgreSQL + Redis: TLS termination, the HTTP->HTTPS redirect, requests spread over both
replicas, browser WebSockets upgraded through the proxy receiving live events published by
either replica, and X-Forwarded-For trusted from the proxy only.

nginx connects to the replicas from 127.0.0.2 (`proxy_bind`), which is the only trusted
proxy; test clients bind other loopback addresses (127.0.0.5 ...) so each one's address is
known and differs from the proxy's.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.replicas import NGINX_SOURCE_IP, ReplicaSet, replica_set
from tests.integration.scaleout.conftest import open_browser_socket, tls_context

LOGIN_RATE = 10  # per client IP per minute, for the installation (counted in Redis)


@pytest.fixture(scope="module")
def proxied(scaleout_env: None, nginx_installed: None) -> Iterator[ReplicaSet]:
    with replica_set(
        replicas=2,
        nginx=True,
        extra_env={
            "DOCKYARD_TRUSTED_PROXIES": json.dumps([NGINX_SOURCE_IP]),
            "DOCKYARD_LOGIN_RATE_PER_MINUTE": str(LOGIN_RATE),
        },
    ) as rs:
        yield rs


def client(rs: ReplicaSet, local_ip: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTPS client of the proxy trusting only its certificate, from `local_ip`."""
    assert rs.proxy_cert is not None
    transport: dict[str, Any] = {"verify": tls_context(rs.proxy_cert)}
    if local_ip:
        transport["local_address"] = local_ip
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(**transport),
        base_url=rs.proxy_url or "",
        timeout=30,
        **kwargs,
    )


async def login(http: httpx.AsyncClient, rs: ReplicaSet, user_agent: str, **headers: str) -> str:
    response = await http.post(
        "/api/v1/auth/login",
        json={"email": rs.admin_email, "password": rs.admin_password},
        headers={"User-Agent": user_agent, **headers},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def login_event(rs: ReplicaSet, user_agent: str) -> dict[str, Any]:
    """The `auth.login.succeeded` audit event of the login made with this user agent."""
    async with httpx.AsyncClient(base_url=rs.replicas[0].base_url, timeout=30) as http:
        response = await http.get(
            "/api/v1/audit",
            params={"action": "auth.login.succeeded", "limit": 200},
            headers=rs.headers(),
        )
        response.raise_for_status()
    events = [e for e in response.json()["items"] if e["user_agent"] == user_agent]
    assert len(events) == 1, (user_agent, response.json()["items"][:5])
    return dict(events[0])


async def test_tls_login_api_calls_spread_over_both_replicas(proxied: ReplicaSet) -> None:
    rs = proxied
    assert rs.proxy_url
    assert rs.proxy_url.startswith("https://")
    # Really TLS: a client that does not trust the self-signed certificate is refused.
    async with httpx.AsyncClient(timeout=10) as untrusting:
        with pytest.raises(httpx.ConnectError):
            await untrusting.get(f"{rs.proxy_url}/healthz")
    # Plain HTTP answers with a redirect to the same path over HTTPS.
    async with httpx.AsyncClient(timeout=10) as plain:
        response = await plain.get(f"{rs.proxy_http_url}/api/v1/services?limit=5")
    assert response.status_code == 301
    assert response.headers["location"] == "https://127.0.0.1/api/v1/services?limit=5"

    before = len(rs.nginx_upstreams())
    async with client(rs, "127.0.0.5") as http:
        token = await login(http, rs, f"rp-spread-{secrets.token_hex(4)}")
        http.headers["Authorization"] = f"Bearer {token}"
        for _ in range(20):
            response = await http.get("/api/v1/services")
            assert response.status_code == 200, response.text
            assert "items" in response.json()
        me = await http.get("/api/v1/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["email"] == rs.admin_email
    served = rs.nginx_upstreams()[before:]
    replica_addresses = {f"127.0.0.1:{r.port}" for r in rs.replicas}
    assert set(served) == replica_addresses, served
    for address in replica_addresses:  # round robin: about half each
        assert served.count(address) >= 5, served


async def test_browser_websockets_through_proxy_get_events_from_either_replica(
    proxied: ReplicaSet,
) -> None:
    """Each socket's ticket and upgrade go through nginx (so land on either replica); a
    service created through the proxy (either replica) reaches every socket live."""
    rs = proxied
    assert rs.proxy_url
    assert rs.proxy_cert
    token = rs.login(rs.proxy_url)
    sockets = [
        await open_browser_socket(rs.proxy_url, token, cert=rs.proxy_cert, local_ip="127.0.0.5")
        for _ in range(4)
    ]
    try:
        created: list[int] = []
        async with client(rs, "127.0.0.5") as http:
            http.headers["Authorization"] = f"Bearer {token}"
            for index in range(2):  # round robin: one through each replica
                response = await http.post(
                    "/api/v1/services",
                    json={
                        "name": f"rp-ws-{secrets.token_hex(3)}-{index}",
                        "definition": {"services": {"app": {"image": "dockyard-test/busybox:1"}}},
                    },
                )
                assert response.status_code == 201, response.text
                created.append(int(response.json()["id"]))
        for ws in sockets:
            seen: set[int] = set()
            deadline = time.monotonic() + 15
            while not set(created) <= seen:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"events seen {seen}, expected {created}"
                frame = json.loads(await asyncio.wait_for(ws.recv(), remaining))
                if frame.get("type") == "service.status":
                    seen.add(int(frame["data"]["service_id"]))
    finally:
        for ws in sockets:  # in the order they were opened
            await ws.close()
    # nginx logs an upgraded request when it ends: after the closes.
    await asyncio.sleep(1)
    lines = _access_lines(rs)
    tickets = [line for line in lines if "POST /api/v1/realtime/ticket" in line][-4:]
    upgrades = [line for line in lines if "GET /api/v1/ws?ticket=" in line][-4:]
    assert all(" 200 " in line for line in tickets), tickets
    assert all(" 101 " in line for line in upgrades), upgrades
    # Round robin: some socket's ticket was issued by one replica and redeemed by the other.
    pairs = [
        (t.rsplit("upstream=", 1)[1], u.rsplit("upstream=", 1)[1])
        for t, u in zip(tickets, upgrades, strict=True)
    ]
    assert any(issued != redeemed for issued, redeemed in pairs), pairs


def _access_lines(rs: ReplicaSet) -> list[str]:
    assert rs.nginx_dir is not None
    return (rs.nginx_dir / "access.log").read_text(errors="replace").splitlines()


async def test_forwarded_for_is_trusted_from_the_proxy_only(proxied: ReplicaSet) -> None:
    rs = proxied
    # Through nginx: the replica sees 127.0.0.2 and trusts it, so the audit event records
    # the client's own address from X-Forwarded-For.
    agent = f"rp-xff-{secrets.token_hex(4)}"
    async with client(rs, "127.0.0.5") as http:
        await login(http, rs, agent)
    assert (await login_event(rs, agent))["ip"] == "127.0.0.5"

    # A forged X-Forwarded-For sent to nginx: nginx appends the real peer, the replica
    # takes the right-most untrusted hop: the real client.
    agent = f"rp-xff-forged-{secrets.token_hex(4)}"
    async with client(rs, "127.0.0.6") as http:
        await login(http, rs, agent, **{"X-Forwarded-For": "203.0.113.7"})
    assert (await login_event(rs, agent))["ip"] == "127.0.0.6"

    # Straight to a replica (not through the trusted proxy): a forged header is ignored.
    agent = f"rp-xff-direct-{secrets.token_hex(4)}"
    async with httpx.AsyncClient(base_url=rs.replicas[1].base_url, timeout=30) as http:
        await login(http, rs, agent, **{"X-Forwarded-For": "203.0.113.8"})
    assert (await login_event(rs, agent))["ip"] == "127.0.0.1"


async def test_login_rate_limit_counts_the_forwarded_client(proxied: ReplicaSet) -> None:
    """The login limiter keys on the client's address from X-Forwarded-For, and both
    replicas count in Redis: one client behind the proxy gets LOGIN_RATE attempts in all,
    although nginx spreads them over both replicas, while another client is not limited."""
    rs = proxied
    body = {"email": f"nobody-{secrets.token_hex(3)}@example.com", "password": "wrong-password"}
    statuses: list[int] = []
    before = len(rs.nginx_upstreams())
    async with client(rs, "127.0.0.8") as http:
        for _ in range(LOGIN_RATE + 3):
            response = await http.post("/api/v1/auth/login", json=body)
            statuses.append(response.status_code)
    assert statuses == [401] * LOGIN_RATE + [429] * 3, statuses
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    served = rs.nginx_upstreams()[before:]
    assert len(set(served)) == 2, served  # both replicas answered, and both counted
    async with client(rs, "127.0.0.9") as http:
        for _ in range(2):
            response = await http.post("/api/v1/auth/login", json=body)
            assert response.status_code == 401, response.text
