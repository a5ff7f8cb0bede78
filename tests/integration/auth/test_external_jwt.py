"""External identity: tokens of a provider (JWKS on loopback, or a shared secret) map to users."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from pydantic import ValidationError

from dockyard.settings import Settings
from tests.conftest import LiveApp, assert_error, audit_rows, running_app, unique_email
from tests.integration.auth.conftest import Provider
from tests.integration.auth.helpers import new_user

ISSUER = "https://idp.example.test/auth/v1"
AUDIENCE = "dockyard"


def claims(email: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "email": email,
        "iat": now,
        "exp": now + 600,
        **extra,
    }


def rs256(provider: Provider, body: dict[str, Any], kid: str = "rsa-1") -> str:
    return jwt.encode(body, provider.rsa_key, algorithm="RS256", headers={"kid": kid})


async def me(app: LiveApp, token: str) -> Any:
    return await app.client.get("/api/v1/auth/me", headers=app.bearer(token))


def jwks_settings(
    app_settings: Callable[..., Settings], provider: Provider, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "external_jwt_mode": "jwks",
        "external_jwt_jwks_url": provider.jwks_url,
        "external_jwt_audience": AUDIENCE,
        "external_jwt_issuer": ISSUER,
        "external_jwt_role_claim": "app_metadata.role",
        "external_jwt_role_mapping": {"ops": "operator", "boss": "admin"},
        **overrides,
    }
    return app_settings(None, **values)


async def test_auto_provisioned_users_get_the_default_or_mapped_role(
    app_settings: Callable[..., Settings], provider: Provider
) -> None:
    settings = jwks_settings(app_settings, provider, external_jwt_auto_provision=True)
    async with running_app(settings) as app:
        plain = unique_email("ext")
        response = await me(app, rs256(provider, claims(plain)))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["email"] == plain
        assert body["role"] == "viewer"
        assert body["auth_kind"] == "external"
        # A viewer: reads services, may not read the audit log.
        headers = app.bearer(rs256(provider, claims(plain)))
        assert (await app.client.get("/api/v1/services", headers=headers)).status_code == 200
        assert_error(await app.client.get("/api/v1/audit", headers=headers), 403)
        ops = unique_email("ops")
        mapped = claims(ops, app_metadata={"role": "ops"})
        assert (await me(app, rs256(provider, mapped))).json()["role"] == "operator"
        # A later token with another mapped role updates the user (audited).
        promoted = claims(ops, app_metadata={"role": "boss"})
        assert (await me(app, rs256(provider, promoted))).json()["role"] == "admin"
        assert await audit_rows(app, action="user.role.synced")
        created = await audit_rows(app, action="user.created")
        assert {row.details["email"] for row in created} >= {plain, ops}
        # The JWKS was fetched once and cached.
        assert len([p for p in provider.requests if p.endswith("jwks.json")]) >= 1
        before = len(provider.requests)
        for _ in range(3):
            assert (await me(app, rs256(provider, claims(plain)))).status_code == 200
        assert len(provider.requests) == before


async def test_without_provisioning_only_existing_users_sign_in(
    app_settings: Callable[..., Settings], provider: Provider
) -> None:
    async with running_app(jwks_settings(app_settings, provider)) as app:
        stranger = unique_email("nobody")
        assert_error(await me(app, rs256(provider, claims(stranger))), 401, "unknown_user")
        email, _ = await new_user(app, "operator")
        response = await me(app, rs256(provider, claims(email.upper())))
        assert response.status_code == 200, response.text
        assert response.json()["role"] == "operator"
        # No email claim, or a key id the JWKS does not know: refused.
        no_email = claims(email)
        del no_email["email"]
        assert_error(await me(app, rs256(provider, no_email)), 401)
        assert_error(await me(app, rs256(provider, claims(email), kid="unknown")), 401)


async def test_a_disabled_user_is_refused(
    app_settings: Callable[..., Settings], provider: Provider
) -> None:
    from sqlalchemy import update

    from dockyard.users.models import User

    async with running_app(jwks_settings(app_settings, provider)) as app:
        email, user_id = await new_user(app, "viewer")
        assert (await me(app, rs256(provider, claims(email)))).status_code == 200
        async with app.runtime.db.session() as session:
            await session.execute(update(User).where(User.id == user_id).values(is_active=False))
            await session.commit()
        assert_error(await me(app, rs256(provider, claims(email))), 401, "account_disabled")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"external_jwt_mode": "jwks"}, "AUDIENCE"),
        (
            {
                "external_jwt_mode": "jwks",
                "external_jwt_audience": "a",
                "external_jwt_issuer": "b",
                "external_jwt_jwks_url": "http://127.0.0.1:1/jwks",
                "external_jwt_algorithms": "RS256,HS256",
            },
            "HS256 not allowed",
        ),
        (
            {
                "external_jwt_mode": "hs256",
                "external_jwt_audience": "a",
                "external_jwt_issuer": "b",
                "external_jwt_secret": "short",
            },
            "at least 32",
        ),
        (
            {
                "external_jwt_mode": "hs256",
                "external_jwt_audience": "a",
                "external_jwt_issuer": "dockyard",
                "external_jwt_secret": "x" * 40,
            },
            "differ",
        ),
    ],
)
def test_unsafe_configurations_are_refused(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Settings(**overrides)
