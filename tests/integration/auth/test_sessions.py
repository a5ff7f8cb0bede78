"""My sessions: list, revoke one or the others, password change; revocation closes WebSockets."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from dockyard.auth.models import LoginSession
from dockyard.kit.clock import utcnow
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, LiveApp, assert_error, audit_rows
from tests.integration.auth.conftest import Server
from tests.integration.auth.helpers import USER_PASSWORD, access, code_at, enroll, login, new_user

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
NEW_PASSWORD = "Quay-Bollard-Tugboat-77"


async def test_list_and_revoke_my_sessions(api: LiveApp) -> None:
    email, user_id = await new_user(api)
    first = (await login(api, email, USER_PASSWORD, user_agent=FIREFOX)).json()
    second = (await login(api, email, USER_PASSWORD, user_agent=CHROME_MAC)).json()
    headers = api.bearer(first["access_token"])
    sessions = (await api.client.get("/api/v1/auth/sessions", headers=headers)).json()
    assert len(sessions) == 2
    by_device = {s["device"]: s for s in sessions}
    assert set(by_device) == {"Firefox on Linux", "Chrome on macOS"}
    assert by_device["Firefox on Linux"]["current"] is True
    assert by_device["Chrome on macOS"]["current"] is False
    other = by_device["Chrome on macOS"]
    assert other["ip"] == "127.0.0.1"
    assert other["auth_method"] == "password"
    assert other["last_active_at"]
    assert other["created_at"]
    assert other["user_agent"] == CHROME_MAC

    # Someone else cannot see or revoke them.
    stranger = await access(api, (await new_user(api))[0])
    assert_error(
        await api.client.delete(
            f"/api/v1/auth/sessions/{other['id']}", headers=api.bearer(stranger)
        ),
        404,
        "session_not_found",
    )
    assert (
        len((await api.client.get("/api/v1/auth/sessions", headers=api.bearer(stranger))).json())
        == 1
    )

    response = await api.client.delete(f"/api/v1/auth/sessions/{other['id']}", headers=headers)
    assert response.status_code == 204
    assert_error(
        await api.client.get("/api/v1/auth/me", headers=api.bearer(second["access_token"])), 401
    )
    refreshed = await api.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert_error(refreshed, 401, "invalid_refresh_token")
    assert_error(
        await api.client.delete(f"/api/v1/auth/sessions/{other['id']}", headers=headers), 404
    )
    assert [
        s["id"] for s in (await api.client.get("/api/v1/auth/sessions", headers=headers)).json()
    ] == [by_device["Firefox on Linux"]["id"]]
    assert await audit_rows(api, action="auth.session.revoked", target_id=other["id"])
    assert user_id


async def test_revoke_others_keeps_this_session(api: LiveApp) -> None:
    email, _ = await new_user(api)
    tokens = [(await login(api, email, USER_PASSWORD)).json()["access_token"] for _ in range(3)]
    headers = api.bearer(tokens[0])
    response = await api.client.post("/api/v1/auth/sessions/revoke-others", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"revoked": 2}
    assert (await api.client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    for token in tokens[1:]:
        assert_error(await api.client.get("/api/v1/auth/me", headers=api.bearer(token)), 401)


async def test_password_change_reauthenticates_and_revokes_the_rest(api: LiveApp) -> None:
    email, _ = await new_user(api)
    current = await access(api, email)
    other = await access(api, email)
    headers = api.bearer(current)
    pat = await api.client.post(
        "/api/v1/tokens", json={"name": "ci", "scopes": ["services:read"]}, headers=headers
    )
    assert pat.status_code == 201, pat.text
    pat_headers = api.bearer(pat.json()["token"])
    assert (await api.client.get("/api/v1/services", headers=pat_headers)).status_code == 200

    wrong = await api.client.post(
        "/api/v1/auth/password",
        json={"current_password": "Not-The-Password-1", "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert_error(wrong, 403, "reauthentication_failed")
    common = await api.client.post(
        "/api/v1/auth/password",
        json={"current_password": USER_PASSWORD, "new_password": "Password12345"},
        headers=headers,
    )
    error = assert_error(common, 422, "validation_error")
    assert error["details"]["errors"][0]["path"] == "new_password"
    assert "common" in error["message"]
    too_long = await api.client.post(
        "/api/v1/auth/password",
        json={"current_password": USER_PASSWORD, "new_password": "x1y2z3" * 22},
        headers=headers,
    )
    assert "at most 128" in assert_error(too_long, 422)["message"]
    # A token cannot change the password: that needs a signed-in session.
    assert_error(
        await api.client.post(
            "/api/v1/auth/password",
            json={"current_password": USER_PASSWORD, "new_password": NEW_PASSWORD},
            headers=pat_headers,
        ),
        403,
    )

    ok = await api.client.post(
        "/api/v1/auth/password",
        json={"current_password": USER_PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert ok.status_code == 204, ok.text
    assert (await api.client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    assert_error(await api.client.get("/api/v1/auth/me", headers=api.bearer(other)), 401)
    assert_error(await api.client.get("/api/v1/services", headers=pat_headers), 401)
    assert_error(await login(api, email, USER_PASSWORD), 401, "invalid_credentials")
    assert (await login(api, email, NEW_PASSWORD)).status_code == 200
    rows = await audit_rows(api, action="auth.password.changed")
    assert rows
    assert NEW_PASSWORD not in str(rows[-1].details)


async def test_password_change_with_mfa_needs_the_code(api: LiveApp) -> None:
    email, _ = await new_user(api)
    token = await access(api, email)
    secret, _ = await enroll(api, token)
    body = {"current_password": USER_PASSWORD, "new_password": NEW_PASSWORD}
    headers = api.bearer(token)
    assert_error(
        await api.client.post("/api/v1/auth/password", json=body, headers=headers),
        403,
        "mfa_required",
    )
    ok = await api.client.post(
        "/api/v1/auth/password", json={**body, "otp": code_at(secret, 1)}, headers=headers
    )
    assert ok.status_code == 204, ok.text


# ---------------------------------------------------------------- WebSockets


async def open_socket(ws: ClientConnection) -> None:
    hello = await asyncio.wait_for(ws.recv(), 5)
    assert '"hello"' in str(hello)


async def closed_within(ws: ClientConnection, seconds: float) -> tuple[int, float]:
    """Wait for the server to close; (close code, seconds it took)."""
    started = time.monotonic()
    closed: ConnectionClosed | None = None
    try:
        while True:
            await asyncio.wait_for(ws.recv(), seconds)
    except ConnectionClosed as exc:
        closed = exc
    except TimeoutError:
        pytest.fail(f"the socket was still open after {seconds} s")
    took = time.monotonic() - started
    assert closed.rcvd is not None, "closed without a close frame"
    return closed.rcvd.code, took


async def user_token(server: Server, email: str, password: str = USER_PASSWORD) -> str:
    response = await server.http.post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def make_user(server: Server) -> str:
    from tests.conftest import LiveApp as _LiveApp

    live = _LiveApp(app=server.app, client=server.http, settings=server.runtime.settings)
    email, _ = await new_user(live)
    return email


async def test_revoking_a_session_closes_its_websocket_at_once(server: Server) -> None:
    # The fallback check is slow here: only the push can close the socket in time.
    server.runtime.realtime.session_check_s = 60.0
    email = await make_user(server)
    doomed = await user_token(server, email)
    keeper = await user_token(server, email)
    async with (
        server.connect(await server.ticket(doomed)) as doomed_ws,
        server.connect(await server.ticket(keeper)) as keeper_ws,
    ):
        await open_socket(doomed_ws)
        await open_socket(keeper_ws)
        sessions = (
            await server.http.get(
                "/api/v1/auth/sessions", headers={"Authorization": f"Bearer {keeper}"}
            )
        ).json()
        target = next(s["id"] for s in sessions if not s["current"])
        response = await server.http.delete(
            f"/api/v1/auth/sessions/{target}", headers={"Authorization": f"Bearer {keeper}"}
        )
        assert response.status_code == 204
        code, took = await closed_within(doomed_ws, 2.0)
        assert code == 1008
        assert took < 2.0
        # The other session's socket stays open.
        await keeper_ws.send('{"type": "ping"}')

        async def pong() -> None:
            while '"pong"' not in str(await keeper_ws.recv()):
                pass

        await asyncio.wait_for(pong(), 3)


async def test_password_change_closes_the_other_sessions_websockets(server: Server) -> None:
    server.runtime.realtime.session_check_s = 60.0
    email = await make_user(server)
    other = await user_token(server, email)
    current = await user_token(server, email)
    async with server.connect(await server.ticket(other)) as ws:
        await open_socket(ws)
        response = await server.http.post(
            "/api/v1/auth/password",
            json={"current_password": USER_PASSWORD, "new_password": NEW_PASSWORD},
            headers={"Authorization": f"Bearer {current}"},
        )
        assert response.status_code == 204, response.text
        code, _ = await closed_within(ws, 2.0)
        assert code == 1008


async def test_revocation_by_another_process_closes_within_two_seconds(server: Server) -> None:
    """No event reaches this process: the periodic re-check (default 2 s) must catch it."""
    assert server.runtime.realtime.session_check_s <= 2.0
    email = await make_user(server)
    token = await user_token(server, email)
    async with server.connect(await server.ticket(token)) as ws:
        await open_socket(ws)
        # What `dockyard user reset-password` in another process does: a plain UPDATE.
        from sqlalchemy import create_engine

        url = server.runtime.settings.resolved_database_url.replace("+aiosqlite", "")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                update(LoginSession)
                .where(LoginSession.revoked_at.is_(None))
                .values(revoked_at=utcnow(), revoked_reason="password_reset")
            )
        engine.dispose()
        code, took = await closed_within(ws, 3.0)
        assert code == 1008
        assert took <= 2.5


async def test_disabling_a_user_closes_their_websocket(server: Server) -> None:
    email = await make_user(server)
    token = await user_token(server, email)
    admin = await server.http.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    users = (await server.http.get("/api/v1/users", headers=headers)).json()
    user_id = next(u["id"] for u in users["items"] if u["email"] == email)
    async with server.connect(await server.ticket(token)) as ws:
        await open_socket(ws)
        response = await server.http.patch(
            f"/api/v1/users/{user_id}", json={"is_active": False}, headers=headers
        )
        assert response.status_code == 200, response.text
        code, took = await closed_within(ws, 3.0)
        assert code == 1008
        assert took <= 2.5
