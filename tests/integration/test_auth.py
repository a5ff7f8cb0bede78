"""Login, refresh rotation and reuse detection, logout, lockout, rate limit - on both backends."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher
from fastapi.routing import iter_route_contexts
from sqlalchemy import select, update

from dockyard.auth.models import LoginSession, RefreshToken
from dockyard.kit.clock import utcnow
from dockyard.settings import Settings
from dockyard.users.models import User
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    LiveApp,
    add_user,
    assert_error,
    audit_rows,
    running_app,
    unique_email,
)

PASSWORD = "Some-User-Password-987"
PUBLIC_ROUTES = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    # Authenticated by the one-time enrollment token in its body (tests/integration/fleet).
    ("POST", "/api/v1/agent/enroll"),
}


def session_id_of(access_token: str) -> str:
    return str(jwt.decode(access_token, options={"verify_signature": False})["sid"])


async def me(app: LiveApp, token: str) -> Any:
    return await app.client.get("/api/v1/auth/me", headers=app.bearer(token))


async def refresh(app: LiveApp, refresh_token: str) -> Any:
    return await app.client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


# ---------------------------------------------------------------- login and /me


async def test_login_returns_a_token_pair(shared_api: LiveApp) -> None:
    tokens = await shared_api.login()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == shared_api.settings.access_token_ttl_s
    assert tokens["refresh_token"].startswith("dyr_")
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "HS256"


async def test_login_email_is_case_insensitive(shared_api: LiveApp) -> None:
    tokens = await shared_api.login(f"  {ADMIN_EMAIL.upper()} ", ADMIN_PASSWORD)
    assert (await me(shared_api, tokens["access_token"])).json()["email"] == ADMIN_EMAIL


async def test_me_returns_the_signed_in_user(shared_api: LiveApp) -> None:
    response = await me(shared_api, await shared_api.token())
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"id", "email", "display_name", "role", "last_login_at", "created_at"}
    assert body["mfa_enabled"] is False
    assert body["mfa_enrollment_required"] is False
    assert body["auth_kind"] == "session"
    assert body["email"] == ADMIN_EMAIL
    assert body["role"] == "admin"
    assert body["display_name"] == "Administrator"
    assert body["last_login_at"] is not None
    assert "password" not in response.text


def declared_routes(app: LiveApp) -> set[tuple[str, str]]:
    """(method, path template) of every route under `/api/v1`, from the router and OpenAPI."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.app.routes):
        path, methods = route.path, route.methods
        if path and methods and path.startswith("/api/v1"):
            found.update((method, path) for method in methods if method != "HEAD")
    for path, item in app.app.openapi()["paths"].items():
        if path.startswith("/api/v1"):
            found.update((method.upper(), path) for method in item)
    return found


def api_routes(app: LiveApp) -> list[tuple[str, str]]:
    """Callable (method, path) pairs of every non-public API route."""
    return sorted(
        (method, re.sub(r"\{[^}]+\}", "1", path))
        for method, path in declared_routes(app)
        if (method, path) not in PUBLIC_ROUTES
    )


async def test_every_api_route_requires_a_token(shared_api: LiveApp) -> None:
    """A route added later that forgets `PrincipalDep` fails here."""
    routes = api_routes(shared_api)
    assert ("GET", "/api/v1/auth/me") in routes
    assert ("GET", "/api/v1/audit") in routes
    assert ("GET", "/api/v1/nodes/1") in routes
    assert len(routes) >= 8
    for method, path in routes:
        for headers, code in (
            ({}, "not_authenticated"),
            ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "not_authenticated"),
            ({"Authorization": "Bearer not-a-jwt"}, "invalid_token"),
        ):
            response = await shared_api.client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert_error(response, 401, code)
            assert response.headers.get("www-authenticate") == "Bearer", (method, path)


async def test_public_routes_exist_and_work_without_a_token(shared_api: LiveApp) -> None:
    assert declared_routes(shared_api) >= PUBLIC_ROUTES
    tokens = await shared_api.login()
    assert (await refresh(shared_api, tokens["refresh_token"])).status_code == 200


async def test_token_of_another_server_is_refused(shared_api: LiveApp) -> None:
    from dockyard.auth.tokens import issue_access_token

    token = await shared_api.token()
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = issue_access_token(
        secret="another-server-secret-key-0123456789abcdef",
        user_id=int(claims["sub"]),
        session_id=claims["sid"],
        role="admin",
        ttl_s=600,
    )
    assert_error(await me(shared_api, forged), 401, "invalid_token")


