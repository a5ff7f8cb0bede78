"""Creating users and resetting passwords (used by the CLI and first-run bootstrap)."""

from __future__ import annotations

import secrets

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.auth.models import LoginSession
from dockyard.auth.passwords import hash_password_async, password_problem
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.users import repository
from dockyard.users.models import User

ROLES = ("admin",)


def normalize_email(email: str) -> str:
    """Lower-cased, syntax-checked email; `localhost` domains are allowed for first-run admins."""
    value = email.strip().lower()
    local, _, domain = value.partition("@")
    if domain == "localhost" and local and " " not in local:
        return value
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailedError(
            f"'{email}' is not a valid email address.",
            details={"errors": [{"path": "email", "message": str(exc)}]},
        ) from exc


def generate_password() -> str:
    """A random password a person can copy (24 URL-safe characters)."""
    return secrets.token_urlsafe(18)


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    role: str,
    actor: Actor,
    display_name: str | None = None,
    meta: RequestMeta | None = None,
) -> User:
    """Validate and insert a user, audited in the same transaction (caller commits)."""
    normalized = normalize_email(email)
    if role not in ROLES:
        raise ValidationFailedError(
            f"Unknown role '{role}'. Known roles: {', '.join(ROLES)}.",
            details={"errors": [{"path": "role", "message": "unknown role"}]},
        )
    problem = password_problem(password)
    if problem:
        raise ValidationFailedError(
            problem, details={"errors": [{"path": "password", "message": problem}]}
        )
    if await repository.get_by_email(session, normalized):
        raise ConflictError(f"A user with email {normalized} already exists.", code="user_exists")
    user = User(
        email=normalized,
        display_name=display_name,
        password_hash=await hash_password_async(password),
        role=role,
    )
    session.add(user)
    await session.flush()
    await record(
        session,
        action="user.created",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"email": normalized, "role": role},
        meta=meta,
    )
    return user


async def reset_password(session: AsyncSession, *, email: str, password: str, actor: Actor) -> User:
    """Set a new password, clear the lock and end every session of the user."""
    user = await repository.get_by_email(session, email)
    if user is None:
        raise NotFoundError(f"No user with email {email.strip().lower()}.", code="user_not_found")
    problem = password_problem(password)
    if problem:
        raise ValidationFailedError(
            problem, details={"errors": [{"path": "password", "message": problem}]}
        )
    user.password_hash = await hash_password_async(password)
    user.failed_attempts = 0
    user.locked_until = None
    now = utcnow()
    await session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason="password_reset")
    )
    await record(
        session,
        action="user.password.reset",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"email": user.email},
    )
    return user
