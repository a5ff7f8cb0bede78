"""Forged, expired and misdirected JWTs are refused (401): Dockyard's own and external ones.

Each case starts from a token the server accepts (checked first, so a case cannot pass
because the baseline is broken) and changes one thing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dockyard.settings import Settings
from tests.conftest import ADMIN_EMAIL, TEST_SECRET_KEY, LiveApp, assert_error, running_app
from tests.integration.auth.conftest import Provider

EXTERNAL_ISSUER = "https://idp.example.test/auth/v1"
EXTERNAL_AUDIENCE = "dockyard"
SUPABASE_SECRET = "supabase-like-shared-secret-0123456789-abcdef"
ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)

ATTACKS = [
    "alg_none",
    "alg_none_uppercase",
    "hs_rs_confusion",
    "foreign_rsa_key",
    "expired",
    "nbf_in_future",
    "wrong_aud",
    "wrong_iss",
    "wrong_typ",
    "tampered_signature",
    "tampered_payload",
]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(
    header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]
) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def hmac_token(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 by hand: PyJWT refuses to HMAC with a PEM key, an attacker does not."""
    return raw_token(header, claims, lambda data: hmac.new(key, data, hashlib.sha256).digest())


def tamper_signature(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}.{b64(bytes(raw))}"


def tamper_payload(token: str, claims: dict[str, Any]) -> str:
    head, _, signature = token.split(".")
    return f"{head}.{b64(json.dumps(claims).encode())}.{signature}"


class Issuer:
    """Makes a valid token of one kind and its attacked variants."""

    def __init__(
        self,
        *,
        claims: Callable[[], dict[str, Any]],
        sign: Callable[[dict[str, Any], dict[str, Any]], str],
        header: dict[str, Any],
        public_pem: bytes,
        typ_claim: bool,
    ) -> None:
        self.claims = claims
        self.sign = sign
        self.header = header
        self.public_pem = public_pem
        self.typ_claim = typ_claim

    def valid(self) -> str:
        return self.sign(self.header, self.claims())

    def attack(self, name: str) -> str:
        claims = self.claims()
        now = int(time.time())
        if name == "alg_none":
            return raw_token({**self.header, "alg": "none"}, claims, lambda _: b"")
        if name == "alg_none_uppercase":
            return raw_token({**self.header, "alg": "NONE"}, claims, lambda _: b"")
        if name == "hs_rs_confusion":
            # The provider's public key (which anyone can fetch) used as an HMAC secret.
            return hmac_token({**self.header, "alg": "HS256"}, claims, self.public_pem)
        if name == "foreign_rsa_key":
            return jwt.encode(claims, ATTACKER_KEY, algorithm="RS256", headers=self.header)
        if name == "expired":
            return self.sign(self.header, {**claims, "iat": now - 7200, "exp": now - 3600})
        if name == "nbf_in_future":
            return self.sign(self.header, {**claims, "nbf": now + 3600})
        if name == "wrong_aud":
            return self.sign(self.header, {**claims, "aud": "some-other-api"})
        if name == "wrong_iss":
            return self.sign(self.header, {**claims, "iss": "https://evil.example.test"})
        if name == "wrong_typ":
            if self.typ_claim:  # Dockyard's own: a refresh-typed token used as access
                return self.sign(self.header, {**claims, "typ": "refresh"})
            return self.sign({**self.header, "typ": "refresh+jwt"}, {**claims, "typ": "refresh"})
        if name == "tampered_signature":
            return tamper_signature(self.valid())
        if name == "tampered_payload":
            return tamper_payload(self.valid(), {**claims, "sub": "999", "role": "admin"})
        raise AssertionError(name)


async def me(app: LiveApp, token: str) -> Any:
    return await app.client.get("/api/v1/auth/me", headers=app.bearer(token))


async def session_id(app: LiveApp) -> tuple[int, str]:
    token = await app.token()
    claims = jwt.decode(token, options={"verify_signature": False})
    return int(claims["sub"]), str(claims["sid"])


