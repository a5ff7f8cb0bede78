"""Templates over the real API: import, gallery, deploy with variables, policy, secrets."""

from __future__ import annotations

import json
import os
from typing import Any

import yaml
from sqlalchemy import select

from dockyard.templates.models import Template
from dockyard.templates.service import load_catalog
from tests.conftest import LiveApp, add_user, assert_error, audit_rows, unique_email
from tests.integration.services.conftest import act, free_port, http_get, wait_status

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
PASSWORD = "Tenant-Password-123456"
SECRET = "Sup3r-Secret-Value-9876"

PORTAINER = {
    "version": "2",
    "templates": [
        {
            "type": 1,
            "title": "Test web",
            "description": "The test image's httpd",
            "categories": ["testing"],
            "image": IMAGE,
            "ports": ["80/tcp"],
            "env": [{"name": "GREETING", "label": "Greeting", "default": "hi"}],
        },
        {
            "type": 3,
            "title": "A stack",
            "categories": ["testing"],
            "repository": {"url": "https://github.com/x/y", "stackfile": "docker-compose.yml"},
        },
    ],
}


def web_template(slug: str, version: str = "1", **extra: Any) -> dict[str, Any]:
    """A Dockyard-format template running the test image's httpd."""
    privileged = "    privileged: true\n" if extra.pop("privileged", False) else ""
    return {
        "name": f"Test {slug}",
        "slug": slug,
        "category": "testing",
        "icon": "globe",
        "version": version,
        "documentation": "# Test\n\nServes the test page.",
        "variables": [
            {"name": "HOST_PORT", "type": "number", "required": True, "label": "Port"},
            {"name": "GREETING", "required": True, "pattern": "[a-z]+"},
            {"name": "API_TOKEN", "type": "secret", "required": True},
        ],
        "compose": (
            "services:\n"
            "  web:\n"
            f"    image: {IMAGE}\n"
            '    command: ["httpd", "-f", "-p", "80", "-h", "/www"]\n'
            "    stop_grace_period: 1s\n"
            f"{privileged}"
            "    environment:\n"
            "      GREETING: ${GREETING}\n"
            "      API_TOKEN: ${API_TOKEN}\n"
            f"      VERSION: '{version}'\n"
            "    ports:\n"
            '      - "127.0.0.1:${HOST_PORT}:80"\n'
            "    labels:\n"
            "      io.dockyard.test: '1'\n"
        ),
        **extra,
    }


async def tenant(api: LiveApp) -> dict[str, str]:
    email = unique_email("tenant")
    await add_user(api, email, PASSWORD, role="user")
    return api.bearer((await api.login(email, PASSWORD))["access_token"])


