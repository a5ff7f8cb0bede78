"""The signed-in user's own security: MFA enrollment, password change, login sessions."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import record
from dockyard.auth import mfa
from dockyard.auth.models import LoginSession, MfaCredential, RecoveryCode
from dockyard.auth.passwords import hash_password_async, password_problem, verify_password_async
from dockyard.auth.schemas import MfaEnrollment, MfaStatus, RecoveryCodes, SessionOut
from dockyard.auth.service import AuthService, Principal, record_refusal, revoke_user_access
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import (
    ConflictError,
    DockyardError,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailedError,
)
from dockyard.kit.request_meta import RequestMeta
from dockyard.users.models import User


def _require_login_session(principal: Principal) -> None:
    """Re-authentication needs a password session, not an API or external token."""
    if principal.kind != "session":
        raise PermissionDeniedError(
            "Sign in with your password to change your security settings.",
            code="session_required",
        )


async def _locked_user(session: AsyncSession, user_id: int) -> User:
    user = (
        await session.execute(select(User).where(User.id == user_id).with_for_update())
    ).scalar_one_or_none()
    if user is None:
        raise NotFoundError("The user no longer exists.", code="user_not_found")
    return user


async def _credential(session: AsyncSession, user_id: int) -> MfaCredential | None:
    return await session.get(MfaCredential, user_id)


async def _check_password(
    auth: AuthService, session: AsyncSession, user: User, password: str, meta: RequestMeta
) -> None:
    """403 `reauthentication_failed` (audited) unless `password` is the user's."""
    # Re-authentication shares the MFA attempt budget: no password guessing through it.
    await auth.check_mfa_rate(user.id, meta)
    if not await verify_password_async(user.password_hash, password):
        await record_refusal(session, user, "auth.reauth.failed", "bad_password", meta)
        raise PermissionDeniedError(
            "The current password is incorrect.", code="reauthentication_failed"
        )


async def _check_code(
    auth: AuthService,
    session: AsyncSession,
    user: User,
    credential: MfaCredential,
    code: str | None,
    meta: RequestMeta,
) -> str:
    if not code:
        raise PermissionDeniedError(
            "Enter the code from your authenticator app (or a recovery code).",
            code="mfa_required",
        )
    await auth.check_mfa_rate(user.id, meta)
    factor = await auth.verify_second_factor(session, credential, code)
    if factor is None:
        await record_refusal(session, user, "auth.reauth.failed", "bad_otp", meta)
        raise PermissionDeniedError(
            "The code is wrong, expired or already used.", code="invalid_otp"
        )
    return factor


# ---------------------------------------------------------------- MFA


async def mfa_status(auth: AuthService, principal: Principal) -> MfaStatus:
    async with auth.db.read_session() as session:
        credential = await _credential(session, principal.user.id)
        left = (
            await session.execute(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == principal.user.id, RecoveryCode.used_at.is_(None))
            )
        ).scalar_one()
    confirmed = credential.confirmed_at if credential is not None else None
    return MfaStatus(
        enabled=confirmed is not None,
        confirmed_at=confirmed,
        recovery_codes_left=int(left) if confirmed else 0,
    )


async def mfa_enroll(
    auth: AuthService, principal: Principal, password: str, meta: RequestMeta
) -> MfaEnrollment:
    """Start (or restart) enrollment: a new secret, active only once confirmed."""
    _require_login_session(principal)
    async with auth.db.session() as session:
        user = await _locked_user(session, principal.user.id)
        await _check_password(auth, session, user, password, meta)
        credential = await _credential(session, user.id)
        if credential is not None and credential.confirmed_at is not None:
            raise ConflictError(
                "MFA is already on. Disable it first to enroll a new device.",
                code="mfa_already_enabled",
            )
        secret = mfa.new_secret()
        encrypted = auth.box.encrypt(secret)
        if credential is None:
            session.add(MfaCredential(user_id=user.id, secret_encrypted=encrypted))
        else:
            credential.secret_encrypted = encrypted
            credential.created_at = utcnow()
            credential.last_used_step = None
        await record(
            session,
            action="auth.mfa.enrollment_started",
            actor=principal.actor,
            target_type="user",
            target_id=user.id,
            meta=meta,
        )
        await session.commit()
    uri = mfa.provisioning_uri(secret, user.email)
    return MfaEnrollment(secret=secret, otpauth_uri=uri, qr_svg=mfa.qr_svg_data_uri(uri))


async def mfa_confirm(
    auth: AuthService, principal: Principal, code: str, meta: RequestMeta
) -> RecoveryCodes:
    """Turn MFA on with a first valid code; answer the ten recovery codes (once)."""
    _require_login_session(principal)
    async with auth.db.session() as session:
        user = await _locked_user(session, principal.user.id)
        credential = await _credential(session, user.id)
        if credential is None:
            raise ConflictError("Start the enrollment first.", code="mfa_not_enrolling")
        if credential.confirmed_at is not None:
            raise ConflictError("MFA is already on.", code="mfa_already_enabled")
        if not mfa.looks_like_totp(code):
            raise ValidationFailedError(
                "Enter the 6-digit code from your authenticator app.",
                details={"errors": [{"path": "code", "message": "6 digits expected"}]},
            )
        await _check_code(auth, session, user, credential, code, meta)
        credential.confirmed_at = utcnow()
        codes = mfa.new_recovery_codes()
        await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        session.add_all(
            RecoveryCode(user_id=user.id, code_hash=mfa.hash_recovery_code(c)) for c in codes
        )
        await record(
            session,
            action="auth.mfa.enabled",
            actor=principal.actor,
            target_type="user",
            target_id=user.id,
            meta=meta,
        )
        await session.commit()
    auth.forget_user(user.id)
    return RecoveryCodes(recovery_codes=codes)


