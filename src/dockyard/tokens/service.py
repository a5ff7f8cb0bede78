"""Personal API tokens: create (shown once), list, revoke, and resolve to a principal."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access.permissions import ALL_PERMISSIONS
from dockyard.access.service import resolve
from dockyard.audit.service import record
from dockyard.auth.models import MfaCredential
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import AuthenticationError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.tokens.models import ApiToken
from dockyard.tokens.schemas import TokenCreate, TokenOut
from dockyard.users.models import User

if TYPE_CHECKING:
    from dockyard.auth.service import AuthService, Principal

TOKEN_PREFIX = "dy_pat_"  # noqa: S105 - the public token prefix
DISPLAY_PREFIX_LEN = 12
# `last_used_at` is written at most this often per token.
LAST_USED_RESOLUTION_S = 60.0

_INVALID = "The API token is invalid, expired or revoked."


def new_token() -> str:
    """`dy_pat_` and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 is enough for a random 256-bit token (no dictionary to guess from)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def token_out(token: ApiToken, now: datetime | None = None) -> TokenOut:
    now = now or utcnow()
    out = TokenOut.model_validate(token)
    out.expired = token.expires_at is not None and token.expires_at <= now
    return out


def check_scopes(principal: Principal, scopes: list[str]) -> list[str]:
    """The scopes, de-duplicated; 422 naming each one that is unknown or not held."""
    errors = []
    for index, scope in enumerate(scopes):
        if scope not in ALL_PERMISSIONS:
            errors.append({"path": f"scopes[{index}]", "message": f"unknown permission {scope!r}"})
        elif not principal.can(scope):
            errors.append(
                {
                    "path": f"scopes[{index}]",
                    "message": f"you do not hold {scope!r}, so a token cannot either",
                }
            )
    if errors:
        names = ", ".join(e["message"].split("'")[1] for e in errors)
        raise ValidationFailedError(
            f"A token's scopes must be permissions you hold; refused: {names}.",
            details={"errors": errors},
        )
    return sorted(set(scopes))


async def create_token(
    session: AsyncSession, principal: Principal, body: TokenCreate, meta: RequestMeta
) -> tuple[ApiToken, str]:
    """Insert a token for the caller and audit it (caller commits). Returns (row, token)."""
    scopes = check_scopes(principal, body.scopes)
    now = utcnow()
    expires_at = body.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)  # a time without an offset is UTC
    if expires_at is not None and expires_at <= now:
        raise ValidationFailedError(
            "The expiry must be in the future.",
            details={"errors": [{"path": "expires_at", "message": "must be in the future"}]},
        )
    token = new_token()
    row = ApiToken(
        user_id=principal.user.id,
        name=body.name.strip() or "token",
        prefix=token[:DISPLAY_PREFIX_LEN],
        token_hash=hash_token(token),
        scopes=scopes,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    await record(
        session,
        action="token.created",
        actor=principal.actor,
        target_type="api_token",
        target_id=row.id,
        details={
            "name": row.name,
            "prefix": row.prefix,
            "scopes": scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        meta=meta,
    )
    return row, token


async def list_tokens(session: AsyncSession, user_id: int) -> list[ApiToken]:
    """The user's tokens that were not revoked, newest first (expired ones included)."""
    return list(
        (
            await session.execute(
                select(ApiToken)
                .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                .order_by(ApiToken.id.desc())
            )
        )
        .scalars()
        .all()
    )


async def revoke_token(
    session: AsyncSession, principal: Principal, token_id: int, meta: RequestMeta
) -> None:
    """Revoke one of the caller's tokens (404 for anyone else's); caller commits."""
    row = await session.get(ApiToken, token_id)
    if row is None or row.user_id != principal.user.id or row.revoked_at is not None:
        raise NotFoundError(f"No API token {token_id}.", code="token_not_found")
    row.revoked_at = utcnow()
    row.revoked_reason = "revoked"
    await record(
        session,
        action="token.revoked",
        actor=principal.actor,
        target_type="api_token",
        target_id=row.id,
        details={"name": row.name, "prefix": row.prefix},
        meta=meta,
    )
    from dockyard.auth.service import SESSIONS_REVOKED_EVENT, TOKEN_SESSION_PREFIX

    publish_after_commit(
        session,
        SESSIONS_REVOKED_EVENT,
        {
            "user_id": principal.user.id,
            "session_ids": [f"{TOKEN_SESSION_PREFIX}{row.id}"],
            "reason": "token_revoked",
        },
    )


async def _principal(auth: AuthService, where: object, user_id: int | None) -> Principal:
    from dockyard.auth.service import TOKEN_SESSION_PREFIX, Principal

    now = utcnow()
    async with auth.db.read_session() as session:
        found = (
            await session.execute(
                select(ApiToken, User, MfaCredential.confirmed_at)
                .join(User, User.id == ApiToken.user_id)
                .outerjoin(MfaCredential, MfaCredential.user_id == User.id)
                .where(where)  # type: ignore[arg-type]
            )
        ).one_or_none()
        if found is None or (user_id is not None and found[1].id != user_id):
            raise AuthenticationError(_INVALID, code="invalid_token")
        token, user, mfa_confirmed_at = found
        if token.revoked_at is not None or (
            token.expires_at is not None and token.expires_at <= now
        ):
            raise AuthenticationError(_INVALID, code="invalid_token")
        if not user.is_active:
            raise AuthenticationError("This account is disabled.", code="account_disabled")
        # The owner's permissions as they are now (role, parents, grants), narrowed to the
        # token's scopes: a token never outlives a demotion.
        permissions, scope = await resolve(session, user.id, user.role)
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= (
        LAST_USED_RESOLUTION_S
    ):
        async with auth.db.session() as write:
            await write.execute(
                update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
            )
            await write.commit()
    return Principal(
        user=user,
        session_id=f"{TOKEN_SESSION_PREFIX}{token.id}",
        permissions=permissions & frozenset(token.scopes or ()),
        scope=scope,
        kind="token",
        mfa_enrollment_required=auth.mfa_enrollment_required(user, mfa_confirmed_at is not None),
    )


async def principal_for_api_token(auth: AuthService, token: str) -> Principal:
    """The principal of a `dy_pat_...` bearer token, or 401."""
    if len(token) > 200:
        raise AuthenticationError(_INVALID, code="invalid_token")
    return await _principal(auth, ApiToken.token_hash == hash_token(token), None)


async def principal_for_token_id(
    auth: AuthService, user_id: int, token_id: str, *, fresh: bool = False
) -> Principal:
    """Re-check a token principal by id (open WebSockets), or 401."""
    if not token_id.isdigit():
        raise AuthenticationError(_INVALID, code="invalid_token")
    return await _principal(auth, ApiToken.id == int(token_id), user_id)