async def test_import_gallery_export_all_or_nothing(api: LiveApp) -> None:
    api.client.headers.update(api.bearer(await api.token()))
    # The starter catalog is loaded on start.
    listed = (await api.client.get("/api/v1/templates")).json()
    slugs = {t["slug"] for t in listed["items"]}
    assert {"static-web", "nginx", "postgres", "redis", "uptime-kuma", "whoami"} <= slugs
    # Loading again changes nothing; a shipped template with an older version is updated.
    assert await load_catalog(api.runtime.db) == 0
    async with api.runtime.db.session() as session:
        row = (await session.execute(select(Template).where(Template.slug == "nginx"))).scalar_one()
        row.version = "0"
        row.compose = "services: {}\n"
        await session.commit()
    assert await load_catalog(api.runtime.db) == 1
    nginx = next(
        t
        for t in (await api.client.get("/api/v1/templates")).json()["items"]
        if t["slug"] == "nginx"
    )
    assert nginx["version"] == "1"
    assert "nginx:${NGINX_TAG}" in nginx["compose"]

    response = await api.client.post(
        "/api/v1/templates/import", json={"format": "portainer", "content": json.dumps(PORTAINER)}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert [t["name"] for t in body["items"]] == ["Test web"]
    assert body["skipped"][0]["path"] == "templates.1"
    imported = body["items"][0]
    assert imported["source_format"] == "portainer"
    assert imported["variables"][0]["name"] == "GREETING"

    # Search and category filter.
    found = (await api.client.get("/api/v1/templates", params={"search": "test web"})).json()
    assert [t["id"] for t in found["items"]] == [imported["id"]]
    by_cat = (await api.client.get("/api/v1/templates", params={"category": "testing"})).json()
    assert [t["id"] for t in by_cat["items"]] == [imported["id"]]
    categories = (await api.client.get("/api/v1/templates/categories")).json()["items"]
    assert {"name": "testing", "count": 1} in categories
    assert {"name": "databases", "count": 2} in categories

    # Importing the same file again gets a fresh slug.
    again = await api.client.post(
        "/api/v1/templates/import", json={"format": "portainer", "content": json.dumps(PORTAINER)}
    )
    assert again.json()["items"][0]["slug"] == "test-web-2"

    # Export in Dockyard format and re-import it under a new slug.
    exported = await api.client.get(f"/api/v1/templates/{imported['id']}/export?format=json")
    assert exported.status_code == 200
    doc = exported.json()
    assert doc["kind"] == "dockyard/template@1"
    doc["slug"] = "test-web-copy"
    copy = await api.client.post(
        "/api/v1/templates/import", json={"format": "dockyard", "content": json.dumps(doc)}
    )
    assert copy.status_code == 201, copy.text
    assert copy.json()["items"][0]["compose"] == imported["compose"]
    as_yaml = await api.client.get(f"/api/v1/templates/{imported['id']}/export")
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert "kind: dockyard/template@1" in as_yaml.text

    # All or nothing: a good template followed by a bad one stores neither.
    before = (await api.client.get("/api/v1/templates")).json()["total"]
    bad = {"templates": [web_template("good-one"), {**web_template("bad-one"), "variables": []}]}
    response = await api.client.post(
        "/api/v1/templates/import", json={"format": "dockyard", "content": json.dumps(bad)}
    )
    error = assert_error(response, 422, "invalid_template")
    assert error["details"]["errors"][0]["path"] == "templates.1.variables"
    assert (await api.client.get("/api/v1/templates")).json()["total"] == before
    bad_egg = await api.client.post(
        "/api/v1/templates/import", json={"format": "pterodactyl", "content": '{"meta": {}}'}
    )
    assert assert_error(bad_egg, 422)["details"]["errors"][0]["path"] == "meta.version"

    # Create, update, delete in Dockyard format; audited.
    created = await api.client.post("/api/v1/templates", json=web_template("mine"))
    assert created.status_code == 201, created.text
    tid = created.json()["id"]
    conflict = await api.client.post("/api/v1/templates", json=web_template("mine"))
    assert_error(conflict, 409, "template_exists")
    updated = await api.client.put(f"/api/v1/templates/{tid}", json=web_template("mine", "2"))
    assert updated.json()["version"] == "2"
    assert (await api.client.delete(f"/api/v1/templates/{tid}")).status_code == 204
    assert (await api.client.get(f"/api/v1/templates/{tid}")).status_code == 404
    actions = [e.action for e in await audit_rows(api, target_type="template")]
    assert actions.count("template.imported") == 3
    assert {"template.created", "template.updated", "template.deleted"} <= set(actions)


async def test_deploy_with_variables_runs_and_offers_updates(
    services_api: LiveApp,
    service_name: str,
) -> None:
    api = services_api
    # Import (Dockyard format, as YAML) and find it in the gallery.
    document = yaml.safe_dump(web_template(service_name))
    imported = await api.client.post(
        "/api/v1/templates/import", json={"format": "dockyard", "content": document}
    )
    assert imported.status_code == 201, imported.text
    tid = imported.json()["items"][0]["id"]
    gallery = await api.client.get("/api/v1/templates", params={"category": "testing"})
    assert tid in [t["id"] for t in gallery.json()["items"]]
    port = free_port()

    # A missing required variable is refused with the field named; nothing is created.
    response = await api.client.post(
        f"/api/v1/templates/{tid}/deploy",
        json={"name": service_name, "variables": {"HOST_PORT": port, "API_TOKEN": SECRET}},
    )
    error = assert_error(response, 422, "invalid_variables")
    assert error["details"]["errors"] == [{"path": "variables.GREETING", "message": "is required"}]
    assert "variables.GREETING" in error["message"]
    # A pattern mismatch too, and the secret is not in the answer.
    response = await api.client.post(
        f"/api/v1/templates/{tid}/deploy",
        json={
            "name": service_name,
            "variables": {"HOST_PORT": port, "GREETING": "Hello!", "API_TOKEN": SECRET},
        },
    )
    error = assert_error(response, 422, "invalid_variables")
    assert error["details"]["errors"][0]["path"] == "variables.GREETING"
    assert SECRET not in response.text
    listed = await api.client.get("/api/v1/services", params={"search": service_name})
    assert listed.json()["items"] == []

    response = await api.client.post(
        f"/api/v1/templates/{tid}/deploy",
        json={
            "name": service_name,
            "variables": {"HOST_PORT": port, "GREETING": "hello", "API_TOKEN": SECRET},
        },
    )
    assert response.status_code == 201, response.text
    assert SECRET not in response.text
    service = response.json()
    env = service["definition"]["services"]["web"]["environment"]
    assert env["GREETING"] == "hello"
    assert env["API_TOKEN"] == "********"
    sid = service["id"]
    # The service itself has the real value (it is what runs).
    assert (await act(api, sid, "deploy"))["status"] == "succeeded"
    await wait_status(api, sid, lambda s: s["status"] == "running", timeout_s=30)
    answer = http_get(port)
    assert answer.status_code == 200
    assert "dockyard-test" in answer.text

    deployed = [
        e
        for e in await audit_rows(api, action="template.deployed")
        if e.details.get("service_id") == sid
    ]
    assert len(deployed) == 1
    assert deployed[0].details["variables"] == {"HOST_PORT": str(port), "GREETING": "hello"}
    everything = [e.details for e in await audit_rows(api)]
    assert SECRET not in json.dumps(everything)

    # No newer version yet; then the template changes and the update is offered with a diff.
    offer = (await api.client.get(f"/api/v1/services/{sid}/template-update")).json()
    assert offer["from_template"] is True
    assert offer["update_available"] is False
    assert offer["current_version"] == "1"
    bumped = await api.client.put(f"/api/v1/templates/{tid}", json=web_template(service_name, "2"))
    assert bumped.status_code == 200, bumped.text
    offer = (await api.client.get(f"/api/v1/services/{sid}/template-update")).json()
    assert offer["update_available"] is True
    assert (offer["current_version"], offer["latest_version"]) == ("1", "2")
    assert offer["changed_services"] == ["web"]
    assert "-      VERSION: '1'" in offer["diff"] or '-      VERSION: "1"' in offer["diff"]
    assert SECRET not in offer["diff"]

    # A second deploy with the same host port conflicts like any service.
    clash = await api.client.post(
        f"/api/v1/templates/{tid}/deploy",
        json={
            "name": f"{service_name}-b",
            "variables": {"HOST_PORT": port, "GREETING": "hello", "API_TOKEN": SECRET},
        },
    )
    error = assert_error(clash, 422)
    assert "already published" in json.dumps(error["details"])
    assert SECRET not in clash.text
    assert (await act(api, sid, "delete"))["status"] == "succeeded"

    # A service not made from a template has no origin to offer.
    plain = await api.client.post(
        "/api/v1/services",
        json={"name": f"{service_name}-p", "compose": f"services:\n  app:\n    image: {IMAGE}\n"},
    )
    assert plain.status_code == 201, plain.text
    offer = (await api.client.get(f"/api/v1/services/{plain.json()['id']}/template-update")).json()
    assert offer["from_template"] is False
    assert offer["update_available"] is False


async def test_a_tenant_cannot_deploy_a_privileged_template(
    services_api: LiveApp,
    service_name: str,
) -> None:
    api = services_api
    created = await api.client.post(
        "/api/v1/templates", json=web_template(service_name, privileged=True)
    )
    assert created.status_code == 201, created.text
    tid = created.json()["id"]
    headers = await tenant(api)
    # Tenants may read and deploy templates but not manage them.
    assert (await api.client.get("/api/v1/templates", headers=headers)).status_code == 200
    refused = await api.client.post(
        "/api/v1/templates", json=web_template("tenant-own"), headers=headers
    )
    assert_error(refused, 403)
    response = await api.client.post(
        f"/api/v1/templates/{tid}/deploy",
        json={
            "name": service_name,
            "variables": {"HOST_PORT": free_port(), "GREETING": "hello", "API_TOKEN": SECRET},
        },
        headers=headers,
    )
    error = assert_error(response, 403, "policy_violation")
    assert {(e["path"], e["rule"]) for e in error["details"]["errors"]} == {
        ("services.web.privileged", "privileged")
    }
    assert SECRET not in response.text
    listed = await api.client.get("/api/v1/services", params={"search": service_name})
    assert listed.json()["items"] == []
    assert not [
        e
        for e in await audit_rows(api, action="template.deployed")
        if e.details.get("service") == service_name
    ]
    denied = await audit_rows(api, action="service.policy.denied")
    assert denied[-1].details["operation"] == "create"
