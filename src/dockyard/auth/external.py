"""Bearer JWTs from an external identity provider (e.g. self-hosted Supabase).

Configured with `DOCKYARD_EXTERNAL_JWT_*`. A token is routed here only when its unverified
`iss` equals the configured issuer; it is then verified strictly: allowlisted algorithms
only (never `none`, never HMAC in JWKS mode, so a public key can never serve as an HMAC
secret), signature, `exp`, `nbf`, `aud`, `iss`, and a token type that is not a refresh one.
The `email` claim names the Dockyard user, created on first use when auto-provisioning is on.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from typing import TYPE_CHECKING, Any

import jwt
import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dockyard.access.service import resolve
from dockyard.audit.service import Actor, record
from dockyard.kit.errors import AuthenticationError, DockyardError
from dockyard.settings import Settings
from dockyard.users.models import User

if TYPE_CHECKING:
    from dockyard.auth.service import AuthService, Principal

log = structlog.get_logger(__name__)

_INVALID = "The external token is invalid or expired."
# Token types a provider may put in the `typ` header or claim of an access token.
_ACCESS_TYPES = frozenset(("jwt", "at+jwt", "access", "access_token", "bearer"))
_MAX_SESSIONS = 50_000
JWKS_CACHE_S = 300


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class ExternalVerifier:
    """Verifies external tokens and remembers the pseudo-sessions they open."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.issuer = settings.external_jwt_issuer or ""
        self.algorithms = list(settings.external_jwt_algorithms)
        self._jwks: jwt.PyJWKClient | None = None
        if settings.external_jwt_mode == "jwks" and settings.external_jwt_jwks_url:
            self._jwks = jwt.PyJWKClient(
                settings.external_jwt_jwks_url,
                cache_keys=True,
                cache_jwk_set=True,
                lifespan=JWKS_CACHE_S,
                timeout=10,
            )
        # "ext:<hash>" -> (user id, expiry epoch): lets an open WebSocket be re-checked.
        self.sessions: dict[str, tuple[int, float]] = {}

    def is_external(self, token: str) -> bool:
        """Whether the token claims to come from the configured issuer (not verified)."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return bool(self.issuer) and claims.get("iss") == self.issuer

    async def verify(self, token: str) -> dict[str, Any]:
        """The verified claims, or raise `jwt.PyJWTError`."""
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise jwt.InvalidAlgorithmError(f"algorithm {alg!r} is not allowed")
        typ = header.get("typ")
        if typ is not None and str(typ).lower() not in _ACCESS_TYPES:
            raise jwt.InvalidTokenError(f"token type {typ!r} is not an access token")
        key: Any
        if self._jwks is not None:
            key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
        else:
            secret = self.settings.external_jwt_secret
            key = secret.get_secret_value() if secret is not None else secrets.token_bytes(32)
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=self.algorithms,
            audience=self.settings.external_jwt_audience,
            issuer=self.issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
            leeway=5,
        )
        claim_typ = claims.get("typ") or claims.get("token_use") or claims.get("token_type")
        if claim_typ is not None and str(claim_typ).lower() not in _ACCESS_TYPES:
            raise jwt.InvalidTokenError(f"token type {claim_typ!r} is not an access token")
        return claims

    def remember(self, token: str, user_id: int, expires: float) -> str:
        session_id = "ext:" + hashlib.sha256(token.encode()).hexdigest()[:32]
        if len(self.sessions) >= _MAX_SESSIONS:
            now = time.time()
            self.sessions = {k: v for k, v in self.sessions.items() if v[1] > now}
            if len(self.sessions) >= _MAX_SESSIONS:
                self.sessions.clear()
        self.sessions[session_id] = (user_id, expires)
        return session_id


async def _user_for(auth: AuthService, claims: dict[str, Any]) -> User:
    from dockyard.users.service import create_user

    settings = auth.settings
    email = _claim(claims, settings.external_jwt_email_claim)
    if not isinstance(email, str) or "@" not in email or len(email) > 320:
        raise AuthenticationError("The external token names no email.", code="invalid_token")
    email = email.strip().lower()
    mapped: str | None = None
    if settings.external_jwt_role_claim:
        value = _claim(claims, settings.external_jwt_role_claim)
        if isinstance(value, str):
            mapped = settings.external_jwt_role_mapping.get(value)
    async with auth.db.session() as session:
        user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
        if user is None:
            if not settings.external_jwt_auto_provision:
                raise AuthenticationError(
                    "No Dockyard user has this email; ask an administrator to create it.",
                    code="unknown_user",
                )
            try:
                user = await create_user(
                    session,
                    email=email,
                    # Never usable: the user signs in through the provider.
                    password=secrets.token_urlsafe(32),
                    role=mapped or settings.external_jwt_default_role,
                    actor=Actor.system("external-identity"),
                )
                await session.commit()
            except IntegrityError:  # provisioned by a concurrent request
                await session.rollback()
                user = (await session.execute(select(User).where(User.email == email))).scalar_one()
            except DockyardError as exc:
                log.error("external_provision_failed", error=exc.message)
                raise AuthenticationError(
                    "This account cannot be provisioned.", code="invalid_token"
                ) from exc
        elif mapped is not None and mapped != user.role:
            old = user.role
            user.role = mapped
            await record(
                session,
                action="user.role.synced",
                actor=Actor.system("external-identity"),
                target_type="user",
                target_id=user.id,
                details={"from": old, "to": mapped},
            )
            await session.commit()
    return user


async def _principal(auth: AuthService, user: User, session_id: str) -> Principal:
    from dockyard.auth.service import Principal

    if not user.is_active:
        raise AuthenticationError("This account is disabled.", code="account_disabled")
    async with auth.db.read_session() as session:
        permissions, scope = await resolve(session, user.id, user.role)
    # The provider is responsible for MFA of its users.
    return Principal(
        user=user, session_id=session_id, permissions=permissions, scope=scope, kind="external"
    )


async def principal_for_external_token(
    auth: AuthService, verifier: ExternalVerifier, token: str
) -> Principal:
    """Verify an external token and map it to a Dockyard user, or 401."""
    try:
        claims = await verifier.verify(token)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        log.info("external_token_refused", reason=str(exc)[:200])
        raise AuthenticationError(_INVALID, code="invalid_token") from exc
    user = await _user_for(auth, claims)
    session_id = verifier.remember(token, user.id, float(claims["exp"]))
    return await _principal(auth, user, session_id)


async def principal_for_external_session(
    auth: AuthService, user_id: int, session_id: str
) -> Principal:
    """Re-check an external principal (open WebSockets): token not expired, user active."""
    verifier = auth._external
    entry = verifier.sessions.get(session_id) if verifier is not None else None
    if entry is None or entry[0] != user_id or entry[1] <= time.time():
        raise AuthenticationError("The session has ended. Sign in again.", code="session_ended")
    async with auth.db.read_session() as session:
        user = await session.get(User, user_id)
    if user is None:
        raise AuthenticationError("The session no longer exists.", code="invalid_token")
    return await _principal(auth, user, session_id)
