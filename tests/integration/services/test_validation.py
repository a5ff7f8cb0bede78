"""Bad service input: a 4xx naming the path, and nothing created (both databases)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import LiveApp, assert_error, audit_rows

BOMB = """
a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
services:
  web:
    image: busybox
    labels: *g
"""


def web(**fields: Any) -> dict[str, Any]:
    return {"services": {"web": {"image": "busybox:1", **fields}}}


CASES: list[tuple[str, dict[str, Any], int, str]] = [
    ("bad image", {"definition": web(image="Bad Image:latest")}, 422, "services.web.image"),
    ("port 70000", {"definition": web(ports=["70000:80"])}, 422, "services.web.ports.0"),
    ("unknown field", {"definition": web(portz=["80"])}, 422, "services.web.portz"),
    (
        "cycle",
        {
            "definition": {
                "services": {
                    "a": {"image": "busybox", "depends_on": ["b"]},
                    "b": {"image": "busybox", "depends_on": ["a"]},
                }
            }
        },
        422,
        "depends_on",
    ),
    (
        "unknown dependency",
        {"definition": web(depends_on=["ghost"])},
        422,
        "services.web.depends_on",
    ),
    (
        "env_file",
        {"compose": "services:\n  web:\n    image: busybox\n    env_file: .env\n"},
        422,
        "services.web.env_file",
    ),
    ("yaml bomb", {"compose": BOMB}, 422, ""),
]


@pytest.mark.parametrize(("label", "body", "status", "path"), CASES, ids=[c[0] for c in CASES])
async def test_bad_definitions_are_refused_with_their_path(
    api: LiveApp, label: str, body: dict[str, Any], status: int, path: str
) -> None:
    client = api.client
    client.headers.update(api.bearer(await api.token()))
    response = await client.post("/api/v1/services", json={"name": "svc", **body})
    error = assert_error(response, status)
    paths = [e["path"] for e in error["details"].get("errors", [])]
    assert any(path in p for p in paths), (label, error)
    assert (await client.get("/api/v1/services")).json()["total"] == 0
    assert not await audit_rows(api, action="service.created")


@pytest.mark.parametrize("name", ["../etc", "a/b", "UPPER", "-lead", "x" * 64, "", "a b"])
async def test_unsafe_names_are_refused(api: LiveApp, name: str) -> None:
    api.client.headers.update(api.bearer(await api.token()))
    response = await api.client.post("/api/v1/services", json={"name": name, "definition": web()})
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["errors"][0]["path"] == "body.name"
    assert (await api.client.get("/api/v1/services")).json()["total"] == 0


async def test_a_5_mb_definition_is_refused(api: LiveApp) -> None:
    api.client.headers.update(api.bearer(await api.token()))
    big = "services:\n  web:\n    image: busybox\n    labels:\n" + "".join(
        f"      k{i}: {'v' * 100}\n" for i in range(50_000)
    )
    assert len(big) > 5_000_000
    response = await api.client.post("/api/v1/services", json={"name": "big", "compose": big})
    assert_error(response, 422)
    assert (await api.client.get("/api/v1/services")).json()["total"] == 0


async def test_a_host_port_used_by_another_service_is_refused(api: LiveApp) -> None:
    api.client.headers.update(api.bearer(await api.token()))
    first = await api.client.post(
        "/api/v1/services", json={"name": "one", "definition": web(ports=["18080:80"])}
    )
    assert first.status_code == 201, first.text
    second = await api.client.post(
        "/api/v1/services",
        json={"name": "two", "definition": web(ports=["127.0.0.1:18080:8080"])},
    )
    error = assert_error(second, 422, "invalid_definition")
    assert error["details"]["errors"][0]["path"] == "services.web.ports"
    assert "one/web" in error["details"]["errors"][0]["message"]
    # Another protocol or port is fine.
    udp = await api.client.post(
        "/api/v1/services", json={"name": "three", "definition": web(ports=["18080:80/udp"])}
    )
    assert udp.status_code == 201, udp.text
    assert (await api.client.get("/api/v1/services")).json()["total"] == 2


async def test_duplicate_names_and_stale_edits_are_conflicts(api: LiveApp) -> None:
    api.client.headers.update(api.bearer(await api.token()))
    created = await api.client.post("/api/v1/services", json={"name": "dup", "definition": web()})
    assert created.status_code == 201
    sid = created.json()["id"]
    assert_error(
        await api.client.post("/api/v1/services", json={"name": "dup", "definition": web()}),
        409,
        "service_exists",
    )
    first = await api.client.put(
        f"/api/v1/services/{sid}",
        json={"definition": web(environment={"A": "1"}), "revision": 1},
    )
    assert first.status_code == 200, first.text
    assert first.json()["revision"] == 2
    stale = await api.client.put(
        f"/api/v1/services/{sid}",
        json={"definition": web(environment={"A": "2"})},
        headers={"If-Match": '"rev-1"'},
    )
    error = assert_error(stale, 409, "revision_conflict")
    assert error["details"] == {"expected": 1, "latest": 2}
    revisions = (await api.client.get(f"/api/v1/services/{sid}/revisions")).json()
    assert [r["number"] for r in revisions["items"]] == [2, 1]


async def test_revisions_diff_and_restore(api: LiveApp) -> None:
    api.client.headers.update(api.bearer(await api.token()))
    sid = (
        await api.client.post(
            "/api/v1/services", json={"name": "rev", "definition": web(environment={"V": "1"})}
        )
    ).json()["id"]
    await api.client.put(
        f"/api/v1/services/{sid}", json={"definition": web(environment={"V": "2"})}
    )
    diff = (await api.client.get(f"/api/v1/services/{sid}/revisions/diff?from=1&to=2")).json()
    assert "-      V: '1'" in diff["diff"]
    assert "+      V: '2'" in diff["diff"]
    assert diff["changed_services"] == ["web"]
    restored = await api.client.post(f"/api/v1/services/{sid}/revisions/1/restore", json={})
    assert restored.status_code == 201, restored.text
    assert restored.json()["number"] == 3
    assert restored.json()["source"] == "restore"
    detail = (await api.client.get(f"/api/v1/services/{sid}")).json()
    assert detail["definition"]["services"]["web"]["environment"] == {"V": "1"}
    same = await api.client.put(
        f"/api/v1/services/{sid}", json={"definition": web(environment={"V": "1"})}
    )
    assert same.json()["revision"] == 3  # no change, no new revision
    assert_error(await api.client.get(f"/api/v1/services/{sid}/revisions/diff?from=1&to=9"), 404)
    compose = await api.client.get(f"/api/v1/services/{sid}/compose?revision=2")
    assert compose.headers["content-type"].startswith("application/yaml")
    assert "V: '2'" in compose.text


async def test_validate_endpoint_reports_without_saving(api: LiveApp) -> None:
    api.client.headers.update(api.bearer(await api.token()))
    bad = await api.client.post(
        "/api/v1/services/validate", json={"definition": web(ports=["99999"])}
    )
    assert bad.status_code == 200
    assert bad.json()["valid"] is False
    assert bad.json()["issues"][0]["path"].startswith("services.web.ports")
    good = await api.client.post(
        "/api/v1/services/validate", json={"compose": "services:\n  web:\n    image: busybox\n"}
    )
    assert good.json() == {
        "valid": True,
        "issues": [],
        "definition": good.json()["definition"],
    }
    assert good.json()["definition"]["services"]["web"]["image"] == "busybox"
    assert (await api.client.get("/api/v1/services")).json()["total"] == 0