@pytest.fixture(scope="module")
async def apps(
    provider: Provider, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, LiveApp]]:
    from tests.conftest import make_settings

    common = {
        "external_jwt_audience": EXTERNAL_AUDIENCE,
        "external_jwt_issuer": EXTERNAL_ISSUER,
        "external_jwt_auto_provision": True,
    }
    jwks: Settings = make_settings(
        tmp_path_factory.mktemp("jwks"),
        external_jwt_mode="jwks",
        external_jwt_jwks_url=provider.jwks_url,
        **common,
    )
    shared: Settings = make_settings(
        tmp_path_factory.mktemp("hs256"),
        external_jwt_mode="hs256",
        external_jwt_secret=SUPABASE_SECRET,
        **common,
    )
    async with running_app(jwks) as jwks_app, running_app(shared) as hs_app:
        yield {"jwks": jwks_app, "hs256": hs_app}


def external_claims(email: str = ADMIN_EMAIL) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": EXTERNAL_ISSUER,
        "aud": EXTERNAL_AUDIENCE,
        "sub": str(uuid.uuid4()),
        "email": email,
        "role": "authenticated",
        "iat": now,
        "exp": now + 600,
    }


async def issuer_for(kind: str, app: LiveApp, provider: Provider) -> Issuer:
    if kind == "dockyard":
        user_id, sid = await session_id(app)

        def own_claims() -> dict[str, Any]:
            now = int(time.time())
            return {
                "iss": "dockyard",
                "aud": "dockyard-api",
                "typ": "access",
                "sub": str(user_id),
                "sid": sid,
                "role": "admin",
                "jti": uuid.uuid4().hex,
                "iat": now,
                "nbf": now,
                "exp": now + 600,
            }

        return Issuer(
            claims=own_claims,
            sign=lambda h, c: jwt.encode(c, TEST_SECRET_KEY, algorithm="HS256", headers=h),
            header={"typ": "JWT"},
            public_pem=provider.rsa_public_pem,
            typ_claim=True,
        )
    if kind == "jwks-rs256":
        return Issuer(
            claims=external_claims,
            sign=lambda h, c: jwt.encode(c, provider.rsa_key, algorithm="RS256", headers=h),
            header={"typ": "JWT", "kid": "rsa-1"},
            public_pem=provider.rsa_public_pem,
            typ_claim=False,
        )
    if kind == "jwks-es256":
        return Issuer(
            claims=external_claims,
            sign=lambda h, c: jwt.encode(c, provider.ec_key, algorithm="ES256", headers=h),
            header={"typ": "JWT", "kid": "ec-1"},
            public_pem=provider.rsa_public_pem,
            typ_claim=False,
        )
    assert kind == "hs256"
    return Issuer(
        claims=external_claims,
        sign=lambda h, c: jwt.encode(c, SUPABASE_SECRET, algorithm="HS256", headers=h),
        header={"typ": "JWT"},
        public_pem=provider.rsa_public_pem,
        typ_claim=False,
    )


KINDS = {"dockyard": "jwks", "jwks-rs256": "jwks", "jwks-es256": "jwks", "hs256": "hs256"}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_the_untouched_token_is_accepted(
    kind: str, apps: dict[str, LiveApp], provider: Provider
) -> None:
    app = apps[KINDS[kind]]
    issuer = await issuer_for(kind, app, provider)
    response = await me(app, issuer.valid())
    assert response.status_code == 200, response.text
    assert response.json()["email"] == ADMIN_EMAIL
    assert response.json()["auth_kind"] == ("session" if kind == "dockyard" else "external")


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("kind", list(KINDS))
async def test_attacked_tokens_are_refused(
    kind: str, attack: str, apps: dict[str, LiveApp], provider: Provider
) -> None:
    app = apps[KINDS[kind]]
    issuer = await issuer_for(kind, app, provider)
    assert (await me(app, issuer.valid())).status_code == 200
    response = await me(app, issuer.attack(attack))
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_refresh_token_is_not_an_access_token(apps: dict[str, LiveApp]) -> None:
    app = apps["jwks"]
    tokens = await app.login()
    assert_error(await me(app, tokens["refresh_token"]), 401, "invalid_token")
