"""Login, refresh-token rotation with reuse detection, logout, and token checks."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access.service import ACCESS_TABLES, AccessScope, resolve
from dockyard.audit.service import Actor, record
from dockyard.auth import mfa
from dockyard.auth.models import LoginSession, MfaCredential, RecoveryCode, RefreshToken
from dockyard.auth.passwords import (
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from dockyard.auth.rate_limit import (
    RateLimiter,
    RedisWindows,
    rate_limited_error,
    retry_after_header,
)
from dockyard.auth.schemas import TokenPair
from dockyard.auth.tokens import (
    InvalidTokenError,
    decode_access_token,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database, publish_after_commit, write_generation
from dockyard.kit.errors import AuthenticationError, DockyardError
from dockyard.kit.request_meta import RequestMeta
from dockyard.kit.secrets_box import SecretBox, SecretBoxError
from dockyard.settings import Settings
from dockyard.users import repository as users
from dockyard.users.models import User

if TYPE_CHECKING:
    from dockyard.auth.external import ExternalVerifier

log = structlog.get_logger(__name__)

INVALID_CREDENTIALS = "The email or password is incorrect."

# How long a checked session is trusted without the database. Only a revocation by another
# process (e.g. `dockyard user reset-password`) waits for it; this process's own writes to
# users or login sessions invalidate at once (see `kit.db.write_generation`).
PRINCIPAL_TTL_S = 5.0
PRINCIPAL_CACHE_ENTRIES = 10_000

_AUTH_TABLES = (
    frozenset(
        (
            str(User.__tablename__),
            str(LoginSession.__tablename__),
            str(MfaCredential.__tablename__),
            "api_tokens",
        )
    )
    | ACCESS_TABLES
)
# Published (after commit) when sessions or API tokens of a user end: open WebSockets of
# those sessions close at once. `session_ids` None means every session and token.
SESSIONS_REVOKED_EVENT = "auth.sessions_revoked"
# Principals of API tokens and external JWTs carry these session-id prefixes.
TOKEN_SESSION_PREFIX = "pat:"  # noqa: S105 - a session-id prefix, not a secret
EXTERNAL_SESSION_PREFIX = "ext:"
# A session's "last active" time is written at most this often.
TOUCH_INTERVAL_S = 60.0


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the user and the login session the token belongs to."""

    user: User
    session_id: str
    # What the caller may do: the user's role permissions, narrowed to an API token's scopes.
    permissions: frozenset[str] = frozenset()
    # Which services the caller sees and holds what on (see access.service); resolved with
    # `permissions` from the role, its parents and the user's grants.
    scope: AccessScope | None = None
    # `session` (signed in with a password), `token` (API token) or `external` (a JWT from
    # the configured identity provider).
    kind: str = "session"
    # The user's role requires MFA and they have not enrolled: only /api/v1/auth/* answers.
    mfa_enrollment_required: bool = False

    @property
    def actor(self) -> Actor:
        return Actor.user(self.user.id, self.user.email)

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    def can(self, permission: str) -> bool:
        return permission in self.permissions


async def record_refusal(
    session: AsyncSession,
    user: User,
    action: str,
    reason: str,
    meta: RequestMeta | None,
    *,
    outcome: str = "failure",
) -> None:
    """Audit a refused attempt by `user` and commit at once: the error raised next must not
    take the record (or the failure count beside it) down with it."""
    await record(
        session,
        action=action,
        actor=Actor.user(user.id, user.email),
        outcome=outcome,
        target_type="user",
        target_id=user.id,
        details={"reason": reason},
        meta=meta,
    )
    await session.commit()


