"""Login, refresh-token rotation with reuse detection, logout, and token checks."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access.permissions import role_permissions
from dockyard.audit.service import Actor, record
from dockyard.auth.models import LoginSession, RefreshToken
from dockyard.auth.passwords import (
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from dockyard.auth.rate_limit import SlidingWindowLimiter, retry_after_header
from dockyard.auth.schemas import TokenPair
from dockyard.auth.tokens import (
    InvalidTokenError,
    decode_access_token,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database, write_generation
from dockyard.kit.errors import AuthenticationError, DockyardError
from dockyard.kit.request_meta import RequestMeta
from dockyard.settings import Settings
from dockyard.users import repository as users
from dockyard.users.models import User

log = structlog.get_logger(__name__)

INVALID_CREDENTIALS = "The email or password is incorrect."

# How long a checked session is trusted without the database. Only a revocation by another
# process (e.g. `dockyard user reset-password`) waits for it; this process's own writes to
# users or login sessions invalidate at once (see `kit.db.write_generation`).
PRINCIPAL_TTL_S = 5.0
PRINCIPAL_CACHE_ENTRIES = 10_000

_AUTH_TABLES = frozenset((str(User.__tablename__), str(LoginSession.__tablename__)))


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the user and the login session the token belongs to."""

    user: User
    session_id: str
    # What the caller may do: the user's role permissions, narrowed to an API token's scopes.
    permissions: frozenset[str] = frozenset()

    @property
    def actor(self) -> Actor:
        return Actor.user(self.user.id, self.user.email)

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    def can(self, permission: str) -> bool:
        return permission in self.permissions