async def test_token_naming_an_unknown_session_is_refused(shared_api: LiveApp) -> None:
    from dockyard.auth.tokens import issue_access_token

    forged = issue_access_token(
        secret=shared_api.runtime.auth.secret,
        user_id=1,
        session_id="00000000-0000-0000-0000-000000000000",
        role="admin",
        ttl_s=600,
    )
    assert_error(await me(shared_api, forged), 401, "invalid_token")


# ---------------------------------------------------------------- refresh


async def test_refresh_rotates_and_reuse_revokes_the_whole_session(shared_api: LiveApp) -> None:
    first = await shared_api.login()
    sid = session_id_of(first["access_token"])

    rotated = await refresh(shared_api, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert session_id_of(second["access_token"]) == sid
    assert (await me(shared_api, second["access_token"])).status_code == 200

    # The spent refresh token is refused, and presenting it is treated as theft.
    assert_error(await refresh(shared_api, first["refresh_token"]), 401, "invalid_refresh_token")
    # The whole session is gone: the newest refresh token and every access token fail.
    assert_error(await refresh(shared_api, second["refresh_token"]), 401, "invalid_refresh_token")
    assert_error(await me(shared_api, second["access_token"]), 401, "session_ended")
    assert_error(await me(shared_api, first["access_token"]), 401, "session_ended")

    reused = await audit_rows(shared_api, action="auth.refresh.reused", target_id=sid)
    assert len(reused) == 1
    assert reused[0].outcome == "denied"
    assert reused[0].actor_type == "user"
    assert reused[0].actor_label == ADMIN_EMAIL
    assert reused[0].details == {"session_revoked": True}
    assert len(await audit_rows(shared_api, action="auth.refresh.succeeded", target_id=sid)) == 1

    async with shared_api.runtime.db.read_session() as session:
        login_session = await session.get(LoginSession, sid)
    assert login_session is not None
    assert login_session.revoked_at is not None
    assert login_session.revoked_reason == "refresh_token_reuse"

    # Signing in again starts a new, working session.
    fresh = await shared_api.login()
    assert (await me(shared_api, fresh["access_token"])).status_code == 200


async def test_reuse_in_one_session_leaves_other_sessions_alone(shared_api: LiveApp) -> None:
    victim, bystander = await shared_api.login(), await shared_api.login()
    assert (await refresh(shared_api, victim["refresh_token"])).status_code == 200
    assert (await refresh(shared_api, victim["refresh_token"])).status_code == 401
    assert (await me(shared_api, bystander["access_token"])).status_code == 200
    assert (await refresh(shared_api, bystander["refresh_token"])).status_code == 200


async def test_refresh_chain_of_several_rotations(shared_api: LiveApp) -> None:
    tokens = await shared_api.login()
    seen = {tokens["refresh_token"]}
    for _ in range(4):
        response = await refresh(shared_api, tokens["refresh_token"])
        assert response.status_code == 200, response.text
        tokens = response.json()
        assert tokens["refresh_token"] not in seen
        seen.add(tokens["refresh_token"])
    assert (await me(shared_api, tokens["access_token"])).status_code == 200


@pytest.mark.parametrize("token", ["dyr_unknown", "x", "a" * 256])
async def test_unknown_refresh_token_is_refused(shared_api: LiveApp, token: str) -> None:
    assert_error(await refresh(shared_api, token), 401, "invalid_refresh_token")


async def test_expired_refresh_token_is_refused(shared_api: LiveApp) -> None:
    from dockyard.auth.tokens import hash_refresh_token

    tokens = await shared_api.login()
    async with shared_api.runtime.db.session() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh_token(tokens["refresh_token"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert_error(await refresh(shared_api, tokens["refresh_token"]), 401, "invalid_refresh_token")


async def test_expired_session_ends_access_and_refresh(shared_api: LiveApp) -> None:
    tokens = await shared_api.login()
    sid = session_id_of(tokens["access_token"])
    async with shared_api.runtime.db.session() as session:
        await session.execute(
            update(LoginSession)
            .where(LoginSession.id == sid)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert_error(await me(shared_api, tokens["access_token"]), 401, "session_ended")
    assert_error(await refresh(shared_api, tokens["refresh_token"]), 401, "invalid_refresh_token")


# ---------------------------------------------------------------- logout


async def test_logout_revokes_access_and_refresh_tokens(shared_api: LiveApp) -> None:
    tokens = await shared_api.login()
    sid = session_id_of(tokens["access_token"])
    response = await shared_api.client.post(
        "/api/v1/auth/logout", headers=shared_api.bearer(tokens["access_token"])
    )
    assert response.status_code == 204
    assert response.content == b""
    assert_error(await me(shared_api, tokens["access_token"]), 401, "session_ended")
    assert_error(await refresh(shared_api, tokens["refresh_token"]), 401, "invalid_refresh_token")
    again = await shared_api.client.post(
        "/api/v1/auth/logout", headers=shared_api.bearer(tokens["access_token"])
    )
    assert_error(again, 401, "session_ended")

    rows = await audit_rows(shared_api, action="auth.logout", target_id=sid)
    assert len(rows) == 1
    assert rows[0].outcome == "success"
    assert rows[0].actor_type == "user"
    assert rows[0].actor_label == ADMIN_EMAIL


async def test_logout_accepts_the_refresh_token_in_the_body(shared_api: LiveApp) -> None:
    tokens = await shared_api.login()
    response = await shared_api.client.post(
        "/api/v1/auth/logout",
        headers=shared_api.bearer(tokens["access_token"]),
        json={"refresh_token": tokens["refresh_token"]},
    )
    assert response.status_code == 204
    assert_error(await refresh(shared_api, tokens["refresh_token"]), 401)


async def test_logout_ends_only_its_own_session(shared_api: LiveApp) -> None:
    leaving, staying = await shared_api.login(), await shared_api.login()
    await shared_api.client.post(
        "/api/v1/auth/logout", headers=shared_api.bearer(leaving["access_token"])
    )
    assert (await me(shared_api, staying["access_token"])).status_code == 200


# ---------------------------------------------------------------- failures and lockout


async def login_raw(app: LiveApp, email: str, password: str, **kwargs: Any) -> Any:
    return await app.client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, **kwargs
    )


async def test_unknown_email_and_wrong_password_look_the_same(shared_api: LiveApp) -> None:
    email = unique_email("same")
    await add_user(shared_api, email, PASSWORD)
    unknown = await login_raw(shared_api, unique_email("nobody"), PASSWORD)
    wrong = await login_raw(shared_api, email, PASSWORD + "x")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert_error(unknown, 401, "invalid_credentials")
    assert unknown.json()["error"]["message"] == "The email or password is incorrect."
    assert unknown.headers.get("www-authenticate") == wrong.headers.get("www-authenticate")

    # A disabled account answers the same too.
    async with shared_api.runtime.db.session() as session:
        await session.execute(update(User).where(User.email == email).values(is_active=False))
        await session.commit()
    disabled = await login_raw(shared_api, email, PASSWORD)
    assert disabled.status_code == 401
    assert disabled.json() == unknown.json()


async def test_failed_logins_are_audited(shared_api: LiveApp) -> None:
    email = unique_email("failed")
    user_id = await add_user(shared_api, email, PASSWORD)
    ghost = unique_email("ghost")
    await login_raw(shared_api, email, "wrong-password-123")
    await login_raw(shared_api, ghost, "wrong-password-123")

    mine = await audit_rows(shared_api, action="auth.login.failed", target_id=str(user_id))
    assert len(mine) == 1
    assert mine[0].outcome == "failure"
    assert mine[0].actor_type == "anonymous"
    assert mine[0].actor_label == email
    assert mine[0].details == {"reason": "bad_password"}
    assert mine[0].ip == "127.0.0.1"

    unknown = await audit_rows(shared_api, action="auth.login.failed", actor_label=ghost)
    assert len(unknown) == 1
    assert unknown[0].outcome == "failure"
    assert unknown[0].target_id is None
    assert unknown[0].details == {"reason": "unknown_user"}
    # The password typed is never stored.
    for row in mine + unknown:
        assert "wrong-password-123" not in repr(row.details)


async def test_five_failures_lock_the_account(shared_api: LiveApp) -> None:
    email = unique_email("lock")
    user_id = await add_user(shared_api, email, PASSWORD)
    for _ in range(shared_api.settings.login_max_failures):
        assert_error(await login_raw(shared_api, email, "Wrong-Password-000"), 401)

    locked = await login_raw(shared_api, email, PASSWORD)
    error = assert_error(locked, 423, "account_locked")
    retry_after = int(locked.headers["retry-after"])
    assert 1 <= retry_after <= shared_api.settings.login_lockout_s + 1
    assert error["details"]["retry_after_s"] == retry_after
    # Still locked for wrong passwords too, and other accounts are unaffected.
    assert_error(await login_raw(shared_api, email, "Wrong-Password-000"), 423, "account_locked")
    assert (await login_raw(shared_api, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200

    target = str(user_id)
    failures = await audit_rows(shared_api, action="auth.login.failed", target_id=target)
    assert [r.outcome for r in failures] == ["failure"] * 5 + ["denied"] * 2
    assert all(r.details == {"reason": "account_locked"} for r in failures[5:])
    locks = await audit_rows(shared_api, action="auth.account.locked", target_id=target)
    assert len(locks) == 1
    assert locks[0].actor_type == "system"
    assert "until" in locks[0].details
    # The lock event is written before the fifth failure row, in the same transaction.
    assert failures[3].id < locks[0].id < failures[4].id


async def test_lock_expires(shared_api: LiveApp) -> None:
    email = unique_email("expire")
    await add_user(shared_api, email, PASSWORD)
    for _ in range(5):
        await login_raw(shared_api, email, "Wrong-Password-000")
    assert (await login_raw(shared_api, email, PASSWORD)).status_code == 423
    async with shared_api.runtime.db.session() as session:
        await session.execute(
            update(User)
            .where(User.email == email)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await login_raw(shared_api, email, PASSWORD)).status_code == 200


async def test_success_resets_the_failure_count(shared_api: LiveApp) -> None:
    email = unique_email("reset")
    await add_user(shared_api, email, PASSWORD)
    for _ in range(4):
        await login_raw(shared_api, email, "Wrong-Password-000")
    assert (await login_raw(shared_api, email, PASSWORD)).status_code == 200
    for _ in range(4):
        await login_raw(shared_api, email, "Wrong-Password-000")
    assert (await login_raw(shared_api, email, PASSWORD)).status_code == 200


async def test_successful_login_is_audited(shared_api: LiveApp) -> None:
    tokens = await shared_api.login(headers={"User-Agent": "audit-test-agent/1.0"})
    sid = session_id_of(tokens["access_token"])
    rows = await audit_rows(shared_api, action="auth.login.succeeded", target_id=sid)
    assert len(rows) == 1
    assert rows[0].outcome == "success"
    assert rows[0].actor_type == "user"
    assert rows[0].actor_label == ADMIN_EMAIL
    assert rows[0].target_type == "session"
    assert rows[0].ip == "127.0.0.1"
    assert rows[0].user_agent == "audit-test-agent/1.0"


async def test_login_upgrades_an_old_password_hash(shared_api: LiveApp) -> None:
    email = unique_email("rehash")
    await add_user(shared_api, email, PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with shared_api.runtime.db.session() as session:
        await session.execute(update(User).where(User.email == email).values(password_hash=weak))
        await session.commit()
    assert (await login_raw(shared_api, email, PASSWORD)).status_code == 200
    async with shared_api.runtime.db.read_session() as session:
        stored = (
            await session.execute(select(User.password_hash).where(User.email == email))
        ).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await login_raw(shared_api, email, PASSWORD)).status_code == 200


async def test_disabled_user_tokens_stop_working(shared_api: LiveApp) -> None:
    email = unique_email("disabled")
    await add_user(shared_api, email, PASSWORD)
    tokens = await shared_api.login(email, PASSWORD)
    async with shared_api.runtime.db.session() as session:
        await session.execute(update(User).where(User.email == email).values(is_active=False))
        await session.commit()
    assert_error(await me(shared_api, tokens["access_token"]), 401, "account_disabled")
    assert_error(await refresh(shared_api, tokens["refresh_token"]), 401, "invalid_refresh_token")


# ---------------------------------------------------------------- rate limit


async def test_per_ip_rate_limit(db_url: str, app_settings: Callable[..., Settings]) -> None:
    settings = app_settings(db_url, login_rate_per_minute=3, trusted_proxies=["127.0.0.1"])
    async with running_app(settings) as app:
        for _ in range(3):
            assert (await login_raw(app, ADMIN_EMAIL, "Wrong-Password-000")).status_code == 401
        limited = await login_raw(app, ADMIN_EMAIL, ADMIN_PASSWORD)
        error = assert_error(limited, 429, "rate_limited")
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert error["details"]["retry_after_s"] == retry_after
        # Another client address (through the trusted proxy) has its own budget.
        other = await login_raw(
            app, ADMIN_EMAIL, ADMIN_PASSWORD, headers={"X-Forwarded-For": "198.51.100.7"}
        )
        assert other.status_code == 200
        rows = await audit_rows(app, action="auth.login.succeeded")
        assert rows[-1].ip == "198.51.100.7"
        # The rate limit is not the lockout: three failures did not lock the admin.
        locks = await audit_rows(app, action="auth.account.locked")
        assert locks == []


async def test_agent_enrollment_is_rate_limited_per_address(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    """Enrollment shares sign-in's per-address budget size, under its own key."""
    settings = app_settings(db_url, login_rate_per_minute=2)
    async with running_app(settings) as app:
        enroll = {"token": "dye_" + "x" * 43, "agent_version": "1.0", "docker_host": "unix:///x"}
        for _ in range(2):
            wrong = await app.client.post("/api/v1/agent/enroll", json=enroll)
            assert_error(wrong, 401, "invalid_enrollment_token")
        limited = await app.client.post("/api/v1/agent/enroll", json=enroll)
        error = assert_error(limited, 429, "rate_limited")
        assert error["details"]["retry_after_s"] == int(limited.headers["retry-after"])
        assert "enrollment attempts" in error["message"]
        # Its own key: sign-in from the same address still has its budget.
        assert (await login_raw(app, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200


# ---------------------------------------------------------------- request ids


async def test_responses_carry_a_request_id(shared_api: LiveApp) -> None:
    for path in ("/healthz", "/api/v1/nope", "/api/v1/auth/me", "/"):
        response = await shared_api.client.get(path)
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"]), path
    first = await shared_api.client.get("/healthz")
    second = await shared_api.client.get("/healthz")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("incoming", ["abcdefgh", "req-2026.11.21_0001", "A" * 64])
async def test_sane_incoming_request_id_is_echoed(shared_api: LiveApp, incoming: str) -> None:
    response = await shared_api.client.get("/healthz", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize(
    "incoming", ["short", "A" * 65, "has spaces in it", "semi;colon;1234", "<script>x</script>", ""]
)
async def test_insane_incoming_request_id_is_replaced(shared_api: LiveApp, incoming: str) -> None:
    response = await shared_api.client.get("/healthz", headers={"X-Request-ID": incoming})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_login_audit_row_carries_the_request_id(shared_api: LiveApp) -> None:
    tokens = await shared_api.login(headers={"X-Request-ID": "login-trace-000123"})
    rows = await audit_rows(
        shared_api, action="auth.login.succeeded", target_id=session_id_of(tokens["access_token"])
    )
    assert rows[0].request_id == "login-trace-000123"
    await login_raw(
        shared_api, ADMIN_EMAIL, "Wrong-Password-000", headers={"X-Request-ID": "bad-login-0042"}
    )
    failed = await audit_rows(shared_api, request_id="bad-login-0042")
    assert [r.action for r in failed] == ["auth.login.failed"]
    response = await shared_api.client.get("/healthz", headers={"X-Request-ID": "x y"})
    generated = response.headers["x-request-id"]
    assert await audit_rows(shared_api, request_id=generated) == []


# ---------------------------------------------------------------- races


async def test_concurrent_use_of_one_refresh_token_succeeds_at_most_once(
    shared_api: LiveApp,
) -> None:
    """Single use must hold under concurrency too, or a stolen token races the real one."""
    for _ in range(3):
        tokens = await shared_api.login()
        responses = await asyncio.gather(
            *(refresh(shared_api, tokens["refresh_token"]) for _ in range(4))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) <= 1, statuses
        assert set(statuses) <= {200, 401}, statuses


async def test_concurrent_wrong_passwords_still_lock_the_account(shared_api: LiveApp) -> None:
    """Failures counted in parallel must not be lost (read-modify-write of the counter)."""
    email = unique_email("parallel")
    await add_user(shared_api, email, PASSWORD)
    attempts = shared_api.settings.login_max_failures * 2
    responses = await asyncio.gather(
        *(login_raw(shared_api, email, f"Wrong-Password-{i:03d}") for i in range(attempts))
    )
    assert all(r.status_code in (401, 423) for r in responses)
    locked = await login_raw(shared_api, email, PASSWORD)
    assert_error(locked, 423, "account_locked")
