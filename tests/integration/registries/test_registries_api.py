"""Registry credentials API on both databases: validation, secrecy, audit, permissions."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlalchemy import select

from dockyard.kit.secrets_box import SecretBox
from dockyard.registries.models import Registry
from tests.conftest import LiveApp, add_user, assert_error, audit_rows, unique_email

SECRET = "s3cret-" + secrets.token_hex(6)


@pytest.fixture
async def admin(shared_api: LiveApp) -> LiveApp:
    shared_api.client.headers.update(shared_api.bearer(await shared_api.token()))
    return shared_api


def host() -> str:
    return f"r-{secrets.token_hex(4)}.example:5000"


async def stored(api: LiveApp) -> list[Registry]:
    async with api.runtime.db.read_session() as session:
        return list((await session.execute(select(Registry))).scalars().all())


async def test_crud_and_the_secret_stays_secret(admin: LiveApp) -> None:
    name = host()
    response = await admin.client.post(
        "/api/v1/registries",
        json={"name": "Mine", "url": f"https://{name}/", "username": "bob", "password": SECRET},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    rid = body["id"]
    assert body["host"] == name
    assert body["url"] == f"https://{name}"
    assert body["insecure"] is False
    assert body["has_secret"] is True
    assert SECRET not in response.text
    assert "password" not in body

    # Encrypted at rest, readable only with the server's key.
    row = next(r for r in await stored(admin) if r.id == rid)
    assert row.secret_encrypted
    assert SECRET not in row.secret_encrypted
    assert SecretBox(admin.runtime.auth.secret).decrypt(row.secret_encrypted) == SECRET

    listed = await admin.client.get("/api/v1/registries")
    assert any(r["id"] == rid for r in listed.json()["items"])
    assert SECRET not in listed.text

    patched = await admin.client.patch(
        f"/api/v1/registries/{rid}", json={"name": "Renamed", "url": f"http://{name}"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["insecure"] is True
    assert patched.json()["has_secret"] is True  # password omitted: kept

    cleared = await admin.client.patch(f"/api/v1/registries/{rid}", json={"password": ""})
    assert cleared.json()["has_secret"] is False

    duplicate = await admin.client.post("/api/v1/registries", json={"name": "x", "url": name})
    assert_error(duplicate, 409, "registry_exists")

    assert (await admin.client.delete(f"/api/v1/registries/{rid}")).status_code == 204
    assert_error(await admin.client.get(f"/api/v1/registries/{rid}"), 404, "registry_not_found")

    events = await audit_rows(admin, target_type="registry", target_id=str(rid))
    assert [e.action for e in events] == [
        "registry.create",
        "registry.update",
        "registry.update",
        "registry.delete",
    ]
    assert all(SECRET not in str(e.details) for e in events)
    assert events[0].details["has_login"] is True


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "x", "url": "https://r.example/../x"}, "body.url"),
        ({"name": "x", "url": "https://r.example/v2/"}, "body.url"),
        ({"name": "x", "url": "https://user:pw@r.example"}, "body.url"),
        ({"name": "x", "url": "https://r.example?a=b"}, "body.url"),
        ({"name": "x", "url": "r.example", "colour": "red"}, "body.colour"),
        ({"name": "", "url": "r.example"}, "body.name"),
        ({"url": "r.example"}, "body.name"),
    ],
)
async def test_bad_input_is_422_and_nothing_is_stored(
    admin: LiveApp, body: dict[str, Any], path: str
) -> None:
    before = len(await stored(admin))
    error = assert_error(await admin.client.post("/api/v1/registries", json=body), 422)
    assert path in [e["path"] for e in error["details"]["errors"]], error
    assert len(await stored(admin)) == before


async def test_patch_validates_too(admin: LiveApp) -> None:
    created = await admin.client.post("/api/v1/registries", json={"name": "p", "url": host()})
    rid = created.json()["id"]
    bad = await admin.client.patch(
        f"/api/v1/registries/{rid}", json={"url": "https://r.example/../../etc"}
    )
    assert_error(bad, 422)
    assert_error(await admin.client.patch(f"/api/v1/registries/{rid}", json={"x": 1}), 422)
    assert (await admin.client.get(f"/api/v1/registries/{rid}")).json()["host"] == created.json()[
        "host"
    ]
    await admin.client.delete(f"/api/v1/registries/{rid}")


async def test_unreachable_registry_test_is_a_clear_error(admin: LiveApp) -> None:
    response = await admin.client.post(
        "/api/v1/registries/test", json={"url": "http://127.0.0.1:9"}
    )
    error = assert_error(response, 502, "registry_unreachable")
    assert "127.0.0.1:9" in error["message"]


async def test_permissions(shared_api: LiveApp) -> None:
    email = unique_email("viewer")
    await add_user(shared_api, email, "Viewer-Password-1234", role="viewer")
    token = (await shared_api.login(email, "Viewer-Password-1234"))["access_token"]
    headers = shared_api.bearer(token)
    assert_error(await shared_api.client.get("/api/v1/registries", headers=headers), 403)
    create = await shared_api.client.post(
        "/api/v1/registries", json={"name": "v", "url": host()}, headers=headers
    )
    assert_error(create, 403)
    check = await shared_api.client.post("/api/v1/services/1/check-updates", headers=headers)
    assert_error(check, 403)
