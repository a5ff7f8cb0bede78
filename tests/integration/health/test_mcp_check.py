"""Health checks of kind `mcp`: through the MCP registry's SDK client against a real MCP
server on loopback; stopping the server takes the check down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import assert_error, running_app
from tests.integration.mcp_registry.conftest import FixtureServer


async def test_mcp_check_up_then_down(app_settings: Callable[..., Any]) -> None:
    server = FixtureServer()
    server.start()
    try:
        async with running_app(app_settings(None)) as api:
            api.client.headers.update(api.bearer(await api.token()))
            created = await api.client.post(
                "/api/v1/mcp-servers",
                json={"name": "fixture", "url": server.url, "transport": "streamable_http"},
            )
            assert created.status_code == 201, created.text
            mcp_id = created.json()["id"]
            bad = await api.client.post(
                "/api/v1/health-checks",
                json={"name": "x", "kind": "mcp", "target": {"mcp_server_id": "nope"}},
            )
            assert assert_error(bad, 422)["details"]["errors"][0]["path"] == "target.mcp_server_id"
            check = await api.client.post(
                "/api/v1/health-checks",
                json={
                    "name": "mcp",
                    "kind": "mcp",
                    "target": {"mcp_server_id": mcp_id},
                    "interval_s": 3600,
                    "timeout_s": 5,
                    "enabled": False,
                },
            )
            assert check.status_code == 201, check.text
            cid = check.json()["id"]
            up = (await api.client.post(f"/api/v1/health-checks/{cid}/run")).json()
            assert up["status"] == "up", up
            assert up["latency_ms"] > 0
            server.stop()
            down = (await api.client.post(f"/api/v1/health-checks/{cid}/run")).json()
            assert down["status"] == "down"
            assert down["transition"] == "down"
            assert down["error"]
    finally:
        server.stop()