async def mfa_disable(
    auth: AuthService, principal: Principal, password: str, code: str, meta: RequestMeta
) -> None:
    """Turn MFA off after password and a code (or recovery code)."""
    _require_login_session(principal)
    async with auth.db.session() as session:
        user = await _locked_user(session, principal.user.id)
        credential = await _credential(session, user.id)
        if credential is None or credential.confirmed_at is None:
            raise ConflictError("MFA is not on.", code="mfa_not_enabled")
        await _check_password(auth, session, user, password, meta)
        await _check_code(auth, session, user, credential, code, meta)
        await session.delete(credential)
        await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        await record(
            session,
            action="auth.mfa.disabled",
            actor=principal.actor,
            target_type="user",
            target_id=user.id,
            meta=meta,
        )
        await session.commit()
    auth.forget_user(user.id)


# ---------------------------------------------------------------- password


async def change_password(
    auth: AuthService,
    principal: Principal,
    current_password: str,
    new_password: str,
    otp: str | None,
    meta: RequestMeta,
) -> int:
    """Re-authenticate, apply the policy, and end every other session and API token.

    Returns how many sessions and tokens were revoked.
    """
    _require_login_session(principal)
    problem = password_problem(new_password)
    if problem is None and new_password == current_password:
        problem = "The new password must differ from the current one."
    if problem:
        raise ValidationFailedError(
            problem, details={"errors": [{"path": "new_password", "message": problem}]}
        )
    async with auth.db.session() as session:
        user = await _locked_user(session, principal.user.id)
        await _check_password(auth, session, user, current_password, meta)
        credential = await _credential(session, user.id)
        if credential is not None and credential.confirmed_at is not None:
            await _check_code(auth, session, user, credential, otp, meta)
        user.password_hash = await hash_password_async(new_password)
        user.failed_attempts = 0
        user.locked_until = None
        revoked = await revoke_user_access(
            session, user.id, reason="password_changed", keep_session=principal.session_id
        )
        await record(
            session,
            action="auth.password.changed",
            actor=principal.actor,
            target_type="user",
            target_id=user.id,
            details={"revoked": len(revoked)},
            meta=meta,
        )
        await session.commit()
    auth.forget_user(user.id)
    return len(revoked)


# ---------------------------------------------------------------- sessions

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("python-httpx", "Dockyard CLI / httpx"),
    ("curl/", "curl"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_device(user_agent: str | None) -> str:
    """ "Firefox on Linux" from a user agent; "Unknown device" when it says nothing useful."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for key, name in _BROWSERS if key in user_agent), None)
    system = next((name for key, name in _SYSTEMS if key in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return str(browser or system)
    return re.sub(r"[^\w ./-]", "", user_agent)[:40] or "Unknown device"


async def list_sessions(auth: AuthService, principal: Principal) -> list[SessionOut]:
    now = utcnow()
    async with auth.db.read_session() as session:
        rows = (
            (
                await session.execute(
                    select(LoginSession)
                    .where(
                        LoginSession.user_id == principal.user.id,
                        LoginSession.revoked_at.is_(None),
                        LoginSession.expires_at > now,
                    )
                    .order_by(LoginSession.last_used_at.desc())
                )
            )
            .scalars()
            .all()
        )
    return [
        SessionOut(
            id=row.id,
            created_at=row.created_at,
            last_active_at=row.last_used_at,
            expires_at=row.expires_at,
            ip=row.ip,
            user_agent=row.user_agent,
            device=describe_device(row.user_agent),
            auth_method=row.auth_method,
            current=row.id == principal.session_id,
        )
        for row in rows
    ]


async def revoke_session(
    auth: AuthService, principal: Principal, session_id: str, meta: RequestMeta
) -> None:
    """End one of my sessions (404 for anyone else's or an ended one)."""
    async with auth.db.session() as session:
        row = await session.get(LoginSession, session_id)
        if (
            row is None
            or row.user_id != principal.user.id
            or row.revoked_at is not None
            or row.expires_at <= utcnow()
        ):
            raise NotFoundError(f"No active session {session_id[:64]}.", code="session_not_found")
        await revoke_user_access(
            session, principal.user.id, reason="revoked", session_ids=[row.id], tokens=False
        )
        await record(
            session,
            action="auth.session.revoked",
            actor=principal.actor,
            target_type="session",
            target_id=row.id,
            meta=meta,
        )
        await session.commit()
    auth.forget_session(session_id)


async def revoke_other_sessions(auth: AuthService, principal: Principal, meta: RequestMeta) -> int:
    """End all my sessions but this one; answer how many ended."""
    if principal.kind != "session":
        raise DockyardError(
            "Only a signed-in browser or CLI session can do this.",
            code="session_required",
            status_code=403,
        )
    async with auth.db.session() as session:
        revoked = await revoke_user_access(
            session,
            principal.user.id,
            reason="revoked_by_user",
            keep_session=principal.session_id,
            tokens=False,
        )
        await record(
            session,
            action="auth.session.revoked_others",
            actor=principal.actor,
            target_type="user",
            target_id=principal.user.id,
            details={"count": len(revoked)},
            meta=meta,
        )
        await session.commit()
    auth.forget_user(principal.user.id)
    return len(revoked)
