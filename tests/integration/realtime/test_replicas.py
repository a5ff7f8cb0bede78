"""Real time across replicas: two `dockyard serve` processes on one PostgreSQL database.

A change made through one server reaches a WebSocket connected to the other within 1 s,
over PostgreSQL LISTEN/NOTIFY (no Redis) and over Redis pub/sub; each event arrives once
(not echoed back by the bridge).
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import TEST_SECRET_KEY, DatabaseFactory, require_env
from tests.integration.hosts.serve import Served, dockyard_serve


async def open_ws(server: Served) -> ClientConnection:
    async with httpx.AsyncClient() as client:
        ticket = await client.post(f"{server.url}/api/v1/realtime/ticket", headers=server.headers)
    assert ticket.status_code == 200, ticket.text
    ws_url = server.url.replace("http://", "ws://") + f"/api/v1/ws?ticket={ticket.json()['ticket']}"
    ws = await connect(ws_url)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert hello["type"] == "hello"
    await ws.send(json.dumps({"type": "subscribe", "topics": ["alert."]}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "subscribed"
    return ws


async def events_until(ws: ClientConnection, deadline: float) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
        if message["type"].startswith("alert."):
            seen.append({**message, "at": time.monotonic()})
    return seen


@pytest.mark.parametrize("transport", ["postgresql", "redis"])
async def test_a_change_on_one_server_reaches_a_socket_on_the_other(
    transport: str, database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    database_url = await database_factory.new("postgresql")
    env = {"DOCKYARD_DATABASE_URL": database_url, "DOCKYARD_SECRET_KEY": TEST_SECRET_KEY}
    if transport == "redis":
        env["DOCKYARD_REDIS_URL"] = require_env("DOCKYARD_TEST_REDIS_URL")
    with ExitStack() as stack:
        a = stack.enter_context(dockyard_serve(tmp_path / "a", **env))
        b = stack.enter_context(dockyard_serve(tmp_path / "b", **env))
        ws_b = await open_ws(b)
        ws_a = await open_ws(a)
        try:
            async with httpx.AsyncClient() as client:
                created = await client.post(
                    f"{a.url}/api/v1/alert-rules",
                    headers=a.headers,
                    json={"name": "node down", "condition": {"kind": "node_offline"}},
                )
            # Committed (and published on A) before the response: B has 1 s from here.
            started = time.monotonic()
            assert created.status_code == 201, created.text
            rule_id = created.json()["id"]
            on_b, on_a = await asyncio.gather(
                events_until(ws_b, started + 1.0), events_until(ws_a, started + 1.5)
            )
        finally:
            await ws_b.close()
            await ws_a.close()
    on_b_rule = [e for e in on_b if e["type"] == "alert.rule"]
    assert [e["data"]["rule_id"] for e in on_b_rule] == [rule_id]
    assert on_b_rule[0]["at"] - started < 1.0
    # The origin server's own socket gets it exactly once (the bridge does not echo).
    assert [e["data"]["rule_id"] for e in on_a if e["type"] == "alert.rule"] == [rule_id]
