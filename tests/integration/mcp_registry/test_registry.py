"""MCP registry against a real MCP server (SDK MCPServer over streamable HTTP and SSE)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from dockyard.mcp_registry.client import check_mcp_server
from dockyard.mcp_registry.models import McpServer
from dockyard.mcp_registry.service import check_due_servers
from tests.conftest import LiveApp, assert_error, audit_rows, running_app
from tests.integration.mcp_registry.conftest import FixtureServer


async def _create(api: LiveApp, token: str, **body: Any) -> dict[str, Any]:
    response = await api.client.post("/api/v1/mcp-servers", json=body, headers=api.bearer(token))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _check(api: LiveApp, token: str, server_id: int) -> dict[str, Any]:
    response = await api.client.post(
        f"/api/v1/mcp-servers/{server_id}/check", headers=api.bearer(token)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_check_tools_changes_and_down_up_events(
    api: LiveApp, mcp_server: FixtureServer
) -> None:
    token = await api.token()
    created = await _create(
        api,
        token,
        name="fixture",
        url=mcp_server.url,
        transport="streamable_http",
        headers={"Authorization": "Bearer s3cret-value"},
        tags=["test"],
        check_interval_s=3600,
    )
    assert created["header_names"] == ["Authorization"]
    assert "s3cret-value" not in str(created)
    assert created["status"] == "unknown"
    assert created["tool_count"] == 0
    async with api.runtime.db.read_session() as session:
        row = await session.get(McpServer, created["id"])
        assert row is not None
        assert row.headers_encrypted
        assert "s3cret-value" not in row.headers_encrypted
    audits = await audit_rows(api, action="mcp_server.create")
    assert len(audits) == 1
    assert "s3cret-value" not in str(audits[0].details)

    sid = created["id"]
    first = await _check(api, token, sid)
    assert first["healthy"] is True, first
    assert first["server_name"] == "fixture-mcp"
    assert first["protocol_version"]
    assert first["latency_ms"] > 0
    assert sorted(t["name"] for t in first["tools"]) == ["add", "echo"]
    assert first.get("error") is None

    detail = (await api.client.get(f"/api/v1/mcp-servers/{sid}", headers=api.bearer(token))).json()
    assert detail["tool_count"] == 2
    assert detail["status"] == "up"
    assert detail["last_check"]["healthy"] is True
    tools = (
        await api.client.get(f"/api/v1/mcp-servers/{sid}/tools", headers=api.bearer(token))
    ).json()["items"]
    add = next(t for t in tools if t["name"] == "add")
    assert add["description"] == "Add two integers."
    assert set(add["input_schema"]["properties"]) == {"a", "b"}

    # Restart with one more tool: the change is recorded.
    mcp_server.stop()
    mcp_server.start(extra_tool=True)
    second = await _check(api, token, sid)
    assert second["healthy"] is True
    assert sorted(t["name"] for t in second["tools"]) == ["add", "echo", "shout"]
    changes = (
        await api.client.get(f"/api/v1/mcp-servers/{sid}/tool-changes", headers=api.bearer(token))
    ).json()["items"]
    assert [(c["change"], c["tool_name"]) for c in changes] == [("added", "shout")]

    # Stop it: failing, and a down event; start it again (without shout): up and removed.
    async with api.runtime.events.subscribe() as subscription:
        mcp_server.stop()
        down = await _check(api, token, sid)
        assert down["healthy"] is False
        assert down["error"]
        assert down["tools"] == []
        event = await asyncio.wait_for(subscription.get(), 5)
        while not event.type.startswith("mcp.server."):
            event = await asyncio.wait_for(subscription.get(), 5)
        assert event.type == "mcp.server.down"
        assert event.data["id"] == sid
        assert event.data["previous"] == "up"

        detail = (
            await api.client.get(f"/api/v1/mcp-servers/{sid}", headers=api.bearer(token))
        ).json()
        assert detail["status"] == "down"
        assert detail["last_check"]["healthy"] is False
        # A failing check keeps the last known tools.
        assert detail["tool_count"] == 3

        mcp_server.start()
        up = await _check(api, token, sid)
        assert up["healthy"] is True
        event = await asyncio.wait_for(subscription.get(), 5)
        while not event.type.startswith("mcp.server."):
            event = await asyncio.wait_for(subscription.get(), 5)
        assert event.type == "mcp.server.up"
    changes = (
        await api.client.get(f"/api/v1/mcp-servers/{sid}/tool-changes", headers=api.bearer(token))
    ).json()["items"]
    assert next((c["change"], c["tool_name"]) for c in changes) == ("removed", "shout")

    history = (
        await api.client.get(f"/api/v1/mcp-servers/{sid}/history", headers=api.bearer(token))
    ).json()["items"]
    assert [h["healthy"] for h in history] == [True, False, True, True]


async def test_periodic_tick_checks_due_servers_once(
    api: LiveApp, mcp_server: FixtureServer
) -> None:
    token = await api.token()
    created = await _create(api, token, name="periodic", url=mcp_server.url)
    disabled = await _create(api, token, name="off", url=mcp_server.url, enabled=False)
    await check_due_servers(api.runtime)
    await check_due_servers(api.runtime)  # not due again for 60 s
    history = (
        await api.client.get(
            f"/api/v1/mcp-servers/{created['id']}/history", headers=api.bearer(token)
        )
    ).json()["items"]
    assert len(history) == 1
    assert history[0]["healthy"] is True
    off = (
        await api.client.get(
            f"/api/v1/mcp-servers/{disabled['id']}/history", headers=api.bearer(token)
        )
    ).json()["items"]
    assert off == []
    async with api.runtime.db.read_session() as session:
        row = (await session.scalars(select(McpServer).where(McpServer.name == "periodic"))).one()
        assert row.status == "up"
        assert row.next_check_at is not None


async def test_crud_validation_and_permissions(api: LiveApp) -> None:
    token = await api.token()
    created = await _create(api, token, name="crud", url="http://127.0.0.1:9/mcp")
    assert_error(
        await api.client.post(
            "/api/v1/mcp-servers",
            json={"name": "crud", "url": "http://127.0.0.1:9/mcp"},
            headers=api.bearer(token),
        ),
        409,
    )
    bad = assert_error(
        await api.client.post(
            "/api/v1/mcp-servers",
            json={"name": "x", "url": "ftp://nope", "transport": "stdio"},
            headers=api.bearer(token),
        ),
        422,
    )
    paths = {e["path"] for e in bad["details"]["errors"]}
    assert "body.url" in paths
    assert "body.transport" in paths
    patched = await api.client.patch(
        f"/api/v1/mcp-servers/{created['id']}",
        json={"description": "d", "tags": ["a", "b"], "headers": {"X-Key": "v"}},
        headers=api.bearer(token),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["tags"] == ["a", "b"]
    assert patched.json()["header_names"] == ["X-Key"]
    failing = await _check(api, token, created["id"])
    assert failing["healthy"] is False
    assert failing["error"]
    listed = (await api.client.get("/api/v1/mcp-servers", headers=api.bearer(token))).json()
    assert [s["name"] for s in listed["items"]] == ["crud"]
    deleted = await api.client.delete(
        f"/api/v1/mcp-servers/{created['id']}", headers=api.bearer(token)
    )
    assert deleted.status_code == 204
    assert_error(
        await api.client.get(f"/api/v1/mcp-servers/{created['id']}", headers=api.bearer(token)),
        404,
    )
    assert_error(await api.client.get("/api/v1/mcp-servers"), 401)


async def test_sse_transport(sse_server: FixtureServer) -> None:
    result = await check_mcp_server(sse_server.url, "sse", {"X-Test": "1"}, 10)
    assert result.healthy, result.error
    assert sorted(t.name for t in result.tools) == ["add", "echo"]
    sse_server.stop()
    failed = await check_mcp_server(sse_server.url, "sse", None, 5)
    assert failed.healthy is False
    assert failed.error


async def test_timeout_is_a_failure() -> None:
    import socket

    with socket.socket() as listener:  # accepts, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = await check_mcp_server(f"http://127.0.0.1:{port}/mcp", "streamable_http", None, 1)
    assert result.healthy is False
    assert result.error is not None
    assert "timed out" in result.error


async def test_serve_runs_the_periodic_checks(
    sqlite_url: str, app_settings: Any, mcp_server: FixtureServer
) -> None:
    """The embedded scheduler of `dockyard serve` checks a new server by itself."""
    async with running_app(app_settings(sqlite_url)) as app:
        token = await app.token()
        created = await _create(app, token, name="auto", url=mcp_server.url)
        for _ in range(100):
            detail = (
                await app.client.get(
                    f"/api/v1/mcp-servers/{created['id']}", headers=app.bearer(token)
                )
            ).json()
            if detail["last_check"] is not None:
                break
            await asyncio.sleep(0.2)
        assert detail["status"] == "up"
        assert detail["tool_count"] == 2


async def test_the_ssrf_guard_applies_to_mcp_checks(
    sqlite_url: str, app_settings: Any, mcp_server: FixtureServer
) -> None:
    settings = app_settings(sqlite_url, run_scheduler=False, health_allowed_hosts=["10.0.0.0/8"])
    async with running_app(settings) as app:
        token = await app.token()
        created = await _create(app, token, name="guarded", url=mcp_server.url)
        result = await _check(app, token, created["id"])
        assert result["healthy"] is False
        assert result["error"].startswith("SSRF guard")