class AuthService:
    """Everything that turns credentials into sessions and tokens back into users."""

    def __init__(self, db: Database, settings: Settings, secret: str) -> None:
        self.db = db
        self.settings = settings
        self.secret = secret
        self.login_limiter = SlidingWindowLimiter(settings.login_rate_per_minute, 60.0)
        # (user_id, session_id) -> (generation, trusted until (monotonic), principal)
        self._principals: dict[tuple[int, str], tuple[int, float, Principal]] = {}

    def forget_session(self, session_id: str) -> None:
        """Drop a login session's cached principal (call after committing its revocation)."""
        for key in [k for k in self._principals if k[1] == session_id]:
            del self._principals[key]

    def forget_user(self, user_id: int) -> None:
        """Drop every cached principal of a user (call after committing the change)."""
        for key in [k for k in self._principals if k[0] == user_id]:
            del self._principals[key]

    async def _grant(
        self, session: AsyncSession, user: User, session_id: str, action: str, meta: RequestMeta
    ) -> TokenPair:
        """New access and refresh tokens for a login session, audited (caller commits)."""
        access = issue_access_token(
            secret=self.secret,
            user_id=user.id,
            session_id=session_id,
            role=user.role,
            ttl_s=self.settings.access_token_ttl_s,
        )
        refresh = new_refresh_token()
        session.add(
            RefreshToken(
                session_id=session_id,
                token_hash=hash_refresh_token(refresh),
                expires_at=utcnow() + timedelta(seconds=self.settings.refresh_token_ttl_s),
            )
        )
        await record(
            session,
            action=action,
            actor=Actor.user(user.id, user.email),
            target_type="session",
            target_id=session_id,
            meta=meta,
        )
        return TokenPair(
            access_token=access, refresh_token=refresh, expires_in=self.settings.access_token_ttl_s
        )

    async def login(self, email: str, password: str, meta: RequestMeta) -> TokenPair:
        """Check credentials with per-IP rate limit and per-account lockout; audit either way."""
        wait = self.login_limiter.hit(meta.ip or "unknown")
        if wait:
            log.warning("login_rate_limited", ip=meta.ip)
            raise DockyardError(
                "Too many login attempts from this address. Try again shortly.",
                code="rate_limited",
                status_code=429,
                details={"retry_after_s": int(retry_after_header(wait))},
                headers={"Retry-After": retry_after_header(wait)},
            )
        email_key = email.strip().lower()
        now = utcnow()
        async with self.db.session() as session:
            # FOR UPDATE: concurrent failed attempts must count, not overwrite each other.
            user = await users.get_by_email(session, email_key, for_update=True)
            if user is not None and user.locked_until is not None and user.locked_until > now:
                retry = int((user.locked_until - now).total_seconds()) + 1
                await record(
                    session,
                    action="auth.login.failed",
                    actor=Actor.user(user.id, user.email),
                    outcome="denied",
                    target_type="user",
                    target_id=user.id,
                    details={"reason": "account_locked"},
                    meta=meta,
                )
                await session.commit()
                raise DockyardError(
                    "This account is locked after too many failed logins. Try again later.",
                    code="account_locked",
                    status_code=423,
                    details={"retry_after_s": retry},
                    headers={"Retry-After": str(retry)},
                )
            usable = user is not None and user.is_active
            ok = await verify_password_async(
                user.password_hash if usable and user else None, password
            )
            if not ok or user is None:
                reason = (
                    "unknown_user"
                    if user is None
                    else ("inactive" if not user.is_active else "bad_password")
                )
                if user is not None and user.is_active:
                    user.failed_attempts += 1
                    if user.failed_attempts >= self.settings.login_max_failures:
                        user.locked_until = now + timedelta(seconds=self.settings.login_lockout_s)
                        user.failed_attempts = 0
                        await record(
                            session,
                            action="auth.account.locked",
                            actor=Actor.system(),
                            target_type="user",
                            target_id=user.id,
                            details={"until": user.locked_until.isoformat()},
                            meta=meta,
                        )
                await record(
                    session,
                    action="auth.login.failed",
                    actor=Actor.anonymous(email_key[:320]),
                    outcome="failure",
                    target_type="user" if user else None,
                    target_id=user.id if user else None,
                    details={"reason": reason},
                    meta=meta,
                )
                await session.commit()
                raise AuthenticationError(INVALID_CREDENTIALS, code="invalid_credentials")

            user.failed_attempts = 0
            user.locked_until = None
            user.last_login_at = now
            if needs_rehash(user.password_hash):
                user.password_hash = await hash_password_async(password)
            login_session = LoginSession(
                id=str(uuid.uuid4()),
                user_id=user.id,
                created_at=now,
                last_used_at=now,
                expires_at=now + timedelta(seconds=self.settings.session_max_age_s),
                ip=meta.ip,
                user_agent=meta.user_agent,
            )
            session.add(login_session)
            tokens = await self._grant(
                session, user, login_session.id, "auth.login.succeeded", meta
            )
            await session.commit()
        return tokens

    async def refresh(self, token: str, meta: RequestMeta) -> TokenPair:
        """Rotate a refresh token; presenting a used one ends its whole session."""
        invalid = AuthenticationError(
            "The session has expired. Sign in again.", code="invalid_refresh_token"
        )
        now = utcnow()
        async with self.db.session() as session:
            token_hash = hash_refresh_token(token)
            # Claim the token in one statement: of concurrent refreshes with the same
            # token exactly one wins, the others take the reuse path below.
            claimed = (
                await session.execute(
                    update(RefreshToken)
                    .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None))
                    .values(used_at=now)
                    .returning(RefreshToken.id)
                )
            ).scalar_one_or_none()
            row = (
                await session.execute(
                    select(RefreshToken).where(RefreshToken.token_hash == token_hash)
                )
            ).scalar_one_or_none()
            if row is None:
                raise invalid
            login_session = await session.get(LoginSession, row.session_id)
            user = await users.get(session, login_session.user_id) if login_session else None
            if login_session is None or user is None:
                raise invalid
            if claimed is None:
                if login_session.revoked_at is None:
                    login_session.revoked_at = now
                    login_session.revoked_reason = "refresh_token_reuse"
                await record(
                    session,
                    action="auth.refresh.reused",
                    actor=Actor.user(user.id, user.email),
                    outcome="denied",
                    target_type="session",
                    target_id=login_session.id,
                    details={"session_revoked": True},
                    meta=meta,
                )
                await session.commit()
                self.forget_session(login_session.id)
                raise invalid
            if (
                login_session.revoked_at is not None
                or login_session.expires_at <= now
                or row.expires_at <= now
                or not user.is_active
            ):
                await session.rollback()  # un-claim: an invalid session keeps nothing
                raise invalid
            login_session.last_used_at = now
            tokens = await self._grant(
                session, user, login_session.id, "auth.refresh.succeeded", meta
            )
            await session.commit()
        return tokens

    async def logout(self, principal: Principal, meta: RequestMeta) -> None:
        """End the caller's session: its access and refresh tokens stop working at once."""
        async with self.db.session() as session:
            login_session = await session.get(LoginSession, principal.session_id)
            if login_session is not None and login_session.revoked_at is None:
                login_session.revoked_at = utcnow()
                login_session.revoked_reason = "logout"
            await record(
                session,
                action="auth.logout",
                actor=principal.actor,
                target_type="session",
                target_id=principal.session_id,
                meta=meta,
            )
            await session.commit()
        self.forget_session(principal.session_id)

    async def authenticate(self, token: str) -> Principal:
        """Resolve a bearer access token to a live user and session, or raise 401."""
        try:
            claims = decode_access_token(token, secret=self.secret)
        except InvalidTokenError as exc:
            raise AuthenticationError(
                "The access token is invalid or expired.", code="invalid_token"
            ) from exc
        return await self.principal_for_session(claims.user_id, claims.session_id)

    async def principal_for_session(self, user_id: int, session_id: str) -> Principal:
        """The live user and login session, or 401 when either has ended.

        Checked on every request and periodically on open WebSockets. A success is trusted
        for up to `PRINCIPAL_TTL_S`, unless this process commits a change to users or login
        sessions first, so sign-out and revocation here take effect at once. Failures are
        never cached.
        """
        key = (user_id, session_id)
        # Taken before reading: a write meanwhile fails the entry.
        generation = write_generation(_AUTH_TABLES)
        cached = self._principals.get(key)
        if cached is not None:
            if cached[0] == generation and time.monotonic() < cached[1]:
                return cached[2]
            del self._principals[key]
        now = utcnow()
        started = time.monotonic()
        async with self.db.read_session() as session:
            found = (
                await session.execute(
                    select(User, LoginSession)
                    .join(LoginSession, LoginSession.user_id == User.id)
                    .where(User.id == user_id, LoginSession.id == session_id)
                )
            ).one_or_none()
        if found is None:
            raise AuthenticationError("The session no longer exists.", code="invalid_token")
        user, login_session = found
        if login_session.revoked_at is not None or login_session.expires_at <= now:
            raise AuthenticationError("The session has ended. Sign in again.", code="session_ended")
        if not user.is_active:
            raise AuthenticationError("This account is disabled.", code="account_disabled")
        principal = Principal(
            user=user, session_id=login_session.id, permissions=role_permissions(user.role)
        )
        if len(self._principals) >= PRINCIPAL_CACHE_ENTRIES:
            self._principals.clear()
        # Never past the session's own end.
        remaining = (login_session.expires_at - now).total_seconds()
        self._principals[key] = (generation, started + min(PRINCIPAL_TTL_S, remaining), principal)
        return principal
