"""Usage ingest (validated, bounded, idempotent) and analytics numbers on a known dataset."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from dockyard.mcp_registry import analytics
from dockyard.mcp_registry.models import UsageEvent, UsageServerHourly, UsageToolHourly
from tests.conftest import LiveApp, assert_error

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def event(i: int, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"ev-{i}",
        "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
        "user": "alice",
        "mcp_server": "alpha",
        "tool": "search",
        "duration_ms": 100,
        "success": True,
        "tokens_in": 10,
        "tokens_out": 5,
        "tokens_cached": 1,
        "cost_estimate": 0.5,
    }
    body.update(over)
    return body


async def _setup(api: LiveApp) -> tuple[str, dict[str, str], int, int]:
    admin = await api.token()
    ids = []
    for name in ("alpha", "beta"):
        response = await api.client.post(
            "/api/v1/mcp-servers",
            json={"name": name, "url": "http://127.0.0.1:9/mcp", "enabled": False},
            headers=api.bearer(admin),
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    response = await api.client.post(
        "/api/v1/tokens",
        json={"name": "ingest", "scopes": ["analytics:ingest"]},
        headers=api.bearer(admin),
    )
    assert response.status_code == 201, response.text
    ingest = api.bearer(response.json()["token"])
    return admin, ingest, ids[0], ids[1]


async def _count(api: LiveApp) -> tuple[int, int]:
    async with api.runtime.db.read_session() as session:
        events = await session.scalar(select(func.count()).select_from(UsageEvent))
        rollups = await session.scalar(select(func.count()).select_from(UsageToolHourly))
    return int(events or 0), int(rollups or 0)


async def test_bad_batches_store_nothing(api: LiveApp) -> None:
    admin, ingest, _, _ = await _setup(api)
    url = "/api/v1/usage/events"
    missing = event(1)
    del missing["tool"]
    error = assert_error(
        await api.client.post(url, json={"events": [event(0), missing]}, headers=ingest), 422
    )
    assert {"path": "events[1].tool", "message": "Field required"} in error["details"]["errors"]
    error = assert_error(
        await api.client.post(
            url, json={"events": [event(0), event(1), event(2, tokens_out=-1)]}, headers=ingest
        ),
        422,
    )
    assert [e["path"] for e in error["details"]["errors"]] == ["events[2].tokens_out"]
    error = assert_error(
        await api.client.post(
            url, json={"events": [event(0, mcp_server="nope"), event(1)]}, headers=ingest
        ),
        422,
    )
    assert error["details"]["errors"][0]["path"] == "events[0].mcp_server"
    error = assert_error(
        await api.client.post(url, json={"events": [event(0, duration_ms=-5)]}, headers=ingest),
        422,
    )
    assert error["details"]["errors"][0]["path"] == "events[0].duration_ms"
    too_many = {"events": [event(i) for i in range(10_001)]}
    assert_error(await api.client.post(url, json=too_many, headers=ingest), 413, "batch_too_large")
    assert await _count(api) == (0, 0)
    # The ingest scope alone cannot read analytics, and a session without it cannot ingest
    # only if it lacks the permission (admin has it).
    assert_error(await api.client.get("/api/v1/analytics/overview", headers=ingest), 403)
    ok = await api.client.post(url, json={"events": [event(0)]}, headers=api.bearer(admin))
    assert ok.status_code == 200, ok.text


async def test_duplicates_stored_once(api: LiveApp) -> None:
    _, ingest, _, _ = await _setup(api)
    url = "/api/v1/usage/events"
    first = await api.client.post(
        url, json={"events": [event(0), event(1), event(1)]}, headers=ingest
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 3, "stored": 2, "duplicates": 1}
    again = await api.client.post(url, json={"events": [event(1), event(2)]}, headers=ingest)
    assert again.json() == {"received": 2, "stored": 1, "duplicates": 1}
    assert (await _count(api))[0] == 3
    async with api.runtime.db.read_session() as session:
        total = await session.scalar(select(func.sum(UsageServerHourly.count)))
    assert total == 3  # the rollups counted each event once


async def test_analytics_numbers_on_a_known_dataset(api: LiveApp) -> None:
    admin, ingest, alpha, beta = await _setup(api)
    events = [
        # 09:xx on day 1: alpha/search by alice, 4 events, one failing
        event(0, duration_ms=5),
        event(1, duration_ms=20),
        event(2, duration_ms=40),
        event(3, duration_ms=800, success=False, error="boom"),
        # 10:xx on day 1: beta/fetch by bob
        event(60, mcp_server=beta, tool="fetch", user="bob", cost_estimate=2.0),
        event(61, mcp_server="beta", tool="fetch", user="bob", cost_estimate=2.0),
        # day 2, 09:xx: alpha/search by bob
        event(24 * 60, user="bob", cost_estimate=1.25),
    ]
    response = await api.client.post(
        "/api/v1/usage/events", json={"events": events}, headers=ingest
    )
    assert response.json()["stored"] == 7
    headers = api.bearer(admin)
    q = {"since": T0.isoformat(), "until": (T0 + timedelta(days=2)).isoformat()}

    overview = (
        await api.client.get("/api/v1/analytics/overview", params=q, headers=headers)
    ).json()
    assert overview["queries"] == 7
    assert overview["errors"] == 1
    assert overview["error_rate"] == pytest.approx(1 / 7, abs=1e-6)
    assert overview["cost"] == pytest.approx(0.5 * 4 + 2.0 * 2 + 1.25)
    assert overview["tokens_in"] == 70
    assert overview["avg_ms"] == pytest.approx((5 + 20 + 40 + 800 + 100 * 3) / 7, abs=0.01)
    assert [(p["hour"][:13], p["queries"]) for p in overview["per_hour"]] == [
        ("2026-03-10T09", 4),
        ("2026-03-10T10", 2),
        ("2026-03-11T09", 1),
    ]
    # p95 of the 09:00 hour: 4 events in buckets <=10, <=25, <=50, <=1000 -> in (500, 1000]
    assert 500 < overview["per_hour"][0]["p95_ms"] <= 1000

    cost = (await api.client.get("/api/v1/analytics/cost", params=q, headers=headers)).json()
    assert cost["per_day"] == [
        {"day": "2026-03-10", "cost": 6.0, "queries": 6},
        {"day": "2026-03-11", "cost": 1.25, "queries": 1},
    ]
    assert {(c["day"], c["mcp_server"], c["cost"]) for c in cost["by_server_per_day"]} == {
        ("2026-03-10", "alpha", 2.0),
        ("2026-03-10", "beta", 4.0),
        ("2026-03-11", "alpha", 1.25),
    }

    tools = (await api.client.get("/api/v1/analytics/tools", params=q, headers=headers)).json()
    assert [(t["tool"], t["mcp_server"], t["queries"], t["errors"]) for t in tools["items"]] == [
        ("search", "alpha", 5, 1),
        ("fetch", "beta", 2, 0),
    ]
    users = (await api.client.get("/api/v1/analytics/users", params=q, headers=headers)).json()
    assert {u["user"]: (u["queries"], u["cost"]) for u in users["items"]} == {
        "alice": (4, 2.0),
        "bob": (3, 5.25),
    }
    # Ranges inside a day use the hourly rollup, ranges spanning days mix daily and hourly.
    partial = {
        "since": (T0 + timedelta(hours=1)).isoformat(),
        "until": (T0 + timedelta(days=1, hours=1)).isoformat(),
    }
    users = await api.client.get("/api/v1/analytics/users", params=partial, headers=headers)
    assert {u["user"]: u["queries"] for u in users.json()["items"]} == {"bob": 3}
    only_beta = {**q, "mcp_server_id": beta}
    errors = (
        await api.client.get("/api/v1/analytics/errors", params=only_beta, headers=headers)
    ).json()
    assert errors["queries"] == 2
    assert errors["errors"] == 0
    perf = (
        await api.client.get(
            "/api/v1/analytics/performance", params={**q, "mcp_server_id": alpha}, headers=headers
        )
    ).json()
    assert perf["avg_ms"] == pytest.approx((5 + 20 + 40 + 800 + 100) / 5, abs=0.01)

    exported = await api.client.get(
        "/api/v1/analytics/tools", params={**q, "format": "csv"}, headers=headers
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:3] == ["tool", "mcp_server", "queries"]
    assert rows[1][:3] == ["search", "alpha", "5"]

    # The functions alerts use.
    async with api.runtime.db.read_session() as session:
        since, until = T0, T0 + timedelta(days=2)
        assert await analytics.usage_cost(session, since, until) == pytest.approx(7.25)
        assert await analytics.usage_cost(session, since, until, beta) == pytest.approx(4.0)
        assert await analytics.error_rate(session, since, until, alpha) == pytest.approx(0.2)
        assert await analytics.error_rate(session, since, until, beta) == 0.0
