"""Configuration as code on SQLite and PostgreSQL: export/import round trip on a fresh
instance, dry run, atomic failure with the path named, snapshots of API changes, diff and
rollback."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, update

from dockyard.config.recorder import SnapshotRecorder
from dockyard.hosts.models import Host
from dockyard.kit.clock import utcnow
from dockyard.nodes import repository as nodes_repository
from dockyard.nodes.models import Node
from dockyard.services.models import Service
from dockyard.settings import Settings
from tests.conftest import (
    DatabaseFactory,
    LiveApp,
    assert_error,
    audit_rows,
    backend_of,
    running_app,
)

FAST = {"config_snapshot_delay_s": 0.2}


async def _admin(app: LiveApp) -> LiveApp:
    app.client.headers.update(app.bearer(await app.token()))
    return app


@pytest.fixture
async def admin(db_url: str, app_settings: Callable[..., Settings]) -> AsyncIterator[LiveApp]:
    async with running_app(app_settings(db_url, **FAST)) as app:
        yield await _admin(app)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def definition(image: str = "busybox:1", port: int | None = None) -> dict[str, Any]:
    svc: dict[str, Any] = {"image": image, "command": ["sleep", "3600"]}
    if port is not None:
        svc["ports"] = [f"127.0.0.1:{port}:80"]
    return {"services": {"app": svc}}


async def export(app: LiveApp, kinds: str | None = None) -> str:
    params = {"kinds": kinds} if kinds else None
    response = await app.client.get("/api/v1/config/export", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/yaml")
    return response.text


async def do_import(
    app: LiveApp, text: str, *, dry_run: bool = False, prune: bool = False, kinds: str = ""
) -> Any:
    params = {"dry_run": str(dry_run).lower(), "prune": str(prune).lower()}
    if kinds:
        params["kinds"] = kinds
    return await app.client.post(
        "/api/v1/config/import",
        params=params,
        content=text.encode(),
        headers={"Content-Type": "application/yaml"},
    )


async def count(app: LiveApp, model: Any) -> int:
    async with app.runtime.db.read_session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def populate(app: LiveApp) -> None:
    c = app.client
    r = await c.post(
        "/api/v1/roles",
        json={"name": "deployers", "description": "d", "permissions": ["services:deploy"]},
    )
    assert r.status_code == 201, r.text
    r = await c.post(
        "/api/v1/hosts",
        json={"hostname": "db-1.example.com", "address": "10.0.0.5", "tags": ["db", "prod"]},
    )
    assert r.status_code == 201, r.text
    r = await c.post("/api/v1/registries", json={"name": "local", "url": "127.0.0.1:5999"})
    assert r.status_code == 201, r.text
    r = await c.post(
        "/api/v1/templates",
        json={
            "name": "Echo",
            "slug": "echo",
            "category": "Tools",
            "compose": "services:\n  app:\n    image: busybox:${TAG}\n",
            "variables": [{"name": "TAG", "label": "Tag", "default": "1"}],
        },
    )
    assert r.status_code == 201, r.text
    r = await c.post(
        "/api/v1/alert-channels", json={"name": "inbox", "type": "in_app", "config": {}}
    )
    assert r.status_code == 201, r.text
    r = await c.post(
        "/api/v1/alert-rules",
        json={
            "name": "node down",
            "condition": {"kind": "node_offline"},
            "channels": [r.json()["id"]],
        },
    )
    assert r.status_code == 201, r.text
    for i, name in enumerate(("alpha", "beta")):
        r = await c.post(
            "/api/v1/services",
            json={
                "name": name,
                "description": f"service {name}",
                "labels": {"team": "ops"},
                "definition": definition(port=18000 + i),
            },
        )
        assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await c.put(
        f"/api/v1/services/{sid}/update-policy",
        json={"mode": "notify", "schedule": {"frequency": "daily", "time": "05:00"}},
    )
    assert r.status_code == 200, r.text


async def test_export_import_fresh_instance_is_identical(
    admin: LiveApp,
    db_url: str,
    database_factory: DatabaseFactory,
    app_settings: Callable[..., Settings],
) -> None:
    await populate(admin)
    first = await export(admin)
    doc = yaml.safe_load(first)
    assert doc["version"] == 1
    assert set(doc["kinds"]) >= {"services", "hosts", "nodes", "roles", "registries"}
    assert [s["name"] for s in doc["kinds"]["services"]] == ["alpha", "beta"]
    assert doc["kinds"]["services"][1]["update_policy"]["mode"] == "notify"
    assert [r["name"] for r in doc["kinds"]["roles"]] == ["deployers"]
    assert doc["kinds"]["alert_rules"][0]["channels"] == ["inbox"]
    assert [t["slug"] for t in doc["kinds"]["templates"]] == ["echo"]  # no built-in ones
    # Deterministic: the same configuration gives the same bytes.
    assert await export(admin) == first
    scoped = yaml.safe_load(await export(admin, "services,hosts"))
    assert set(scoped["kinds"]) == {"services", "hosts"}

    fresh_url = await database_factory.new(backend_of(db_url))
    async with running_app(app_settings(fresh_url, **FAST)) as fresh:
        await _admin(fresh)
        planned = await do_import(fresh, first, dry_run=True)
        assert planned.status_code == 200, planned.text
        kinds_added = {(c["kind"], c["name"]) for c in planned.json()["changes"]}
        assert ("hosts", "db-1.example.com") in kinds_added
        assert await count(fresh, Service) == 0  # the dry run changed nothing
        applied = await do_import(fresh, first)
        assert applied.status_code == 200, applied.text
        assert {(c["kind"], c["name"], c["change"]) for c in applied.json()["changes"]} == {
            (c["kind"], c["name"], c["change"]) for c in planned.json()["changes"]
        }
        again = await export(fresh)
        assert again == first
        # Revisions from an import are marked as such.
        page = (await fresh.client.get("/api/v1/services")).json()
        sid = next(s["id"] for s in page["items"] if s["name"] == "alpha")
        revs = (await fresh.client.get(f"/api/v1/services/{sid}/revisions")).json()
        assert revs["items"][0]["source"] == "import"
        # Importing the same document again changes nothing.
        noop = await do_import(fresh, first)
        assert noop.json()["changes"] == []


async def test_dry_run_and_atomic_failure(admin: LiveApp) -> None:
    names = [unique("svc") for _ in range(3)]
    items = [
        {"name": names[0], "definition": definition(port=18100)},
        {"name": names[1], "definition": definition(port=18101)},
        {"name": names[2], "definition": {"services": {"app": {"image": ""}}}},
    ]
    text = yaml.safe_dump({"version": 1, "kinds": {"services": items}})
    before = await count(admin, Service)
    response = await do_import(admin, text)
    error = assert_error(response, 422, "config_invalid")
    paths = [e["path"] for e in error["details"]["errors"]]
    assert paths, error
    assert all(p.startswith("kinds.services[2].definition") for p in paths), paths
    assert await count(admin, Service) == before  # the first two were not created

    # Unknown kinds and fields are refused.
    bad_kind = yaml.safe_dump({"version": 1, "kinds": {"gadgets": []}})
    err = assert_error(await do_import(admin, bad_kind), 422)
    assert err["details"]["errors"][0]["path"] == "kinds.gadgets"
    bad_field = yaml.safe_dump(
        {
            "version": 1,
            "kinds": {
                "hosts": [{"hostname": "x.example.com", "address": "10.0.0.9", "colour": "red"}]
            },
        }
    )
    err = assert_error(await do_import(admin, bad_field), 422)
    assert err["details"]["errors"][0]["path"] == "kinds.hosts[0].colour"

    # Dry run of a valid document: the plan, nothing written.
    good = yaml.safe_dump({"version": 1, "kinds": {"services": items[:2]}})
    hosts_before = await count(admin, Host)
    planned = await do_import(admin, good, dry_run=True)
    assert planned.status_code == 200, planned.text
    assert planned.json()["dry_run"] is True
    assert sorted(c["change"] for c in planned.json()["changes"]) == ["added", "added"]
    assert await count(admin, Service) == before
    assert await count(admin, Host) == hosts_before
    applied = await do_import(admin, good)
    assert applied.status_code == 200, applied.text
    assert await count(admin, Service) == before + 2
    rows = await audit_rows(admin, action="config.imported")
    assert rows
    assert rows[-1].details["added"] == 2


async def wait_snapshots(app: LiveApp, at_least: int) -> list[dict[str, Any]]:
    for _ in range(100):
        page = (await app.client.get("/api/v1/config/snapshots")).json()
        if page["total"] >= at_least:
            items: list[dict[str, Any]] = page["items"]
            return items
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} snapshots: {page}")


async def settle(app: LiveApp) -> dict[str, Any]:
    """Take the pending (debounced) snapshot now; return the newest snapshot."""
    await asyncio.sleep(0.05)  # let the after-commit notifications arm the timer
    await app.app.state.config_snapshots.flush()
    latest: dict[str, Any] = (await app.client.get("/api/v1/config/snapshots")).json()["items"][0]
    return latest


async def test_snapshots_diff_and_rollback(admin: LiveApp) -> None:
    c = admin.client
    initial = await wait_snapshots(admin, 1)
    assert initial[0]["source"] == "system"
    host = (
        await c.post("/api/v1/hosts", json={"hostname": "keep.example.com", "address": "10.1.1.1"})
    ).json()
    svc = (
        await c.post("/api/v1/services", json={"name": "web", "definition": definition(port=18200)})
    ).json()
    rule = (
        await c.post(
            "/api/v1/alert-rules",
            json={"name": "web down", "condition": {"kind": "node_offline"}, "cooldown_s": 60},
        )
    ).json()
    good = await settle(admin)
    assert good["source"] == "api"
    assert good["actor_label"] == admin.settings.admin_email
    assert initial[0]["id"] <= good["parent_id"] < good["id"]

    # Change the service definition and delete the host (normal API paths).
    r = await c.put(
        f"/api/v1/services/{svc['id']}", json={"definition": definition("busybox:2", 18201)}
    )
    assert r.status_code == 200, r.text
    r = await c.delete(f"/api/v1/hosts/{host['id']}")
    assert r.status_code in (200, 204), r.text
    r = await c.delete(f"/api/v1/alert-rules/{rule['id']}")
    assert r.status_code == 204, r.text
    bad = await settle(admin)
    assert bad["id"] > good["id"]

    diff = (
        await c.get("/api/v1/config/snapshots/diff", params={"from": good["id"], "to": bad["id"]})
    ).json()
    changes = {(x["kind"], x["name"], x["change"]) for x in diff["changes"]}
    assert ("hosts", "keep.example.com", "removed") in changes
    assert any(k == "services" and ch == "changed" for k, _, ch in changes)
    assert "busybox:2" in diff["diff"]
    assert diff["diff"].startswith("--- snapshot")
    doc = await c.get(f"/api/v1/config/snapshots/{good['id']}")
    assert "keep.example.com" in doc.text

    r = await c.post("/api/v1/config/rollback", json={"snapshot_id": good["id"]})
    assert r.status_code == 200, r.text
    result = r.json()
    rolled = {(x["kind"], x["name"], x["change"]) for x in result["changes"]}
    assert ("hosts", "keep.example.com", "added") in rolled
    assert ("alert_rules", "web down", "added") in rolled
    rules = (await c.get("/api/v1/alert-rules")).json()
    rules = rules["items"] if isinstance(rules, dict) else rules
    restored = next(x for x in rules if x["name"] == "web down")
    assert restored["cooldown_s"] == 60
    hosts = (await c.get("/api/v1/hosts")).json()["items"]
    assert any(h["hostname"] == "keep.example.com" for h in hosts)
    detail = (await c.get(f"/api/v1/services/{svc['id']}")).json()
    assert "busybox:1" in str(detail["definition"])
    assert "busybox:2" not in str(detail["definition"])
    latest = (await c.get("/api/v1/config/snapshots")).json()["items"][0]
    assert latest["id"] == result["snapshot_id"]
    assert latest["source"] == "rollback"
    # The rolled-back configuration equals the snapshot's.
    same = (
        await c.get(
            "/api/v1/config/snapshots/diff", params={"from": good["id"], "to": latest["id"]}
        )
    ).json()
    assert same["changes"] == []
    assert (await audit_rows(admin, action="config.rolled_back"))[-1].details["snapshot_id"] == (
        good["id"]
    )


async def test_secrets_by_reference_only(admin: LiveApp, monkeypatch: pytest.MonkeyPatch) -> None:
    token = f"Bearer secret-{secrets.token_hex(8)}"
    monkeypatch.setenv("DOCKYARD_TEST_MCP_AUTH", token)
    doc = {
        "version": 1,
        "kinds": {
            "mcp_servers": [
                {
                    "name": "tools",
                    "url": "http://127.0.0.1:9/mcp",
                    "headers": {"Authorization": {"ref": "env:DOCKYARD_TEST_MCP_AUTH"}},
                }
            ],
            "alert_channels": [
                {
                    "name": "hook",
                    "type": "webhook",
                    "config": {"url": "http://127.0.0.1:9/hook"},
                    "secrets": {"secret": {"ref": "env:DOCKYARD_TEST_MCP_AUTH"}},
                }
            ],
        },
    }
    r = await do_import(admin, yaml.safe_dump(doc))
    assert r.status_code == 200, r.text
    exported = await export(admin)
    assert token not in exported
    data = yaml.safe_load(exported)["kinds"]
    assert data["mcp_servers"][0]["headers"] == {"Authorization": {"ref": "stored"}}
    assert data["alert_channels"][0]["secrets"] == {"secret": {"ref": "stored"}}
    # The export imports back with no change; the stored values are kept.
    again = await do_import(admin, exported)
    assert again.json()["changes"] == []
    servers = (await admin.client.get("/api/v1/mcp-servers")).json()
    servers = servers["items"] if isinstance(servers, dict) else servers
    assert servers[0]["header_names"] == ["Authorization"]
    snapshot = await settle(admin)
    text = (await admin.client.get(f"/api/v1/config/snapshots/{snapshot['id']}")).text
    assert "tools" in text
    assert token not in text
    # A secret given in clear where a reference belongs is refused, naming the path.
    doc["kinds"]["alert_channels"][0]["config"]["secret"] = "in-clear"
    err = assert_error(await do_import(admin, yaml.safe_dump(doc)), 422, "config_invalid")
    assert err["details"]["errors"][0]["path"] == "kinds.alert_channels[0].config.secret"
    # `stored` on an object that has nothing stored is refused.
    doc2 = {
        "version": 1,
        "kinds": {
            "registries": [
                {"name": "r", "url": "https://registry.example.com", "secret": {"ref": "stored"}}
            ]
        },
    }
    err = assert_error(await do_import(admin, yaml.safe_dump(doc2)), 422, "config_invalid")
    assert err["details"]["errors"][0]["path"] == "kinds.registries[0].secret.ref"


async def test_health_checks_by_name_and_reference(
    admin: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_TEST_HC_TOKEN", "Bearer hc-secret")
    svc = (
        await admin.client.post(
            "/api/v1/services", json={"name": "probe-me", "definition": definition(port=18300)}
        )
    ).json()
    r = await admin.client.post(
        "/api/v1/health-checks",
        json={
            "name": "probe-me containers",
            "kind": "docker",
            "target": {"service_id": svc["id"]},
            "remediation": {"action": "restart_container"},
        },
    )
    assert r.status_code == 201, r.text
    doc = yaml.safe_dump(
        {
            "version": 1,
            "kinds": {
                "health_checks": [
                    {
                        "name": "site",
                        "kind": "http",
                        "target": {
                            "url": "http://127.0.0.1:9/",
                            "headers": {"Authorization": {"ref": "env:DOCKYARD_TEST_HC_TOKEN"}},
                        },
                        "interval_s": 30,
                    }
                ]
            },
        }
    )
    r = await do_import(admin, doc)
    assert r.status_code == 200, r.text
    exported = await export(admin, "health_checks")
    assert "hc-secret" not in exported
    checks = {c["name"]: c for c in yaml.safe_load(exported)["kinds"]["health_checks"]}
    assert checks["site"]["target"]["headers"] == {"Authorization": {"ref": "stored"}}
    node = checks["probe-me containers"]["target"]["node"]
    assert checks["probe-me containers"]["target"]["service"] == f"{node}/probe-me"
    assert await do_import(admin, exported) is not None
    assert (await do_import(admin, exported)).json()["changes"] == []
    # Prune within the kind removes a check the document lacks.
    only_site = yaml.safe_dump({"version": 1, "kinds": {"health_checks": [checks["site"]]}})
    pruned = (await do_import(admin, only_site, prune=True)).json()["changes"]
    assert pruned == [{"kind": "health_checks", "name": "probe-me containers", "change": "removed"}]


async def test_live_node_state_is_not_a_configuration_change(
    admin: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Agents' last-seen and presence writes go to the `nodes` table every few seconds:
    they must not start a (debounced, whole-document) snapshot pass each time."""
    notified: list[object] = []
    monkeypatch.setattr(SnapshotRecorder, "notify", lambda _self, actor: notified.append(actor))
    seen_at = utcnow().replace(microsecond=0)
    async with admin.runtime.db.session() as session:
        local = await nodes_repository.get_local(session)
        assert local is not None
        await nodes_repository.touch_last_seen(session, {local.id: seen_at})
        await nodes_repository.set_agent_replica(session, local.id, "replica-x", seen_at)
        await nodes_repository.clear_agent_replica(session, local.id, "replica-x")
        await session.commit()
    assert notified == []
    async with admin.runtime.db.read_session() as session:
        node = await session.get(Node, local.id)
        assert node is not None
        assert node.last_seen is not None
        assert node.last_seen.replace(tzinfo=None) == (seen_at.replace(tzinfo=None))
        assert node.agent_replica is None
    # The same table written as configuration is noticed.
    async with admin.runtime.db.session() as session:
        await session.execute(update(Node).where(Node.id == local.id).values(name=Node.name))
        await session.commit()
    assert len(notified) == 1