class AuthService:
    """Everything that turns credentials into sessions and tokens back into users."""

    def __init__(self, db: Database, settings: Settings, secret: str) -> None:
        self.db = db
        self.settings = settings
        self.secret = secret
        # Scale-out: every replica counts in Redis, so the limits hold for the installation.
        self.shared_windows = RedisWindows(settings.redis_url) if settings.redis_url else None
        shared = self.shared_windows
        self.login_limiter = RateLimiter(
            "login", settings.login_rate_per_minute, 60.0, shared=shared
        )
        # MFA code attempts (login, confirm, disable, re-authentication) per IP and account.
        # An IP may serve many people (office NAT): it gets five accounts' worth.
        self.mfa_ip_limiter = RateLimiter(
            "mfa-ip", 5 * settings.mfa_rate_per_minute, 60.0, shared=shared
        )
        self.mfa_account_limiter = RateLimiter(
            "mfa-account", settings.mfa_rate_per_minute, 60.0, shared=shared
        )
        # Keyed by user, not by IP, so a spoofed `X-Forwarded-For` changes nothing.
        self.api_limiter = RateLimiter("api", settings.api_rate_per_minute, 60.0, shared=shared)
        self.box = SecretBox(secret, purpose="dockyard.mfa.totp.v1")
        self._external: ExternalVerifier | None = None
        if settings.external_jwt_mode != "off":
            from dockyard.auth.external import ExternalVerifier

            self._external = ExternalVerifier(settings)
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

    async def close(self) -> None:
        """Close the shared rate-limit connection (scale-out)."""
        if self.shared_windows is not None:
            await self.shared_windows.close()

    async def check_api_rate(self, user_id: int) -> None:
        """429 `rate_limited` with `Retry-After` once a user made too many calls in 60 s."""
        wait = await self.api_limiter.hit(str(user_id))
        if wait:
            raise DockyardError(
                "Too many requests: slow down and retry later.",
                code="rate_limited",
                status_code=429,
                headers={"Retry-After": retry_after_header(wait)},
            )

    async def check_mfa_rate(self, user_id: int, meta: RequestMeta) -> None:
        """Count one MFA code attempt; 429 when the IP or the account tried too often."""
        wait = max(
            await self.mfa_ip_limiter.hit(meta.ip or "unknown"),
            await self.mfa_account_limiter.hit(str(user_id)),
        )
        if wait:
            log.warning("mfa_rate_limited", ip=meta.ip, user_id=user_id)
            raise rate_limited_error("Too many MFA code attempts. Try again shortly.", wait)

    async def verify_second_factor(
        self, session: AsyncSession, credential: MfaCredential, code: str
    ) -> str | None:
        """Accept a TOTP code (once per time-step) or an unused recovery code (once).

        Returns `totp` or `recovery_code`, or None. The caller holds the user's row lock
        (or SQLite's write lock) and commits.
        """
        if mfa.looks_like_totp(code):
            try:
                secret = self.box.decrypt(credential.secret_encrypted)
            except SecretBoxError:
                log.error("mfa_secret_unreadable", user_id=credential.user_id)
                return None
            step = mfa.match_totp(secret, code, last_used_step=credential.last_used_step)
            if step is None:
                return None
            # Conditional update: of two concurrent uses of one code only one matches.
            won = (
                await session.execute(
                    update(MfaCredential)
                    .where(
                        MfaCredential.user_id == credential.user_id,
                        (MfaCredential.last_used_step.is_(None))
                        | (MfaCredential.last_used_step < step),
                    )
                    .values(last_used_step=step)
                    .returning(MfaCredential.user_id)
                )
            ).scalar_one_or_none()
            credential.last_used_step = step
            return "totp" if won is not None else None
        used = (
            await session.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == credential.user_id,
                    RecoveryCode.code_hash == mfa.hash_recovery_code(code),
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=utcnow())
                .returning(RecoveryCode.id)
            )
        ).scalar_one_or_none()
        return "recovery_code" if used is not None else None

    async def login(
        self, email: str, password: str, meta: RequestMeta, otp: str | None = None
    ) -> TokenPair:
        """Check credentials with per-IP rate limit and per-account lockout; audit either way.

        With MFA on, a missing `otp` answers 401 `mfa_required` (no tokens); a wrong one
        counts as a failed login.
        """
        wait = await self.login_limiter.hit(meta.ip or "unknown")
        if wait:
            log.warning("login_rate_limited", ip=meta.ip)
            raise rate_limited_error(
                "Too many login attempts from this address. Try again shortly.", wait
            )
        email_key = email.strip().lower()
        now = utcnow()
        async with self.db.session() as session:
            # FOR UPDATE: concurrent failed attempts must count, not overwrite each other.
            user = await users.get_by_email(session, email_key, for_update=True)
            if user is not None and user.locked_until is not None and user.locked_until > now:
                retry = int((user.locked_until - now).total_seconds()) + 1
                await record_refusal(
                    session, user, "auth.login.failed", "account_locked", meta, outcome="denied"
                )
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

            credential = (
                await session.execute(
                    select(MfaCredential).where(
                        MfaCredential.user_id == user.id, MfaCredential.confirmed_at.is_not(None)
                    )
                )
            ).scalar_one_or_none()
            auth_method = "password"
            if credential is not None:
                if not otp:
                    await session.rollback()
                    raise AuthenticationError(
                        "Enter the code from your authenticator app (or a recovery code).",
                        code="mfa_required",
                    )
                await self.check_mfa_rate(user.id, meta)
                factor = await self.verify_second_factor(session, credential, otp)
                if factor is None:
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
                            details={"until": user.locked_until.isoformat(), "reason": "bad_otp"},
                            meta=meta,
                        )
                    await record_refusal(session, user, "auth.login.failed", "bad_otp", meta)
                    raise AuthenticationError(
                        "The code is wrong, expired or already used.", code="invalid_otp"
                    )
                auth_method = "password+" + factor
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
                auth_method=auth_method,
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
        """Resolve a bearer token to a live principal, or raise 401.

        `dy_pat_...` is an API token; a JWT whose `iss` is the configured external issuer
        goes to the external verifier; anything else must be Dockyard's own access token.
        """
        from dockyard.tokens.service import TOKEN_PREFIX, principal_for_api_token

        if token.startswith(TOKEN_PREFIX):
            return await principal_for_api_token(self, token)
        if self._external is not None and self._external.is_external(token):
            return await self._external_principal(token)
        try:
            claims = decode_access_token(token, secret=self.secret)
        except InvalidTokenError as exc:
            raise AuthenticationError(
                "The access token is invalid or expired.", code="invalid_token"
            ) from exc
        return await self.principal_for_session(claims.user_id, claims.session_id)

    async def _external_principal(self, token: str) -> Principal:
        from dockyard.auth.external import principal_for_external_token

        assert self._external is not None
        return await principal_for_external_token(self, self._external, token)

    def mfa_enrollment_required(self, user: User, mfa_confirmed: bool) -> bool:
        """The user's role requires MFA (`DOCKYARD_MFA_REQUIRED_ROLES`) and none is set up."""
        return not mfa_confirmed and user.role in self.settings.mfa_required_roles

    async def principal_for_session(
        self, user_id: int, session_id: str, *, fresh: bool = False
    ) -> Principal:
        """The live user and login session, or 401 when either has ended.

        Checked on every request and periodically on open WebSockets. A success is trusted
        for up to `PRINCIPAL_TTL_S`, unless this process commits a change to users or login
        sessions first, so sign-out and revocation here take effect at once. Failures are
        never cached. `fresh` skips the cache (a revocation by another process shows at once).
        Session ids of API tokens (`pat:<id>`) and external tokens (`ext:...`) are
        re-checked the same way.
        """
        if session_id.startswith(TOKEN_SESSION_PREFIX):
            from dockyard.tokens.service import principal_for_token_id

            return await principal_for_token_id(
                self, user_id, session_id.removeprefix(TOKEN_SESSION_PREFIX), fresh=fresh
            )
        if session_id.startswith(EXTERNAL_SESSION_PREFIX):
            from dockyard.auth.external import principal_for_external_session

            return await principal_for_external_session(self, user_id, session_id)
        key = (user_id, session_id)
        # Taken before reading: a write meanwhile fails the entry.
        generation = write_generation(_AUTH_TABLES)
        cached = self._principals.get(key)
        if cached is not None:
            if not fresh and cached[0] == generation and time.monotonic() < cached[1]:
                return cached[2]
            del self._principals[key]
        now = utcnow()
        started = time.monotonic()
        async with self.db.read_session() as session:
            found = (
                await session.execute(
                    select(User, LoginSession, MfaCredential.confirmed_at)
                    .join(LoginSession, LoginSession.user_id == User.id)
                    .outerjoin(MfaCredential, MfaCredential.user_id == User.id)
                    .where(User.id == user_id, LoginSession.id == session_id)
                )
            ).one_or_none()
            if found is not None:
                permissions, scope = await resolve(session, found[0].id, found[0].role)
        if found is None:
            raise AuthenticationError("The session no longer exists.", code="invalid_token")
        user, login_session, mfa_confirmed_at = found
        if login_session.revoked_at is not None or login_session.expires_at <= now:
            raise AuthenticationError("The session has ended. Sign in again.", code="session_ended")
        if not user.is_active:
            raise AuthenticationError("This account is disabled.", code="account_disabled")
        principal = Principal(
            user=user,
            session_id=login_session.id,
            permissions=permissions,
            scope=scope,
            mfa_enrollment_required=self.mfa_enrollment_required(
                user, mfa_confirmed_at is not None
            ),
        )
        if (now - login_session.last_used_at).total_seconds() >= TOUCH_INTERVAL_S:
            await self._touch_session(login_session.id, now)
        if len(self._principals) >= PRINCIPAL_CACHE_ENTRIES:
            self._principals.clear()
        # Never past the session's own end.
        remaining = (login_session.expires_at - now).total_seconds()
        # (After a touch the entry is stale at once: the next request reads again, once.)
        self._principals[key] = (generation, started + min(PRINCIPAL_TTL_S, remaining), principal)
        return principal

    async def _touch_session(self, session_id: str, now: datetime) -> None:
        """Record "last active" (at most once a minute per session; never fails a request)."""
        try:
            async with self.db.session() as session:
                await session.execute(
                    update(LoginSession)
                    .where(LoginSession.id == session_id)
                    .values(last_used_at=now)
                )
                await session.commit()
        except Exception:
            log.warning("session_touch_failed", session_id=session_id, exc_info=True)


