"""Creating users and resetting passwords (used by the CLI and first-run bootstrap)."""

from __future__ import annotations

import secrets

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.access.permissions import BUILTIN_ROLES
from dockyard.access.roles import role_exists
from dockyard.audit.service import Actor, record
from dockyard.auth.models import LoginSession
from dockyard.auth.passwords import hash_password_async, password_problem
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.users import repository
from dockyard.users.models import User

# The built-in roles (custom roles are rows of `roles`, see access.roles).
ROLES = tuple(BUILTIN_ROLES)


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
    if not await role_exists(session, role):
        raise ValidationFailedError(
            f"Unknown role '{role}'. Built-in roles: {', '.join(ROLES)}.",
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


async def revoke_sessions(session: AsyncSession, user_id: int, reason: str) -> int:
    """End every open login session of a user (caller commits, then `auth.forget_user`)."""
    result = await session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def other_active_admins(session: AsyncSession, user_id: int) -> int:
    """How many active admins there are besides `user_id`."""
    return int(
        (
            await session.execute(
                select(func.count(User.id)).where(
                    User.role == "admin", User.is_active.is_(True), User.id != user_id
                )
            )
        ).scalar_one()
    )


def _last_admin(user: User) -> ConflictError:
    return ConflictError(
        f"{user.email} is the last active admin: make another admin first.", code="last_admin"
    )


async def update_user(
    session: AsyncSession,
    user: User,
    *,
    display_name: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
    password: str | None = None,
    fields: set[str] | frozenset[str] = frozenset(),
    actor: Actor,
    meta: RequestMeta | None = None,
) -> bool:
    """Apply an admin's edit, audited; True when the user's sessions were revoked.

    A role change, disabling and a password reset end the user's sessions. The last active
    admin cannot lose the role or be disabled. The caller commits, then calls
    `runtime.auth.forget_user(user.id)`.
    """
    changes: dict[str, object] = {}
    revoke: str | None = None
    if "display_name" in fields:
        user.display_name = display_name or None
        changes["display_name"] = user.display_name
    if role is not None and role != user.role:
        if not await role_exists(session, role):
            raise ValidationFailedError(
                f"Unknown role '{role}'.",
                code="unknown_role",
                details={"errors": [{"path": "role", "message": "unknown role"}]},
            )
        if (
            user.role == "admin"
            and user.is_active
            and not await other_active_admins(session, user.id)
        ):
            raise _last_admin(user)
        changes["role"] = {"from": user.role, "to": role}
        user.role = role
        revoke = "role_changed"
    if is_active is not None and is_active != user.is_active:
        if (
            not is_active
            and user.role == "admin"
            and not await other_active_admins(session, user.id)
        ):
            raise _last_admin(user)
        user.is_active = is_active
        changes["is_active"] = is_active
        if not is_active:
            revoke = "disabled"
        else:
            user.failed_attempts = 0
            user.locked_until = None
    if password is not None:
        problem = password_problem(password)
        if problem:
            raise ValidationFailedError(
                problem, details={"errors": [{"path": "password", "message": problem}]}
            )
        user.password_hash = await hash_password_async(password)
        user.failed_attempts = 0
        user.locked_until = None
        changes["password_reset"] = True  # never the password itself
        revoke = revoke or "password_reset"
    if not changes:
        return False
    revoked = 0
    if revoke:
        # Sessions and API tokens end, and open WebSockets close, once the caller commits.
        from dockyard.auth.service import revoke_user_access

        ended = await revoke_user_access(session, user.id, reason=revoke)
        revoked = sum(1 for item in ended if not item.startswith("pat:"))
    await session.flush()
    await record(
        session,
        action="user.updated",
        actor=actor,
        target_type="user",
        target_id=user.id,
        details={"email": user.email, "changes": changes, "sessions_revoked": revoked},
        meta=meta,
    )
    return revoke is not None


async def list_page(
    session: AsyncSession, *, search: str | None, role: str | None, limit: int, offset: int
) -> tuple[list[User], int]:
    stmt = select(User)
    if search:
        term = search.strip().lower()
        stmt = stmt.where(
            or_(
                User.email.contains(term, autoescape=True),
                func.lower(User.display_name).contains(term, autoescape=True),
            )
        )
    if role:
        stmt = stmt.where(User.role == role)
    total = int(
        (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
    )
    rows = (
        (await session.execute(stmt.order_by(User.email).limit(limit).offset(offset)))
        .scalars()
        .all()
    )
    return list(rows), total
