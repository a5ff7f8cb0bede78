"""Shared steps of the auth security tests (MFA, sessions, tokens, JWTs)."""

from __future__ import annotations

import time
from typing import Any

import pyotp

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, LiveApp, add_user, unique_email

USER_PASSWORD = "Harbour-Crane-Lantern-42"


def code_at(secret: str, offset_steps: int = 0) -> str:
    """The TOTP code of the current time-step plus `offset_steps`."""
    return pyotp.TOTP(secret).at(int(time.time()) + 30 * offset_steps)


async def login(
    app: LiveApp,
    email: str = ADMIN_EMAIL,
    password: str = ADMIN_PASSWORD,
    otp: str | None = None,
    user_agent: str | None = None,
) -> Any:
    body: dict[str, Any] = {"email": email, "password": password}
    if otp is not None:
        body["otp"] = otp
    headers = {"User-Agent": user_agent} if user_agent else None
    return await app.client.post("/api/v1/auth/login", json=body, headers=headers)


async def new_user(app: LiveApp, role: str = "admin") -> tuple[str, int]:
    email = unique_email(role)
    user_id = await add_user(app, email, USER_PASSWORD, role)
    return email, user_id


async def access(app: LiveApp, email: str, password: str = USER_PASSWORD) -> str:
    response = await login(app, email, password)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def enroll(app: LiveApp, token: str, password: str = USER_PASSWORD) -> tuple[str, list[str]]:
    """Enroll and confirm MFA with the current code; (secret, recovery codes)."""
    response = await app.client.post(
        "/api/v1/auth/mfa/enroll", json={"password": password}, headers=app.bearer(token)
    )
    assert response.status_code == 200, response.text
    secret = str(response.json()["secret"])
    response = await app.client.post(
        "/api/v1/auth/mfa/confirm", json={"code": code_at(secret)}, headers=app.bearer(token)
    )
    assert response.status_code == 200, response.text
    return secret, list(response.json()["recovery_codes"])
