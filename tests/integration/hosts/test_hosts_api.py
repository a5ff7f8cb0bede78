"""Host inventory API on SQLite and PostgreSQL: CRUD, search, filters, bulk tags, SSH
command templates, CSV import (bad rows, duplicates, upsert, dry run) and export."""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

import pytest
from sqlalchemy import func, select

from dockyard.hosts.models import Host
from tests.conftest import LiveApp, add_user, assert_error, audit_rows, unique_email

HEADER = "hostname,address,ssh_port,ssh_user,bastion,environment,tags,notes\n"


@pytest.fixture
async def admin(api: LiveApp) -> LiveApp:
    api.client.headers.update(api.bearer(await api.token()))
    return api


def name(prefix: str = "h") -> str:
    return f"{prefix}-{secrets.token_hex(4)}.example.com"


async def host_count(api: LiveApp) -> int:
    async with api.runtime.db.read_session() as session:
        return int((await session.execute(select(func.count()).select_from(Host))).scalar_one())


async def create(api: LiveApp, **fields: Any) -> dict[str, Any]:
    body = {"hostname": name(), "address": "10.0.0.1", **fields}
    response = await api.client.post("/api/v1/hosts", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def import_csv(api: LiveApp, text: str, *, dry_run: bool = False) -> dict[str, Any]:
    response = await api.client.post(
        f"/api/v1/hosts/import?dry_run={'true' if dry_run else 'false'}",
        content=text.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_crud_search_filters_and_audit(admin: LiveApp) -> None:
    web = await create(
        admin,
        hostname="Web-1.Example.com",
        address="192.0.2.10",
        ssh_port=2222,
        ssh_user="deploy",
        bastion="ops@jump.example.com:2200",
        environment="prod",
        tags=["web", "eu", "web"],
        notes="Frontend behind the LB",
    )
    assert web["hostname"] == "web-1.example.com"  # stored lower-case
    assert web["tags"] == ["web", "eu"]
    assert web["owner_id"] is not None
    db = await create(admin, address="db.internal", environment="staging", tags=["db"])
    await create(admin, address="2001:db8::1", notes="legacy box")

    everything = (await admin.client.get("/api/v1/hosts")).json()
    assert everything["total"] == 3
    assert [h["hostname"] for h in everything["items"]] == sorted(
        h["hostname"] for h in everything["items"]
    )
    page = (await admin.client.get("/api/v1/hosts", params={"limit": 2, "offset": 2})).json()
    assert page["total"] == 3
    assert len(page["items"]) == 1

    by_notes = (await admin.client.get("/api/v1/hosts", params={"q": "FRONTEND"})).json()
    assert [h["id"] for h in by_notes["items"]] == [web["id"]]
    by_address = (await admin.client.get("/api/v1/hosts", params={"q": "db.inter"})).json()
    assert [h["id"] for h in by_address["items"]] == [db["id"]]
    by_env = (await admin.client.get("/api/v1/hosts", params={"environment": "prod"})).json()
    assert [h["id"] for h in by_env["items"]] == [web["id"]]
    by_tag = (await admin.client.get("/api/v1/hosts", params={"tag": "db"})).json()
    assert [h["id"] for h in by_tag["items"]] == [db["id"]]
    # A tag filter matches whole tags only, and LIKE wildcards are literal.
    assert (await admin.client.get("/api/v1/hosts", params={"tag": "we"})).json()["total"] == 0
    assert (await admin.client.get("/api/v1/hosts", params={"tag": "%"})).json()["total"] == 0
    assert (await admin.client.get("/api/v1/hosts", params={"q": "%"})).json()["total"] == 0

    facets = (await admin.client.get("/api/v1/hosts/facets")).json()
    assert facets == {"environments": ["prod", "staging"], "tags": ["db", "eu", "web"]}

    patched = await admin.client.patch(
        f"/api/v1/hosts/{web['id']}", json={"ssh_port": 22, "bastion": None, "tags": ["web"]}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["bastion"] is None
    assert patched.json()["ssh_port"] == 22
    got = (await admin.client.get(f"/api/v1/hosts/{web['id']}")).json()
    assert got["tags"] == ["web"]
    assert got["ssh_user"] == "deploy"

    duplicate = await admin.client.post(
        "/api/v1/hosts", json={"hostname": "WEB-1.example.com", "address": "10.0.0.2"}
    )
    assert_error(duplicate, 409, "host_exists")
    renamed = await admin.client.patch(
        f"/api/v1/hosts/{db['id']}", json={"hostname": "web-1.example.com"}
    )
    assert_error(renamed, 409, "host_exists")

    assert (await admin.client.delete(f"/api/v1/hosts/{db['id']}")).status_code == 204
    assert_error(await admin.client.get(f"/api/v1/hosts/{db['id']}"), 404, "not_found")

    actions = [r.action for r in await audit_rows(admin, target_type="host")]
    assert actions.count("host.created") == 3
    assert "host.updated" in actions
    assert "host.deleted" in actions
    updated = next(iter(await audit_rows(admin, action="host.updated")))
    assert updated.details["changes"]["ssh_port"] == {"from": 2222, "to": 22}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hostname", "-bad.example.com"),
        ("hostname", "under_score.example.com"),
        ("hostname", "a" * 64 + ".com"),
        ("address", "999.1.1.1"),
        ("address", "not an address"),
        ("ssh_port", 0),
        ("ssh_port", 65536),
        ("ssh_user", "-oProxyCommand=x"),
        ("bastion", "jump:99999"),
        ("bastion", "bad host"),
        ("environment", "prod env"),
        ("tags", ["ok", "not ok"]),
        ("ssh_template", "ssh {{hostname}}"),
    ],
)
async def test_invalid_fields_are_422_naming_the_field(
    admin: LiveApp, field: str, value: Any
) -> None:
    body = {"hostname": name(), "address": "10.0.0.1", field: value}
    error = assert_error(await admin.client.post("/api/v1/hosts", json=body), 422)
    assert any(e["path"].startswith(f"body.{field}") for e in error["details"]["errors"]), error
    assert await host_count(admin) == 0


async def test_bulk_tag(admin: LiveApp) -> None:
    a = await create(admin, tags=["old", "keep"])
    b = await create(admin, tags=["keep"])
    c = await create(admin)
    response = await admin.client.post(
        "/api/v1/hosts/bulk-tag",
        json={"ids": [a["id"], b["id"]], "add": ["new"], "remove": ["old"]},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"updated": 2}
    tags = {h["id"]: h["tags"] for h in (await admin.client.get("/api/v1/hosts")).json()["items"]}
    assert tags[a["id"]] == ["keep", "new"]
    assert tags[b["id"]] == ["keep", "new"]
    assert tags[c["id"]] == []
    missing = await admin.client.post(
        "/api/v1/hosts/bulk-tag", json={"ids": [c["id"], 999_999], "add": ["x"]}
    )
    assert_error(missing, 404)
    # All or nothing: the existing host of the refused request was not tagged.
    assert (await admin.client.get(f"/api/v1/hosts/{c['id']}")).json()["tags"] == []
    assert len(await audit_rows(admin, action="host.bulk_tagged")) == 1


async def test_ssh_command_templates(admin: LiveApp) -> None:
    plain = await create(admin, address="192.0.2.5", ssh_user="root", ssh_port=22)
    jumped = await create(
        admin, address="10.1.2.3", ssh_port=2022, bastion="ops@jump.example.com:2200"
    )
    assert (
        (await admin.client.get("/api/v1/hosts/ssh-template")).json()["template"].startswith("ssh ")
    )
    first = await admin.client.get(f"/api/v1/hosts/{plain['id']}/ssh-command")
    assert first.json() == {"command": "ssh -p 22 root@192.0.2.5"}
    second = await admin.client.get(f"/api/v1/hosts/{jumped['id']}/ssh-command")
    assert second.json() == {"command": "ssh -J ops@jump.example.com:2200 -p 2022 10.1.2.3"}
    copied = await audit_rows(admin, action="host.ssh_command.copied")
    assert [r.target_id for r in copied] == [str(plain["id"]), str(jumped["id"])]

    bad = await admin.client.put("/api/v1/hosts/ssh-template", json={"template": "ssh {{nope}}"})
    error = assert_error(bad, 422)
    assert "nope" in error["details"]["errors"][0]["message"]
    saved = await admin.client.put(
        "/api/v1/hosts/ssh-template",
        json={"template": "mosh --ssh='ssh -p {{port}}' {{user}}@{{host}}"},
    )
    assert saved.status_code == 200, saved.text
    command = (await admin.client.get(f"/api/v1/hosts/{plain['id']}/ssh-command")).json()
    assert command["command"] == "mosh --ssh='ssh -p 22' root@192.0.2.5"
    # A per-host override wins over the global template.
    await admin.client.patch(
        f"/api/v1/hosts/{plain['id']}", json={"ssh_template": "ssh {{host}} -l {{user}}"}
    )
    command = (await admin.client.get(f"/api/v1/hosts/{plain['id']}/ssh-command")).json()
    assert command["command"] == "ssh 192.0.2.5 -l root"
    assert len(await audit_rows(admin, action="host.ssh_template.updated")) == 1


async def test_csv_import_reports_bad_rows_and_imports_good_ones(admin: LiveApp) -> None:
    existing = await create(admin, hostname="old.example.com", address="10.9.9.9", tags=["x"])
    text = HEADER + (
        "good1.example.com,10.0.0.1,22,root,,prod,web;eu,first\n"  # row 2
        "bad-address.example.com,300.1.1.1,22,root,,prod,,\n"  # row 3
        ",10.0.0.3,22,root,,prod,,\n"  # row 4: missing hostname
        "bad-port.example.com,10.0.0.4,70000,root,,prod,,\n"  # row 5
        "good1.example.com,10.0.0.5,22,root,,prod,,dup\n"  # row 6: duplicate of row 2
        "old.example.com,db.example.com,2200,admin,jump.example.com:22,staging,a|b,updated\n"
        '"good2.example.com",2001:db8::2,,,,,,"multi\nline, notes"\n'  # rows 8
        "short.example.com,10.0.0.8\n"  # row 9: wrong field count
    )
    result = await import_csv(admin, text)
    assert result["created"] == 2
    assert result["updated"] == 1
    errors = {(e["row"], e["field"]) for e in result["errors"]}
    assert errors == {
        (3, "address"),
        (4, "hostname"),
        (5, "ssh_port"),
        (6, "hostname"),
        (9, "row"),
    }, result["errors"]
    assert all(e["message"] for e in result["errors"])
    duplicate = next(e for e in result["errors"] if e["row"] == 6)
    assert "duplicate" in duplicate["message"]
    assert "row 2" in duplicate["message"]
    assert result["error_count"] == 5

    hosts = {h["hostname"]: h for h in (await admin.client.get("/api/v1/hosts")).json()["items"]}
    assert set(hosts) == {"good1.example.com", "good2.example.com", "old.example.com"}
    assert hosts["good1.example.com"]["tags"] == ["web", "eu"]
    assert hosts["good2.example.com"]["ssh_port"] == 22
    assert hosts["good2.example.com"]["notes"] == "multi\nline, notes"
    old = hosts["old.example.com"]
    assert old["id"] == existing["id"]  # upserted by hostname, not replaced
    assert (old["address"], old["ssh_port"], old["ssh_user"]) == ("db.example.com", 2200, "admin")
    assert old["tags"] == ["a", "b"]
    assert old["environment"] == "staging"
    assert old["bastion"] == "jump.example.com:22"
    imported = await audit_rows(admin, action="host.imported")
    assert len(imported) == 1
    assert imported[0].details == {"created": 2, "updated": 1, "errors": 5}


async def test_dry_run_writes_nothing(admin: LiveApp) -> None:
    await create(admin, hostname="exists.example.com")
    audit_before = len(await audit_rows(admin))
    text = HEADER + "exists.example.com,10.0.0.2,,,,,,\nnew.example.com,10.0.0.3,,,,,,\n"
    result = await import_csv(admin, text, dry_run=True)
    assert (result["created"], result["updated"], result["errors"]) == (1, 1, [])
    assert result["dry_run"] is True
    assert await host_count(admin) == 1
    host = (await admin.client.get("/api/v1/hosts")).json()["items"][0]
    assert host["address"] == "10.0.0.1"
    assert len(await audit_rows(admin)) == audit_before


async def test_import_rejects_wrong_type_and_header(admin: LiveApp) -> None:
    json_body = await admin.client.post(
        "/api/v1/hosts/import", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert_error(json_body, 415, "unsupported_media_type")
    wrong = await admin.client.post(
        "/api/v1/hosts/import",
        content=b"hostname,addr,ssh_port,ssh_user,bastion,environment,tags,notes,extra\n",
        headers={"Content-Type": "text/csv"},
    )
    error = assert_error(wrong, 422, "invalid_csv_header")
    assert error["details"]["missing"] == ["address"]
    assert error["details"]["unknown"] == ["addr", "extra"]
    assert "address" in error["message"]
    assert "extra" in error["message"]
    empty = await admin.client.post(
        "/api/v1/hosts/import", content=b"", headers={"Content-Type": "text/csv"}
    )
    assert_error(empty, 422)
    assert await host_count(admin) == 0


async def test_import_over_the_size_limit_is_413(app_settings: Any, db_url: str) -> None:
    from tests.conftest import running_app

    async with running_app(app_settings(db_url, host_import_max_bytes=2048)) as small:
        small.client.headers.update(small.bearer(await small.token()))
        rows = "".join(f"h{i}.example.com,10.0.0.1,,,,,,\n" for i in range(200))

        async def chunks() -> Any:  # no Content-Length: the limit is enforced while reading
            for start in range(0, len(rows), 500):
                yield (HEADER + rows)[start : start + 500].encode()

        response = await small.client.post(
            "/api/v1/hosts/import", content=chunks(), headers={"Content-Type": "text/csv"}
        )
        assert_error(response, 413, "payload_too_large")
        declared = await small.client.post(
            "/api/v1/hosts/import",
            content=(HEADER + rows).encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert_error(declared, 413, "payload_too_large")
        assert await host_count(small) == 0


async def test_failed_commit_leaves_nothing(
    admin: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the batches were written (here: writing the audit row) rolls back
    every batch: nothing partial."""
    from dockyard.hosts import csv_io

    async def broken_record(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(csv_io, "BATCH", 3)
    monkeypatch.setattr(csv_io, "record", broken_record)
    text = HEADER + "".join(f"n{i}.example.com,10.0.0.{i},,,,,,\n" for i in range(10))
    response = await admin.client.post(
        "/api/v1/hosts/import", content=text.encode(), headers={"Content-Type": "text/csv"}
    )
    assert_error(response, 500, "internal_error")
    assert await host_count(admin) == 0


async def test_export_round_trip_and_formula_injection(admin: LiveApp) -> None:
    await create(
        admin,
        hostname="calc.example.com",
        address="10.0.0.7",
        tags=["a", "b"],
        notes='=HYPERLINK("http://evil","x")',
    )
    await create(admin, hostname="plus.example.com", notes='+1 and, "quoted"\nnext line')
    await create(admin, hostname="at.example.com", notes="@SUM(A1)", environment="prod")
    await create(admin, hostname="minus.example.com", notes="-2+3")
    response = await admin.client.get("/api/v1/hosts/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert ".csv" in disposition
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == HEADER.strip().split(",")
    notes = {r["hostname"]: r["notes"] for r in rows}
    assert notes["calc.example.com"] == '\'=HYPERLINK("http://evil","x")'
    assert notes["plus.example.com"].startswith("'+1")
    assert notes["at.example.com"] == "'@SUM(A1)"
    assert notes["minus.example.com"] == "'-2+3"
    assert next(r for r in rows if r["hostname"] == "calc.example.com")["tags"] == "a;b"
    assert not any(
        cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values() if cell
    )

    before = {h["hostname"]: h for h in (await admin.client.get("/api/v1/hosts")).json()["items"]}
    for host in before.values():
        assert (await admin.client.delete(f"/api/v1/hosts/{host['id']}")).status_code == 204
    result = await import_csv(admin, response.text)
    assert (result["created"], result["updated"], result["errors"]) == (4, 0, [])
    after = {h["hostname"]: h for h in (await admin.client.get("/api/v1/hosts")).json()["items"]}
    fields = ("address", "ssh_port", "ssh_user", "bastion", "environment", "tags", "notes")
    for hostname, host in before.items():
        assert {f: after[hostname][f] for f in fields} == {f: host[f] for f in fields}
    assert (await admin.client.get("/api/v1/hosts/export")).text.splitlines()[1:] == (
        response.text.splitlines()[1:]
    )


async def test_permissions(admin: LiveApp) -> None:
    """An auditor reads hosts but changes nothing; a viewer has no host permission at all."""
    host = await create(admin)
    email, password = unique_email("auditor"), "Auditor-Password-123456"
    await add_user(admin, email, password, role="auditor")
    viewer = admin.bearer((await admin.login(email, password))["access_token"])
    assert (await admin.client.get("/api/v1/hosts", headers=viewer)).status_code == 200
    assert (await admin.client.get("/api/v1/hosts/export", headers=viewer)).status_code == 200
    email, password = unique_email("viewer"), "Viewer-Password-123456"
    await add_user(admin, email, password, role="viewer")
    plain = admin.bearer((await admin.login(email, password))["access_token"])
    assert_error(await admin.client.get("/api/v1/hosts", headers=plain), 403)
    assert_error(
        await admin.client.get(f"/api/v1/hosts/{host['id']}/ssh-command", headers=plain), 403
    )
    for method, path, kwargs in [
        ("POST", "/api/v1/hosts", {"json": {"hostname": name(), "address": "10.0.0.1"}}),
        ("PATCH", f"/api/v1/hosts/{host['id']}", {"json": {"notes": "x"}}),
        ("DELETE", f"/api/v1/hosts/{host['id']}", {}),
        ("POST", "/api/v1/hosts/bulk-tag", {"json": {"ids": [host["id"]], "add": ["x"]}}),
        ("PUT", "/api/v1/hosts/ssh-template", {"json": {"template": "ssh {{host}}"}}),
        (
            "POST",
            "/api/v1/hosts/import",
            {"content": HEADER.encode(), "headers": {"Content-Type": "text/csv"}},
        ),
    ]:
        headers = {**viewer, **kwargs.pop("headers", {})}
        response = await admin.client.request(method, path, headers=headers, **kwargs)
        assert_error(response, 403, "permission_denied")
    assert (await admin.client.get(f"/api/v1/hosts/{host['id']}")).json()["notes"] == ""


async def test_a_colliding_write_mid_import_leaves_nothing(
    admin: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host created by someone else while the import runs (simulated: the import does not
    see it) makes a later batch's INSERT fail: 409, and the earlier batches are gone too."""
    from dockyard.hosts import csv_io

    await create(admin, hostname="taken.example.com")

    async def sees_nothing(session: Any, hostnames: Any) -> dict[str, int]:
        return {}

    monkeypatch.setattr(csv_io, "BATCH", 3)
    monkeypatch.setattr(csv_io.repository, "ids_by_hostname", sees_nothing)
    rows = [f"fresh{i}.example.com,10.0.1.{i},,,,,,\n" for i in range(5)]
    text = HEADER + "".join(rows) + "taken.example.com,10.0.2.1,,,,,,\n"
    response = await admin.client.post(
        "/api/v1/hosts/import", content=text.encode(), headers={"Content-Type": "text/csv"}
    )
    assert_error(response, 409, "import_conflict")
    assert await host_count(admin) == 1
    assert await audit_rows(admin, action="host.imported") == []
