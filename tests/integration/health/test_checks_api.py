"""Health checks through the API on both databases: CRUD, validation, run, history,
uptime, header redaction, audit, SSRF guard on hosts and redirect hops."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tests.conftest import LiveApp, assert_error, audit_rows, running_app
from tests.integration.health.conftest import LoopbackServer


async def _admin(api: LiveApp) -> None:
    api.client.headers.update(api.bearer(await api.token()))


def http_check(url: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "web",
        "kind": "http",
        "target": {"url": url},
        "interval_s": 3600,
        "timeout_s": 5,
        "retries": 1,
        "enabled": False,  # driven by /run only: the background runner leaves it alone
    }
    body.update(extra)
    return body


async def test_crud_run_history_uptime(
    api: LiveApp, loopback_server: Callable[[str], LoopbackServer]
) -> None:
    await _admin(api)
    server = loopback_server("127.0.0.1")
    server.routes["/health"] = (
        200,
        {"Content-Type": "application/json"},
        json.dumps({"status": {"db": "ok"}, "items": [1, 2]}).encode(),
    )
    body = http_check(
        server.url("/health"),
        target={
            "url": server.url("/health"),
            "json_path": "status.db",
            "expected_value": "ok",
            "headers": {"Authorization": "Bearer s3cret-value"},
        },
    )
    created = await api.client.post("/api/v1/health-checks", json=body)
    assert created.status_code == 201, created.text
    check = created.json()
    assert check["status"] == "unknown"
    assert check["target"]["headers"] == {"Authorization": "<redacted>"}
    assert "s3cret-value" not in created.text
    cid = check["id"]

    run = await api.client.post(f"/api/v1/health-checks/{cid}/run")
    assert run.status_code == 200, run.text
    result = run.json()
    assert result["status"] == "up", result
    assert result["check_status"] == "up"
    assert result["latency_ms"] > 0

    # A wrong expected value is down with the reason; retries=1 so the check goes down.
    patched = await api.client.patch(
        f"/api/v1/health-checks/{cid}",
        json={
            "target": {
                "url": server.url("/health"),
                "json_path": "status.db",
                "expected_value": "degraded",
                "headers": {"Authorization": "<redacted>"},
            }
        },
    )
    assert patched.status_code == 200, patched.text
    run = (await api.client.post(f"/api/v1/health-checks/{cid}/run")).json()
    assert run["status"] == "down"
    assert run["transition"] == "down"
    assert 'is "ok", expected "degraded"' in run["error"]
    # The redacted header kept its stored value (the server saw it).
    assert server.hits.count("/health") == 2

    detail = (await api.client.get(f"/api/v1/health-checks/{cid}")).json()
    assert detail["uptime"] == {"h24": 50.0, "d7": 50.0, "d30": 50.0}
    assert [p["status"] for p in detail["latency"]] == ["up", "down"]

    page = (await api.client.get(f"/api/v1/health-checks/{cid}/history?limit=1")).json()
    assert page["total"] == 2
    assert len(page["items"]) == 1
    assert page["items"][0]["status"] == "down"
    assert set(page["items"][0]) >= {"status", "latency_ms", "error", "checked_at"}

    listed = (await api.client.get("/api/v1/health-checks")).json()["items"]
    assert [c["id"] for c in listed] == [cid]
    assert listed[0]["status"] == "down"

    # Audit: create, update, the transition to down (not the first up: unknown -> up).
    actions = [r.action for r in await audit_rows(api, target_type="health_check")]
    assert actions == ["health_check.create", "health_check.update", "health_check.down"]
    for row in await audit_rows(api, target_type="health_check"):
        assert "s3cret-value" not in json.dumps(row.details)

    assert (await api.client.delete(f"/api/v1/health-checks/{cid}")).status_code == 204
    assert_error(await api.client.get(f"/api/v1/health-checks/{cid}"), 404)


async def test_validation_names_fields(api: LiveApp) -> None:
    await _admin(api)
    bad = await api.client.post(
        "/api/v1/health-checks", json=http_check("ftp://x", target={"url": "ftp://x"})
    )
    error = assert_error(bad, 422, "validation_error")
    assert [e["path"] for e in error["details"]["errors"]] == ["target.url"]

    bad = await api.client.post(
        "/api/v1/health-checks",
        json={"name": "t", "kind": "tcp", "target": {"host": "x", "port": 70000}},
    )
    error = assert_error(bad, 422)
    assert error["details"]["errors"][0]["path"] == "target.port"

    bad = await api.client.post(
        "/api/v1/health-checks",
        json=http_check(
            "http://127.0.0.1:1/", target={"url": "http://x", "expected_status": "2xx"}
        ),
    )
    assert assert_error(bad, 422)["details"]["errors"][0]["path"] == "target.expected_status"

    bad = await api.client.post(
        "/api/v1/health-checks",
        json=http_check(
            "http://x",
            remediation={"action": "restart_container", "after_failures": 1, "max_per_hour": 1},
        ),
    )
    assert assert_error(bad, 422)["details"]["errors"][0]["path"] == "remediation.service_id"

    bad = await api.client.post(
        "/api/v1/health-checks", json=http_check("http://x", interval_s=10, timeout_s=10)
    )
    assert assert_error(bad, 422)["details"]["errors"][0]["path"] == "timeout_s"
    assert (await api.client.get("/api/v1/health-checks")).json()["items"] == []


async def test_ssrf_guard_refuses_host_and_redirect_hop(
    app_settings: Callable[..., Any], loopback_server: Callable[[str], LoopbackServer]
) -> None:
    allowed = loopback_server("127.0.0.1")
    forbidden = loopback_server("127.0.0.2")
    forbidden.routes["/"] = (200, {}, b"secret internal page")
    allowed.routes["/ok"] = (200, {}, b"fine")
    allowed.routes["/hop"] = (302, {"Location": "/ok"}, b"")
    allowed.routes["/away"] = (302, {"Location": forbidden.url("/")}, b"")
    settings = app_settings(None, health_allowed_hosts="127.0.0.1,localhost")
    async with running_app(settings) as api:
        await _admin(api)

        async def run(url: str) -> dict[str, Any]:
            created = await api.client.post("/api/v1/health-checks", json=http_check(url))
            assert created.status_code == 201, created.text
            response = await api.client.post(f"/api/v1/health-checks/{created.json()['id']}/run")
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            return result

        ok = await run(allowed.url("/hop"))  # a redirect within the allowed host is followed
        assert ok["status"] == "up", ok
        direct = await run(forbidden.url("/"))
        assert direct["status"] == "down"
        assert direct["error"] == "SSRF guard: host 127.0.0.2 is not allowed"
        hop = await run(allowed.url("/away"))
        assert hop["status"] == "down"
        assert hop["error"] == "SSRF guard: host 127.0.0.2 is not allowed"
        tcp = await api.client.post(
            "/api/v1/health-checks",
            json={
                "name": "tcp",
                "kind": "tcp",
                "target": {"host": "127.0.0.2", "port": forbidden.port},
                "enabled": False,
            },
        )
        tcp_run = (await api.client.post(f"/api/v1/health-checks/{tcp.json()['id']}/run")).json()
        assert tcp_run["status"] == "down"
        assert "SSRF guard" in tcp_run["error"]
    assert allowed.hits == ["/hop", "/ok", "/away"]
    assert forbidden.hits == []  # never reached, neither directly nor through the redirect


async def test_metrics_endpoint_token(
    app_settings: Callable[..., Any], loopback_server: Callable[[str], LoopbackServer]
) -> None:
    async with running_app(app_settings(None)) as api:
        assert_error(await api.client.get("/metrics"), 404)
    server = loopback_server("127.0.0.1")
    server.routes["/"] = (200, {}, b"hi")
    async with running_app(app_settings(None, metrics_token="m" * 40)) as api:
        assert_error(await api.client.get("/metrics"), 401)
        assert_error(
            await api.client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401
        )
        await _admin(api)
        cid = (
            await api.client.post("/api/v1/health-checks", json=http_check(server.url("/")))
        ).json()["id"]
        await api.client.patch(f"/api/v1/health-checks/{cid}", json={"enabled": True})
        assert (await api.client.post(f"/api/v1/health-checks/{cid}/run")).json()["status"] == "up"
        response = await api.client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert f'dockyard_health_check_up{{check_id="{cid}",kind="http",name="web"}} 1.0' in text
        assert re.search(r'dockyard_node_up\{node="[^"]+"\} 1\.0', text), text
        assert "dockyard_alerts_firing" in text
        assert "dockyard_http_requests_total{" in text
        assert "dockyard_jobs" in text


async def test_header_values_are_sealed_at_rest(
    api: LiveApp, loopback_server: Callable[[str], LoopbackServer]
) -> None:
    """The database holds only ciphertext; the probe still sends the real value, and a
    redacted value on update keeps it, while a new value replaces it."""
    from sqlalchemy import select

    from dockyard.health.models import HealthCheck

    await _admin(api)
    server = loopback_server("127.0.0.1")
    server.routes["/h"] = (200, {}, b"ok")
    target = {"url": server.url("/h"), "headers": {"Authorization": "Bearer at-rest-secret"}}
    created = await api.client.post("/api/v1/health-checks", json=http_check("", target=target))
    assert created.status_code == 201, created.text
    cid = created.json()["id"]

    async def stored() -> str:
        async with api.runtime.db.read_session() as session:
            row = (
                await session.execute(select(HealthCheck).where(HealthCheck.id == cid))
            ).scalar_one()
            return json.dumps(row.target)

    raw = await stored()
    assert "at-rest-secret" not in raw
    assert '"Authorization": "dyenc1:' in raw

    assert (await api.client.post(f"/api/v1/health-checks/{cid}/run")).json()["status"] == "up"
    assert server.authorizations[-1] == "Bearer at-rest-secret"

    redacted = {**target, "headers": {"Authorization": "<redacted>"}}
    patched = await api.client.patch(f"/api/v1/health-checks/{cid}", json={"target": redacted})
    assert patched.status_code == 200, patched.text
    assert await stored() == raw  # unchanged ciphertext, not sealed twice
    await api.client.post(f"/api/v1/health-checks/{cid}/run")
    assert server.authorizations[-1] == "Bearer at-rest-secret"

    changed = {**target, "headers": {"Authorization": "Bearer rotated"}}
    assert (
        await api.client.patch(f"/api/v1/health-checks/{cid}", json={"target": changed})
    ).status_code == 200
    assert "rotated" not in await stored()
    await api.client.post(f"/api/v1/health-checks/{cid}/run")
    assert server.authorizations[-1] == "Bearer rotated"

    # A redacted placeholder for a header that has no stored value is refused, not stored.
    bogus = {**target, "headers": {"X-New": "<redacted>"}}
    error = assert_error(
        await api.client.patch(f"/api/v1/health-checks/{cid}", json={"target": bogus}), 422
    )
    assert error["details"]["errors"][0]["path"] == "target.headers.X-New"