async def revoke_user_access(
    session: AsyncSession,
    user_id: int,
    *,
    reason: str,
    keep_session: str | None = None,
    session_ids: list[str] | None = None,
    tokens: bool = True,
) -> list[str]:
    """Revoke a user's login sessions (all, or `session_ids`, but `keep_session`) and, with
    `tokens`, their API tokens; queue `auth.sessions_revoked` so their WebSockets close.

    For password change, disable, role change and session revocation. The caller commits;
    the event is published only if the commit succeeds. Returns the revoked session ids
    (API tokens as `pat:<id>`).
    """
    from dockyard.tokens.models import ApiToken

    now = utcnow()
    stmt = select(LoginSession.id).where(
        LoginSession.user_id == user_id,
        LoginSession.revoked_at.is_(None),
        LoginSession.expires_at > now,
    )
    if session_ids is not None:
        stmt = stmt.where(LoginSession.id.in_(session_ids))
    if keep_session is not None:
        stmt = stmt.where(LoginSession.id != keep_session)
    revoked = list((await session.execute(stmt)).scalars().all())
    if revoked:
        await session.execute(
            update(LoginSession)
            .where(LoginSession.id.in_(revoked))
            .values(revoked_at=now, revoked_reason=reason[:64])
        )
    if tokens:
        token_ids = list(
            (
                await session.execute(
                    select(ApiToken.id).where(
                        ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)
                    )
                )
            )
            .scalars()
            .all()
        )
        if token_ids:
            await session.execute(
                update(ApiToken)
                .where(ApiToken.id.in_(token_ids))
                .values(revoked_at=now, revoked_reason=reason[:64])
            )
        revoked += [f"{TOKEN_SESSION_PREFIX}{i}" for i in token_ids]
    # Sessions of the external provider are not stored: a full revocation names none
    # (None), which closes every socket of the user, external ones included.
    everything = session_ids is None and keep_session is None and tokens
    publish_after_commit(
        session,
        SESSIONS_REVOKED_EVENT,
        {"user_id": user_id, "session_ids": None if everything else revoked, "reason": reason},
    )
    return revoked
