"""Alert channels, rules and alerts against a live app (SQLite and PostgreSQL).

Events are published straight on `runtime.events`, as the updates and health domains do;
the app's own alert engine (started with the scheduler) turns them into alerts, and
deliveries reach a webhook receiver and an SMTP server on loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from dockyard.alerts.engine import engine_of
from dockyard.kit.clock import utcnow
from tests.conftest import LiveApp, assert_error, audit_rows
from tests.integration.alerts.conftest import Mailbox, Receiver, until

SECRET = "hook-secret-" + "x" * 20


@pytest.fixture
async def admin(api: LiveApp) -> LiveApp:
    api.client.headers.update(api.bearer(await api.token()))
    return api


async def webhook_channel(api: LiveApp, url: str, **config: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/api/v1/alert-channels",
        json={
            "name": f"hook-{time.monotonic_ns()}",
            "type": "webhook",
            "config": {"url": url, "secret": SECRET, **config},
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def rule(
    api: LiveApp, condition: dict[str, Any], channels: list[int], **extra: Any
) -> dict[str, Any]:
    response = await api.client.post(
        "/api/v1/alert-rules",
        json={
            "name": f"rule-{time.monotonic_ns()}",
            "condition": condition,
            "channels": channels,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def alerts(api: LiveApp, **params: Any) -> dict[str, Any]:
    response = await api.client.get("/api/v1/alerts", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def verify_signature(request: Any) -> None:
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-dockyard-signature"] == expected
    assert request.headers["content-type"] == "application/json"


def rolled_back(service_id: int = 4242, name: str = "web") -> dict[str, Any]:
    return {"service_id": service_id, "service": name, "reason": "health check failed"}


async def test_health_check_fires_and_resolves_to_a_signed_webhook(
    admin: LiveApp, webhook_receiver: Receiver
) -> None:
    channel = await webhook_channel(admin, webhook_receiver.url, headers={"X-Team": "ops"})
    created = await rule(admin, {"kind": "health_check_failing"}, [channel["id"]])
    down = {"check_id": 7, "name": "api-http", "kind": "http", "target": {"url": "http://x"}}
    admin.runtime.events.publish("health.check.down", {**down, "error": "HTTP 503"})
    firing = (await webhook_receiver.wait(1))[0]
    verify_signature(firing)
    assert firing.headers["x-team"] == "ops"
    body = firing.json()
    assert {"alert", "status", "rule", "target", "started_at", "summary"} <= set(body)
    assert body["status"] == "firing"
    assert body["rule"]["id"] == created["id"]
    assert body["target"]["id"] == 7
    assert body["target"]["name"] == "api-http"
    assert "HTTP 503" in body["summary"]
    listed = await alerts(admin, status="firing")
    assert listed["firing"] == 1
    assert listed["items"][0]["kind"] == "health_check_failing"

    # Still down: deduplicated, no second notification.
    admin.runtime.events.publish("health.check.down", {**down, "error": "HTTP 503"})
    await asyncio.sleep(0.5)
    assert len(webhook_receiver.requests) == 1

    admin.runtime.events.publish("health.check.up", down)
    resolved = (await webhook_receiver.wait(2))[1]
    verify_signature(resolved)
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["alert"]["id"] == body["alert"]["id"]
    # The receiver answers before the delivery row is marked sent: wait for it.
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        detail = (await admin.client.get(f"/api/v1/alerts/{body['alert']['id']}")).json()
        deliveries = [(d["event"], d["status"]) for d in detail["deliveries"]]
        if ("resolved", "pending") not in deliveries or (
            asyncio.get_running_loop().time() > deadline
        ):
            break
        await asyncio.sleep(0.1)
    assert detail["status"] == "resolved"
    assert detail["resolved_at"]
    assert deliveries == [("firing", "sent"), ("resolved", "sent")]


async def test_update_rolled_back_fires_dedups_and_cooldown(
    admin: LiveApp, webhook_receiver: Receiver
) -> None:
    channel = await webhook_channel(admin, webhook_receiver.url)
    created = await rule(admin, {"kind": "update_rolled_back"}, [channel["id"]], cooldown_s=3600)
    admin.runtime.events.publish("update.rolled_back", rolled_back())
    first = (await webhook_receiver.wait(1))[0].json()
    assert first["status"] == "firing"
    assert "rolled back" in first["summary"]
    assert first["target"] == {"type": "service", "id": 4242, "name": "web"}

    admin.runtime.events.publish("update.rolled_back", rolled_back())
    current = await until(lambda: _occurrences(admin, created["id"], 2))
    assert current["total"] == 1
    assert len(webhook_receiver.requests) == 1  # dedup: one firing alert, one notification

    # Acknowledging an event alert resolves it (resolve notification sent).
    alert_id = first["alert"]["id"]
    acked = await admin.client.post(f"/api/v1/alerts/{alert_id}/ack")
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "resolved"
    assert acked.json()["acknowledged_by"]
    assert (await webhook_receiver.wait(2))[1].json()["status"] == "resolved"

    # Within the cooldown: recorded, not notified.
    admin.runtime.events.publish("update.rolled_back", rolled_back())
    again = await until(lambda: _firing(admin, created["id"]))
    assert again["notified"] is False
    await asyncio.sleep(0.5)
    assert len(webhook_receiver.requests) == 2
    assert await audit_rows(admin, action="alert.fired")


async def _firing(api: LiveApp, rule_id: int) -> dict[str, Any] | None:
    items = (await alerts(api, status="firing", rule_id=rule_id))["items"]
    return items[0] if items else None


async def _occurrences(api: LiveApp, rule_id: int, count: int) -> dict[str, Any] | None:
    listed = await alerts(api, rule_id=rule_id)
    return listed if listed["items"] and listed["items"][0]["occurrences"] == count else None


async def test_failed_job_and_scope(admin: LiveApp, webhook_receiver: Receiver) -> None:
    channel = await webhook_channel(admin, webhook_receiver.url)
    await rule(admin, {"kind": "job_failed", "job_kinds": ["service.deploy"]}, [channel["id"]])
    bus = admin.runtime.events
    bus.publish("job.finished", {"job_id": "j1", "kind": "service.pull", "status": "failed"})
    bus.publish("job.finished", {"job_id": "j2", "kind": "service.deploy", "status": "succeeded"})
    bus.publish(
        "job.finished",
        {"job_id": "j3", "kind": "service.deploy", "status": "failed", "error": "boom"},
    )
    body = (await webhook_receiver.wait(1))[0].json()
    assert body["target"]["id"] == "j3"
    assert "boom" in body["summary"]
    await asyncio.sleep(0.5)
    assert len(webhook_receiver.requests) == 1


async def test_delivery_is_retried_with_backoff_and_logged(
    admin: LiveApp, webhook_receiver: Receiver
) -> None:
    webhook_receiver.fail_next = 1
    channel = await webhook_channel(admin, webhook_receiver.url)
    await rule(admin, {"kind": "update_available"}, [channel["id"]])
    admin.runtime.events.publish(
        "update.available", {"service_id": 5, "service": "db", "images": [{"image": "pg:16"}]}
    )
    alert = await until(lambda: _firing_any(admin))
    detail = await until(lambda: _delivery(admin, alert["id"], lambda d: d["attempts"] == 1))
    delivery = detail["deliveries"][0]
    assert delivery["status"] == "pending"
    assert "HTTP 500" in delivery["last_error"]
    assert webhook_receiver.requests == []
    # The next attempt is due after the backoff, not before.
    engine = engine_of(admin.runtime)
    assert await engine.deliver_due(utcnow()) == 0
    assert await engine.deliver_due(utcnow() + timedelta(seconds=30)) == 1
    assert (
        (await webhook_receiver.wait(1))[0].json()["summary"].startswith("Update available for db")
    )
    detail = (await admin.client.get(f"/api/v1/alerts/{alert['id']}")).json()
    assert detail["deliveries"][0]["status"] == "sent"
    assert detail["deliveries"][0]["attempts"] == 2


async def _firing_any(api: LiveApp) -> dict[str, Any] | None:
    items = (await alerts(api, status="firing"))["items"]
    return items[0] if items else None


async def _delivery(
    api: LiveApp, alert_id: int, predicate: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    detail: dict[str, Any] = (await api.client.get(f"/api/v1/alerts/{alert_id}")).json()
    return detail if detail["deliveries"] and predicate(detail["deliveries"][0]) else None


async def test_email_channel_test_and_alert(admin: LiveApp, smtp_server: Mailbox) -> None:
    response = await admin.client.post(
        "/api/v1/alert-channels",
        json={
            "name": "mail",
            "type": "email",
            "config": {
                "host": smtp_server.host,
                "port": smtp_server.port,
                "tls": "none",
                "from": "dockyard@example.com",
                "to": ["ops@example.com", "oncall@example.com"],
            },
        },
    )
    assert response.status_code == 201, response.text
    channel = response.json()
    tested = await admin.client.post(f"/api/v1/alert-channels/{channel['id']}/test")
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is True, tested.text
    sender, recipients, message = (await smtp_server.wait(1))[0]
    assert sender == "dockyard@example.com"
    assert recipients == ["ops@example.com", "oncall@example.com"]
    assert "[TEST]" in message["Subject"]

    await rule(admin, {"kind": "update_rolled_back"}, [channel["id"]])
    admin.runtime.events.publish("update.rolled_back", rolled_back(77, "shop"))
    _, _, mail = (await smtp_server.wait(2))[1]
    assert "[FIRING]" in mail["Subject"]
    assert "shop" in mail["Subject"]
    assert "rolled back" in mail.get_payload()


async def test_channel_test_reports_a_failure(admin: LiveApp) -> None:
    channel = await webhook_channel(admin, "http://127.0.0.1:9/nothing-listens")
    tested = await admin.client.post(f"/api/v1/alert-channels/{channel['id']}/test")
    assert tested.status_code == 200
    assert tested.json()["ok"] is False
    assert tested.json()["error"]


async def test_channel_secrets_are_never_returned(
    admin: LiveApp, webhook_receiver: Receiver
) -> None:
    channel = await webhook_channel(
        admin, webhook_receiver.url, headers={"Authorization": "Bearer top-secret-token"}
    )
    assert channel["config"] == {"url": webhook_receiver.url}
    assert channel["secrets_set"] == ["headers", "secret"]
    for response in (
        await admin.client.get("/api/v1/alert-channels"),
        await admin.client.get(f"/api/v1/alert-channels/{channel['id']}"),
    ):
        assert SECRET not in response.text
        assert "top-secret-token" not in response.text
    # An update without the secret keeps it: the test notification is still signed with it.
    updated = await admin.client.put(
        f"/api/v1/alert-channels/{channel['id']}",
        json={"name": "renamed", "type": "webhook", "config": {"url": webhook_receiver.url}},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["secrets_set"] == ["headers", "secret"]
    tested = await admin.client.post(f"/api/v1/alert-channels/{channel['id']}/test")
    assert tested.json()["ok"] is True, tested.text
    request = (await webhook_receiver.wait(1))[0]
    verify_signature(request)
    assert request.headers["authorization"] == "Bearer top-secret-token"
    assert request.json()["status"] == "test"
    for row in await audit_rows(admin, target_type="alert_channel"):
        assert SECRET not in str(row.details)
        assert "top-secret-token" not in str(row.details)
    async with admin.runtime.db.read_session() as session:
        from dockyard.alerts.models import AlertChannel

        stored = await session.get(AlertChannel, channel["id"])
        assert stored is not None
        assert SECRET not in (stored.secrets_encrypted or "")
        assert SECRET not in str(stored.config)


@pytest.mark.parametrize(
    ("path", "body", "error_path"),
    [
        (
            "alert-channels",
            {"name": "x", "type": "webhook", "config": {"url": "ftp://h/x"}},
            "config.url",
        ),
        ("alert-channels", {"name": "x", "type": "webhook", "config": {}}, "config.url"),
        (
            "alert-channels",
            {"name": "x", "type": "slack", "config": {"url": "file:///etc/passwd"}},
            "config.url",
        ),
        (
            "alert-channels",
            {"name": "x", "type": "email", "config": {"host": "h", "from": "a@b.c", "to": []}},
            "config.to",
        ),
        (
            "alert-channels",
            {
                "name": "x",
                "type": "email",
                "config": {"host": "h", "from": "a@b.c", "to": ["x"], "tls": "ssl3"},
            },
            "config.to",
        ),
        ("alert-channels", {"name": "x", "type": "pager", "config": {}}, "body.type"),
        ("alert-rules", {"name": "r", "condition": {"kind": "nope"}}, "body.condition.kind"),
        (
            "alert-rules",
            {"name": "r", "condition": {"kind": "host_cpu", "threshold_pct": 150}},
            "condition.threshold_pct",
        ),
        (
            "alert-rules",
            {"name": "r", "condition": {"kind": "host_cpu"}},
            "condition.threshold_pct",
        ),
        (
            "alert-rules",
            {"name": "r", "condition": {"kind": "node_offline", "extra": 1}},
            "condition.extra",
        ),
        (
            "alert-rules",
            {
                "name": "r",
                "condition": {"kind": "node_offline"},
                "scope": {"type": "service", "ids": [1]},
            },
            "scope.type",
        ),
        (
            "alert-rules",
            {
                "name": "r",
                "condition": {"kind": "service_down"},
                "scope": {"type": "service", "ids": [999]},
            },
            "scope.ids",
        ),
        (
            "alert-rules",
            {"name": "r", "condition": {"kind": "service_down"}, "channels": [999]},
            "channels",
        ),
        (
            "alert-rules",
            {"name": "r", "condition": {"kind": "service_down"}, "for_s": -1},
            "body.for_s",
        ),
        (
            "alert-rules",
            {"name": "r", "condition": {"kind": "usage_cost_over", "threshold": -5}},
            "condition.threshold",
        ),
        (
            "alert-rules",
            {
                "name": "r",
                "condition": {"kind": "error_rate_over", "threshold_pct": 5, "window_s": 1},
            },
            "condition.window_s",
        ),
    ],
)
async def test_bad_inputs_are_422_and_store_nothing(
    admin: LiveApp, path: str, body: dict[str, Any], error_path: str
) -> None:
    response = await admin.client.post(f"/api/v1/{path}", json=body)
    error = assert_error(response, 422)
    paths = [e["path"] for e in error["details"]["errors"]]
    assert any(p.startswith(error_path) for p in paths), paths
    listed = (await admin.client.get(f"/api/v1/{path}")).json()
    assert listed["items"] == []


async def test_metric_rules_are_stored_with_a_note(admin: LiveApp) -> None:
    created = await rule(
        admin, {"kind": "host_memory", "threshold_pct": 90}, [], for_s=300, scope={"type": "all"}
    )
    assert created["condition"] == {"kind": "host_memory", "threshold_pct": 90.0}
    assert "not collected" in created["note"]
    duplicate = await admin.client.post(
        "/api/v1/alert-rules", json={"name": created["name"], "condition": {"kind": "node_offline"}}
    )
    assert_error(duplicate, 409, "name_taken")


async def test_reader_cannot_manage(admin: LiveApp) -> None:
    from tests.conftest import add_user, unique_email

    email = unique_email("viewer")
    await add_user(admin, email, "viewer-password-123", role="viewer")
    token = (await admin.login(email, "viewer-password-123"))["access_token"]
    headers = admin.bearer(token)
    assert (await admin.client.get("/api/v1/alerts", headers=headers)).status_code == 200
    response = await admin.client.post(
        "/api/v1/alert-rules",
        json={"name": "r", "condition": {"kind": "node_offline"}},
        headers=headers,
    )
    assert_error(response, 403)


async def test_dashboard_summary_and_prefs(admin: LiveApp) -> None:
    summary = (await admin.client.get("/api/v1/dashboard/summary")).json()
    assert summary["nodes_total"] >= 1
    assert summary["nodes_online"] >= 1
    assert summary["alerts_firing"] == 0
    # The server samples the local node every 10 s (dockyard.metrics): null before the first.
    for key in ("fleet_cpu_pct", "fleet_memory_pct"):
        assert summary[key] is None or 0 <= summary[key] <= 100, summary
    series = (await admin.client.get("/api/v1/dashboard/series")).json()
    assert len(series["points"]) == 24
    activity = (await admin.client.get("/api/v1/dashboard/activity")).json()
    assert any(i["kind"] == "audit" for i in activity["items"])

    prefs = (await admin.client.get("/api/v1/dashboard/prefs")).json()
    assert prefs["widgets"][0] == {"id": "stats", "visible": True}
    wanted = [{"id": "alerts", "visible": True}, {"id": "stats", "visible": False}]
    saved = await admin.client.put("/api/v1/dashboard/prefs", json={"widgets": wanted})
    assert saved.status_code == 200, saved.text
    again = (await admin.client.get("/api/v1/dashboard/prefs")).json()
    assert again["widgets"][:2] == wanted
    assert len(again["widgets"]) == len(prefs["widgets"])
    bad = await admin.client.put(
        "/api/v1/dashboard/prefs", json={"widgets": [{"id": "stats"}, {"id": "stats"}]}
    )
    assert_error(bad, 422)
    unknown = await admin.client.put("/api/v1/dashboard/prefs", json={"widgets": [{"id": "x"}]})
    assert_error(unknown, 422)


async def test_usage_cost_over_fires_from_ingested_usage(
    admin: LiveApp, webhook_receiver: Receiver
) -> None:
    from dockyard.mcp_registry.models import UsageEvent

    channel = await webhook_channel(admin, webhook_receiver.url)
    await rule(admin, {"kind": "usage_cost_over", "threshold": 5, "period": "day"}, [channel["id"]])
    await rule(admin, {"kind": "error_rate_over", "threshold_pct": 30, "window_s": 3600}, [])
    now = utcnow()
    async with admin.runtime.db.session() as session:
        for i in range(4):
            session.add(
                UsageEvent(
                    id=f"ev-{i}-{time.monotonic_ns()}",
                    ts=now - timedelta(minutes=5),
                    user="u",
                    mcp_server_id=1,
                    tool="search",
                    duration_ms=10.0,
                    success=i != 0,
                    error=None if i else "boom",
                    tokens_in=1,
                    tokens_out=1,
                    tokens_cached=0,
                    cost=1.0,
                )
            )
        await session.commit()
    engine = engine_of(admin.runtime)
    assert await engine.evaluate(now) == []  # 4.00 is not over 5; 25 % errors not over 30 %
    async with admin.runtime.db.session() as session:
        session.add(
            UsageEvent(
                id=f"ev-big-{time.monotonic_ns()}",
                ts=now - timedelta(minutes=1),
                user="u",
                mcp_server_id=1,
                tool="search",
                duration_ms=10.0,
                success=False,
                error="boom",
                tokens_in=1,
                tokens_out=1,
                tokens_cached=0,
                cost=2.5,
            )
        )
        await session.commit()
    opened = await engine.evaluate(now)
    assert sorted(a.kind for a in opened) == ["error_rate_over", "usage_cost_over"]
    body = (await webhook_receiver.wait(1))[0].json()
    assert body["rule"]["kind"] == "usage_cost_over"
    assert "6.50 over 5" in body["summary"]
    # A day later the window holds nothing: resolved.
    await engine.evaluate(now + timedelta(days=2))
    assert (await webhook_receiver.wait(2))[1].json()["status"] == "resolved"
