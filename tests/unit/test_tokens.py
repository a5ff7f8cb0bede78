"""Access tokens: round trip and every way a forged or wrong token must be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import timedelta
from typing import Any

import jwt
import pytest

from dockyard.auth.tokens import (
    ALGORITHM,
    AUDIENCE,
    ISSUER,
    InvalidTokenError,
    decode_access_token,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from dockyard.kit.clock import utcnow

SECRET = "unit-test-secret-key-" + "0123456789abcdef" * 4
OTHER_SECRET = "another-secret-key-0123456789-abcdefghijkl"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(utcnow().timestamp())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "typ": "access",
        "sub": "1",
        "sid": str(uuid.uuid4()),
        "role": "admin",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def hand_made(header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{head}.{body}.{b64url(signature)}"


def hs256_signed(header: dict[str, Any], payload: dict[str, Any], secret: str) -> str:
    """Sign with HMAC-SHA256 whatever the header claims (algorithm-confusion attempts)."""
    unsigned = hand_made(header, payload, b"").rsplit(".", 1)[0]
    signature = hmac.new(secret.encode(), unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{b64url(signature)}"


def test_round_trip() -> None:
    session_id = str(uuid.uuid4())
    token = issue_access_token(
        secret=SECRET, user_id=42, session_id=session_id, role="admin", ttl_s=900
    )
    decoded = decode_access_token(token, secret=SECRET)
    assert decoded.user_id == 42
    assert decoded.session_id == session_id
    assert decoded.role == "admin"
    assert len(decoded.jti) == 32
    remaining = (decoded.expires_at - utcnow()).total_seconds()
    assert 890 <= remaining <= 900
    header = jwt.get_unverified_header(token)
    assert header["alg"] == ALGORITHM == "HS256"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["aud"] == AUDIENCE
    assert payload["iss"] == ISSUER
    assert payload["typ"] == "access"


def test_each_token_has_its_own_jti() -> None:
    def make() -> str:
        return issue_access_token(secret=SECRET, user_id=1, session_id="s", role="admin", ttl_s=60)

    first = decode_access_token(make(), secret=SECRET)
    second = decode_access_token(make(), secret=SECRET)
    assert first.jti != second.jti


def test_expired_token_is_rejected() -> None:
    token = issue_access_token(
        secret=SECRET,
        user_id=1,
        session_id="s",
        role="admin",
        ttl_s=60,
        now=utcnow() - timedelta(hours=1),
    )
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)


def test_token_not_yet_valid_is_rejected() -> None:
    future = int((utcnow() + timedelta(hours=1)).timestamp())
    token = jwt.encode(claims(nbf=future, iat=future), SECRET, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)


def test_wrong_audience_is_rejected() -> None:
    token = jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)


def test_wrong_issuer_is_rejected() -> None:
    token = jwt.encode(claims(iss="evil"), SECRET, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "aud", "iss", "jti", "sid"])
def test_missing_claim_is_rejected(missing: str) -> None:
    payload = claims()
    del payload[missing]
    token = jwt.encode(payload, SECRET, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)


def test_non_numeric_subject_is_rejected() -> None:
    token = jwt.encode(claims(sub="admin"), SECRET, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_token_is_rejected(alg: str) -> None:
    token = hand_made({"alg": alg, "typ": "JWT"}, claims(), b"")
    assert token.endswith(".")
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)
    # Even with a "signature" appended.
    forged = token + b64url(b"anything")
    with pytest.raises(InvalidTokenError):
        decode_access_token(forged, secret=SECRET)


def test_tampered_payload_is_rejected() -> None:
    token = issue_access_token(secret=SECRET, user_id=1, session_id="s", role="viewer", ttl_s=600)
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["sub"] = "2"
    payload["role"] = "admin"
    tampered = f"{head}.{b64url(json.dumps(payload).encode())}.{sig}"
    with pytest.raises(InvalidTokenError):
        decode_access_token(tampered, secret=SECRET)


def test_tampered_signature_is_rejected() -> None:
    token = issue_access_token(secret=SECRET, user_id=1, session_id="s", role="admin", ttl_s=600)
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[0] ^= 0x01
    with pytest.raises(InvalidTokenError):
        decode_access_token(f"{head}.{body}.{b64url(bytes(raw))}", secret=SECRET)
    with pytest.raises(InvalidTokenError):
        decode_access_token(f"{head}.{body}.", secret=SECRET)


def test_token_signed_with_another_key_is_rejected() -> None:
    token = issue_access_token(
        secret=OTHER_SECRET, user_id=1, session_id="s", role="admin", ttl_s=600
    )
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)


@pytest.mark.parametrize("typ", ["refresh", "ACCESS", "", None])
def test_token_type_other_than_access_is_rejected(typ: str | None) -> None:
    token = jwt.encode(claims(typ=typ), SECRET, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)


def test_hs512_token_is_rejected_even_with_the_right_key() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS512")
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS384", "PS256"])
def test_other_algorithm_labels_are_rejected(alg: str) -> None:
    """An HMAC-SHA256 signature under another `alg` label (algorithm confusion)."""
    token = hs256_signed({"alg": alg, "typ": "JWT"}, claims(), SECRET)
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, secret=SECRET)


def test_hand_made_hs256_token_is_accepted() -> None:
    """Control for the forgeries above: the same construction with `HS256` verifies."""
    token = hs256_signed({"alg": "HS256", "typ": "JWT"}, claims(sub="7"), SECRET)
    assert decode_access_token(token, secret=SECRET).user_id == 7


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c", "a.b.c.d", "Bearer x.y.z"])
def test_garbage_is_rejected(garbage: str) -> None:
    with pytest.raises(InvalidTokenError):
        decode_access_token(garbage, secret=SECRET)


def test_refresh_tokens_are_random_and_hashed_with_sha256() -> None:
    tokens = {new_refresh_token() for _ in range(50)}
    assert len(tokens) == 50
    token = tokens.pop()
    assert token.startswith("dyr_")
    assert len(token) >= 4 + 43  # 32 random bytes, base64url
    assert hash_refresh_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(hash_refresh_token(token)) == 64
