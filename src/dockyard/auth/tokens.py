"""Access tokens (HS256 JWT) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from dockyard.kit.clock import utcnow

ISSUER = "dockyard"
AUDIENCE = "dockyard-api"
ACCESS_TYPE = "access"
ALGORITHM = "HS256"


class InvalidTokenError(Exception):
    """The token is expired, malformed, forged or of the wrong kind."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: str
    role: str
    jti: str
    expires_at: datetime


def issue_access_token(
    *,
    secret: str,
    user_id: int,
    session_id: str,
    role: str,
    ttl_s: int,
    now: datetime | None = None,
) -> str:
    """A signed, short-lived access token naming the user and the login session."""
    now = now or utcnow()
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "typ": ACCESS_TYPE,
        "sub": str(user_id),
        "sid": session_id,
        "role": role,
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM, headers={"typ": "JWT"})


def decode_access_token(token: str, *, secret: str) -> AccessClaims:
    """Verify signature, algorithm, audience, issuer, expiry and type; raise on any doubt."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss", "jti"]},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(str(exc)) from exc
    if payload.get("typ") != ACCESS_TYPE:
        raise InvalidTokenError("not an access token")
    try:
        return AccessClaims(
            user_id=int(payload["sub"]),
            session_id=str(payload["sid"]),
            role=str(payload.get("role", "")),
            jti=str(payload["jti"]),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), tz=utcnow().tzinfo),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidTokenError("malformed claims") from exc


def new_refresh_token() -> str:
    """An opaque 256-bit refresh token."""
    return "dyr_" + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """SHA-256 is enough for a random 256-bit token (no dictionary to guess from)."""
    return hashlib.sha256(token.encode()).hexdigest()
