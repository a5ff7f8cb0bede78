"""Personal API tokens: scopes, expiry, revocation, last use, and the CLI with DOCKYARD_TOKEN."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from dockyard.kit.clock import utcnow
from dockyard.tokens.models import ApiToken
from dockyard.tokens.service import hash_token
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    LiveApp,
    assert_error,
    audit_rows,
    clean_environ,
    dockyard_executable,
)
from tests.integration.auth.conftest import Server
from tests.integration.auth.helpers import USER_PASSWORD, access, code_at, enroll, new_user


async def create(app: LiveApp, token: str, **body: object) -> dict[str, object]:
    response = await app.client.post("/api/v1/tokens", json=body, headers=app.bearer(token))
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def test_a_token_is_shown_once_stored_hashed_and_scoped(api: LiveApp) -> None:
    admin = await api.token()
    created = await create(api, admin, name="ci deploys", scopes=["services:read", "nodes:read"])
    token = str(created["token"])
    assert token.startswith("dy_pat_")
    assert len(token) > 40
    assert created["prefix"] == token[:12]
    assert created["scopes"] == ["nodes:read", "services:read"]
    assert created["last_used_at"] is None
    listed = (await api.client.get("/api/v1/tokens", headers=api.bearer(admin))).json()
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]
    assert token not in str(listed)
    async with api.runtime.db.read_session() as session:
        row = await session.get(ApiToken, int(str(created["id"])))
    assert row is not None
    assert row.token_hash == hash_token(token)
    assert token not in str(row.__dict__)

    headers = api.bearer(token)
    assert (await api.client.get("/api/v1/services", headers=headers)).status_code == 200
    assert (await api.client.get("/api/v1/nodes", headers=headers)).status_code == 200
    # Outside its scopes, although the admin holds the permission.
    denied = await api.client.get("/api/v1/audit", headers=headers)
    assert_error(denied, 403, "permission_denied")
    me = (await api.client.get("/api/v1/auth/me", headers=headers)).json()
    assert me["auth_kind"] == "token"
    assert sorted(me["permissions"]) == ["nodes:read", "services:read"]
    # A token cannot manage tokens unless scoped to.
    assert_error(await api.client.get("/api/v1/tokens", headers=headers), 403)

    listed = (await api.client.get("/api/v1/tokens", headers=api.bearer(admin))).json()
    first_use = listed[0]["last_used_at"]
    assert first_use is not None
    # Written at most once a minute.
    assert (await api.client.get("/api/v1/services", headers=headers)).status_code == 200
    listed = (await api.client.get("/api/v1/tokens", headers=api.bearer(admin))).json()
    assert listed[0]["last_used_at"] == first_use
    rows = await audit_rows(api, action="token.created")
    assert rows
    assert token not in str(rows[-1].details)


async def test_scopes_must_be_held_by_the_owner(api: LiveApp) -> None:
    email, _ = await new_user(api, "viewer")
    viewer = await access(api, email)
    response = await api.client.post(
        "/api/v1/tokens",
        json={"name": "x", "scopes": ["services:read"]},
        headers=api.bearer(viewer),
    )
    # Viewers lack `tokens:manage` altogether.
    assert_error(response, 403, "permission_denied")

    email, _ = await new_user(api, "user")
    tenant = await access(api, email)
    response = await api.client.post(
        "/api/v1/tokens",
        json={"name": "x", "scopes": ["services:read", "nodes:manage", "bogus:thing"]},
        headers=api.bearer(tenant),
    )
    error = assert_error(response, 422, "validation_error")
    paths = {e["path"]: e["message"] for e in error["details"]["errors"]}
    assert set(paths) == {"scopes[1]", "scopes[2]"}
    assert "nodes:manage" in paths["scopes[1]"]
    assert "unknown" in paths["scopes[2]"]
    assert "nodes:manage" in error["message"]
    async with api.runtime.db.read_session() as session:
        assert (await session.execute(select(ApiToken))).first() is None

    past = (utcnow() - timedelta(minutes=1)).isoformat()
    response = await api.client.post(
        "/api/v1/tokens",
        json={"name": "x", "scopes": ["services:read"], "expires_at": past},
        headers=api.bearer(tenant),
    )
    assert assert_error(response, 422)["details"]["errors"][0]["path"] == "expires_at"


async def test_expired_and_revoked_tokens_stop_working(api: LiveApp) -> None:
    admin = await api.token()
    soon = (utcnow() + timedelta(hours=1)).isoformat()
    expiring = await create(api, admin, name="exp", scopes=["services:read"], expires_at=soon)
    revoked = await create(api, admin, name="rev", scopes=["services:read"])
    for created in (expiring, revoked):
        headers = api.bearer(str(created["token"]))
        assert (await api.client.get("/api/v1/services", headers=headers)).status_code == 200

    async with api.runtime.db.session() as session:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.id == expiring["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    expired_headers = api.bearer(str(expiring["token"]))
    assert_error(await api.client.get("/api/v1/services", headers=expired_headers), 401)
    listed = {
        t["id"]: t
        for t in (await api.client.get("/api/v1/tokens", headers=api.bearer(admin))).json()
    }
    assert listed[expiring["id"]]["expired"] is True

    # Someone else cannot revoke it.
    email, _ = await new_user(api, "operator")
    other = await access(api, email)
    assert_error(
        await api.client.delete(f"/api/v1/tokens/{revoked['id']}", headers=api.bearer(other)),
        404,
        "token_not_found",
    )
    response = await api.client.delete(f"/api/v1/tokens/{revoked['id']}", headers=api.bearer(admin))
    assert response.status_code == 204
    revoked_headers = api.bearer(str(revoked["token"]))
    assert_error(await api.client.get("/api/v1/services", headers=revoked_headers), 401)
    assert_error(
        await api.client.get("/api/v1/services", headers=api.bearer("dy_pat_made-up")), 401
    )
    assert await audit_rows(api, action="token.revoked", target_id=str(revoked["id"]))


async def test_a_token_narrows_when_the_owner_loses_the_permission(api: LiveApp) -> None:
    email, user_id = await new_user(api, "operator")
    operator = await access(api, email)
    created = await create(api, operator, name="ops", scopes=["services:read", "nodes:manage"])
    headers = api.bearer(str(created["token"]))
    me = (await api.client.get("/api/v1/auth/me", headers=headers)).json()
    assert "nodes:manage" in me["permissions"]
    from dockyard.users.models import User

    async with api.runtime.db.session() as session:
        await session.execute(update(User).where(User.id == user_id).values(role="viewer"))
        await session.commit()
    me = (await api.client.get("/api/v1/auth/me", headers=headers)).json()
    assert me["permissions"] == ["services:read"]


async def run_cli(config: Path, server: str, token: str | None, *args: str) -> tuple[int, str, str]:
    env = clean_environ(DOCKYARD_CONFIG_DIR=str(config))
    if token is not None:
        env["DOCKYARD_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        dockyard_executable(),
        *args,
        "--server",
        server,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_uses_dockyard_token(server: Server, tmp_path: Path) -> None:
    login = await server.http.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
    response = await server.http.post(
        "/api/v1/tokens", json={"name": "cli", "scopes": ["services:read"]}, headers=admin
    )
    assert response.status_code == 201, response.text
    created = response.json()
    url = f"http://127.0.0.1:{server.port}"
    config = tmp_path / "config"  # no stored credentials at all

    code, out, err = await run_cli(config, url, None, "service", "list", "--json")
    assert code == 1
    assert "dockyard login" in err

    code, out, err = await run_cli(config, url, created["token"], "service", "list", "--json")
    assert code == 0, err
    assert out.strip().startswith("[")
    listed = (await server.http.get("/api/v1/tokens", headers=admin)).json()
    assert listed[0]["last_used_at"] is not None

    await server.http.delete(f"/api/v1/tokens/{created['id']}", headers=admin)
    code, out, err = await run_cli(config, url, created["token"], "service", "list")
    assert code == 1
    assert "invalid" in err


async def test_cli_login_asks_for_the_mfa_code(server: Server, tmp_path: Path) -> None:
    live = LiveApp(app=server.app, client=server.http, settings=server.runtime.settings)
    email, _ = await new_user(live)
    secret, _ = await enroll(live, await access(live, email))
    url = f"http://127.0.0.1:{server.port}"
    env = clean_environ(DOCKYARD_CONFIG_DIR=str(tmp_path / "config"))

    async def cli_login(stdin: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            dockyard_executable(),
            "login",
            "--server",
            url,
            "--email",
            email,
            "--password-stdin",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 120)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    code, _, err = await cli_login(f"{USER_PASSWORD}\n000000\n")
    assert code == 1
    assert "wrong" in err
    code, out, err = await cli_login(f"{USER_PASSWORD}\n{code_at(secret, 1)}\n")
    assert code == 0, err
    assert "signed in" in out
    process = await asyncio.create_subprocess_exec(
        dockyard_executable(),
        "service",
        "list",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err_b = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err_b.decode()
