"""TOTP MFA: enrollment, login with a code, reuse, recovery codes, rate limits, required roles."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pyotp
from sqlalchemy import select

from dockyard.auth.models import LoginSession, MfaCredential, RecoveryCode
from dockyard.auth.rate_limit import RateLimiter
from dockyard.settings import Settings
from tests.conftest import LiveApp, assert_error, audit_rows, running_app
from tests.integration.auth.helpers import (
    USER_PASSWORD,
    access,
    code_at,
    enroll,
    login,
    new_user,
)


async def test_enroll_confirm_then_login_needs_the_code(api: LiveApp) -> None:
    email, user_id = await new_user(api)
    token = await access(api, email)
    headers = api.bearer(token)

    wrong = await api.client.post(
        "/api/v1/auth/mfa/enroll", json={"password": "not-my-password-at-all"}, headers=headers
    )
    assert_error(wrong, 403, "reauthentication_failed")

    response = await api.client.post(
        "/api/v1/auth/mfa/enroll", json={"password": USER_PASSWORD}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    secret = body["secret"]
    assert len(secret) == 32
    assert pyotp.TOTP(secret).now().isdigit()
    assert body["otpauth_uri"].startswith("otpauth://totp/Dockyard:")
    assert f"secret={secret}" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(body["qr_svg"].split(",", 1)[1]).decode()
    assert svg.startswith("<svg")
    assert "<path" in svg

    # Not active before confirmation: login still works without a code.
    assert (await login(api, email, USER_PASSWORD)).status_code == 200

    bad = await api.client.post(
        "/api/v1/auth/mfa/confirm", json={"code": code_at(secret, 5)}, headers=headers
    )
    assert_error(bad, 403, "invalid_otp")
    confirmed = await api.client.post(
        "/api/v1/auth/mfa/confirm", json={"code": code_at(secret)}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10

    me = (await api.client.get("/api/v1/auth/me", headers=headers)).json()
    assert me["mfa_enabled"] is True

    # The secret is stored encrypted, the recovery codes hashed.
    async with api.runtime.db.read_session() as session:
        credential = await session.get(MfaCredential, user_id)
        hashes = (
            (
                await session.execute(
                    select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user_id)
                )
            )
            .scalars()
            .all()
        )
    assert credential is not None
    assert credential.confirmed_at is not None
    assert secret not in credential.secret_encrypted
    assert api.runtime.auth.box.decrypt(credential.secret_encrypted) == secret
    assert sorted(hashes) == sorted(
        hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes
    )

    missing = await login(api, email, USER_PASSWORD)
    error = assert_error(missing, 401, "mfa_required")
    assert "access_token" not in missing.text
    assert error["details"] == {}
    wrong_code = await login(api, email, USER_PASSWORD, otp=code_at(secret, 7))
    assert_error(wrong_code, 401, "invalid_otp")
    ok = await login(api, email, USER_PASSWORD, otp=code_at(secret, 1))
    assert ok.status_code == 200, ok.text
    async with api.runtime.db.read_session() as session:
        methods = (
            (
                await session.execute(
                    select(LoginSession.auth_method).where(LoginSession.user_id == user_id)
                )
            )
            .scalars()
            .all()
        )
    assert "password+totp" in methods
    actions = [row.action for row in await audit_rows(api, target_id=str(user_id))]
    assert "auth.mfa.enrollment_started" in actions
    assert "auth.mfa.enabled" in actions
    assert not any(secret in str(row.details) for row in await audit_rows(api))


async def test_a_used_code_is_refused_within_its_window(api: LiveApp) -> None:
    email, _ = await new_user(api)
    secret, _ = await enroll(api, await access(api, email))
    # The confirmation used the current step: its code cannot sign in.
    assert_error(await login(api, email, USER_PASSWORD, otp=code_at(secret)), 401, "invalid_otp")
    following = code_at(secret, 1)
    assert (await login(api, email, USER_PASSWORD, otp=following)).status_code == 200
    assert_error(await login(api, email, USER_PASSWORD, otp=following), 401, "invalid_otp")
    # Nor an older step's code, now that a later one was used.
    assert_error(
        await login(api, email, USER_PASSWORD, otp=code_at(secret, -1)), 401, "invalid_otp"
    )


async def test_recovery_codes_work_once(api: LiveApp) -> None:
    email, user_id = await new_user(api)
    _, codes = await enroll(api, await access(api, email))
    first = await login(api, email, USER_PASSWORD, otp=codes[0].upper())
    assert first.status_code == 200, first.text
    assert_error(await login(api, email, USER_PASSWORD, otp=codes[0]), 401, "invalid_otp")
    assert (await login(api, email, USER_PASSWORD, otp=codes[1])).status_code == 200
    headers = api.bearer(first.json()["access_token"])
    status = (await api.client.get("/api/v1/auth/mfa", headers=headers)).json()
    assert status == {**status, "enabled": True, "recovery_codes_left": 8}
    async with api.runtime.db.read_session() as session:
        used = (
            (
                await session.execute(
                    select(RecoveryCode).where(
                        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_not(None)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(used) == 2


async def test_mfa_attempts_are_rate_limited_per_account_and_ip(api: LiveApp) -> None:
    email, _ = await new_user(api)
    secret, _ = await enroll(api, await access(api, email))
    auth = api.runtime.auth
    auth.mfa_account_limiter = RateLimiter("mfa-account", 3, 60.0)
    for _ in range(3):
        assert_error(await login(api, email, USER_PASSWORD, otp="000000"), 401, "invalid_otp")
    limited = await login(api, email, USER_PASSWORD, otp=code_at(secret, 1))
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1
    # Per IP too: another account from the same address.
    auth.mfa_account_limiter = RateLimiter("mfa-account", 100, 60.0)
    other, _ = await new_user(api)
    other_secret, _ = await enroll(api, await access(api, other))
    auth.mfa_ip_limiter = RateLimiter("mfa-ip", 1, 60.0)
    assert_error(await login(api, other, USER_PASSWORD, otp="000000"), 401, "invalid_otp")
    limited = await login(api, other, USER_PASSWORD, otp=code_at(other_secret, 1))
    assert_error(limited, 429, "rate_limited")


async def test_disable_needs_password_and_code(api: LiveApp) -> None:
    email, _ = await new_user(api)
    token = await access(api, email)
    secret, codes = await enroll(api, token)
    headers = api.bearer(token)
    no_password = await api.client.post(
        "/api/v1/auth/mfa/disable",
        json={"password": "wrong-password-123", "code": code_at(secret, 1)},
        headers=headers,
    )
    assert_error(no_password, 403, "reauthentication_failed")
    bad_code = await api.client.post(
        "/api/v1/auth/mfa/disable",
        json={"password": USER_PASSWORD, "code": "123456"},
        headers=headers,
    )
    assert_error(bad_code, 403, "invalid_otp")
    ok = await api.client.post(
        "/api/v1/auth/mfa/disable",
        json={"password": USER_PASSWORD, "code": codes[3]},
        headers=headers,
    )
    assert ok.status_code == 204, ok.text
    assert (await login(api, email, USER_PASSWORD)).status_code == 200


async def test_role_requiring_mfa_blocks_everything_but_enrollment(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    async with running_app(app_settings(db_url, mfa_required_roles=["operator"])) as app:
        email, _ = await new_user(app, "operator")
        token = await access(app, email)
        headers = app.bearer(token)
        me = (await app.client.get("/api/v1/auth/me", headers=headers)).json()
        assert me["mfa_enrollment_required"] is True
        assert_error(
            await app.client.get("/api/v1/services", headers=headers),
            403,
            "mfa_enrollment_required",
        )
        assert_error(
            await app.client.post("/api/v1/realtime/ticket", headers=headers),
            403,
            "mfa_enrollment_required",
        )
        # An admin (role not listed) is not affected.
        admin = await app.token()
        assert (
            await app.client.get("/api/v1/services", headers=app.bearer(admin))
        ).status_code == 200
        await enroll(app, token)
        me = (await app.client.get("/api/v1/auth/me", headers=headers)).json()
        assert me["mfa_enrollment_required"] is False
        assert me["mfa_enabled"] is True
        assert (await app.client.get("/api/v1/services", headers=headers)).status_code == 200
