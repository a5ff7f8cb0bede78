"""HTTP routes for login, refresh, logout and the current user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel

from dockyard.access.service import sees_all
from dockyard.auth import account
from dockyard.auth.schemas import (
    CurrentUser,
    LoginRequest,
    LogoutRequest,
    MfaConfirmRequest,
    MfaDisableRequest,
    MfaEnrollment,
    MfaEnrollRequest,
    MfaStatus,
    PasswordChangeRequest,
    RecoveryCodes,
    RefreshRequest,
    SessionOut,
    TokenPair,
)
from dockyard.auth.service import Principal
from dockyard.deps import AUTHENTICATED, MetaDep, RuntimeDep, require
from dockyard.kit.errors import error_body

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Wrong credentials or token",
        "content": {
            "application/json": {
                "example": error_body("invalid_credentials", "The email or password is incorrect.")
            }
        },
    },
}


@router.post(
    "/login",
    response_model=TokenPair,
    responses={
        **_ERRORS,
        423: {"description": "Account locked"},
        429: {"description": "Too many attempts"},
    },
)
async def login(body: LoginRequest, runtime: RuntimeDep, meta: MetaDep) -> TokenPair:
    """Exchange email and password (and, with MFA on, `otp`) for access and refresh tokens.

    With MFA on and no `otp`, the answer is 401 with code `mfa_required` and no tokens.
    """
    return await runtime.auth.login(body.email, body.password, meta, otp=body.otp)


@router.post("/refresh", response_model=TokenPair, responses=_ERRORS)
async def refresh(body: RefreshRequest, runtime: RuntimeDep, meta: MetaDep) -> TokenPair:
    """Rotate the refresh token; a reused one ends the session."""
    return await runtime.auth.refresh(body.refresh_token, meta)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(
    principal: Annotated[Principal, Depends(require(AUTHENTICATED))],
    runtime: RuntimeDep,
    meta: MetaDep,
    body: LogoutRequest | None = None,
) -> Response:
    """End the current session."""
    await runtime.auth.logout(principal, meta)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


Me = Annotated[Principal, Depends(require(AUTHENTICATED))]


@router.get("/me", response_model=CurrentUser)
async def me(
    principal: Annotated[Principal, Depends(require(AUTHENTICATED))], runtime: RuntimeDep
) -> CurrentUser:
    """The signed-in user, with the permissions the UI uses to hide what they cannot do."""
    return CurrentUser.model_validate(principal.user).model_copy(
        update={
            "permissions": sorted(principal.permissions),
            "sees_all_services": sees_all(principal),
            "mfa_enabled": (await account.mfa_status(runtime.auth, principal)).enabled,
            "mfa_enrollment_required": principal.mfa_enrollment_required,
            "auth_kind": principal.kind,
        }
    )


@router.get("/mfa", response_model=MfaStatus)
async def mfa_status(principal: Me, runtime: RuntimeDep) -> MfaStatus:
    """Whether MFA is on and how many recovery codes are left."""
    return await account.mfa_status(runtime.auth, principal)


@router.post("/mfa/enroll", response_model=MfaEnrollment)
async def mfa_enroll(
    body: MfaEnrollRequest, principal: Me, runtime: RuntimeDep, meta: MetaDep
) -> MfaEnrollment:
    """Start TOTP enrollment (current password required): the key, URI and QR code."""
    return await account.mfa_enroll(runtime.auth, principal, body.password, meta)


@router.post("/mfa/confirm", response_model=RecoveryCodes)
async def mfa_confirm(
    body: MfaConfirmRequest, principal: Me, runtime: RuntimeDep, meta: MetaDep
) -> RecoveryCodes:
    """Turn MFA on with a first code; the ten recovery codes are in this answer only."""
    return await account.mfa_confirm(runtime.auth, principal, body.code, meta)


@router.post("/mfa/disable", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def mfa_disable(
    body: MfaDisableRequest, principal: Me, runtime: RuntimeDep, meta: MetaDep
) -> Response:
    """Turn MFA off (current password and a code or recovery code required)."""
    await account.mfa_disable(runtime.auth, principal, body.password, body.code, meta)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def change_password(
    body: PasswordChangeRequest, principal: Me, runtime: RuntimeDep, meta: MetaDep
) -> Response:
    """Change my password (re-authentication: current password, and a code with MFA on).

    Every other session and every API token of mine ends.
    """
    await account.change_password(
        runtime.auth, principal, body.current_password, body.new_password, body.otp, meta
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions", response_model=list[SessionOut])
async def list_sessions(principal: Me, runtime: RuntimeDep) -> list[SessionOut]:
    """My active login sessions, most recently active first."""
    return await account.list_sessions(runtime.auth, principal)


@router.delete(
    "/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def revoke_session(
    session_id: str, principal: Me, runtime: RuntimeDep, meta: MetaDep
) -> Response:
    """End one of my sessions; its tokens and WebSockets stop at once."""
    await account.revoke_session(runtime.auth, principal, session_id, meta)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class RevokedCount(BaseModel):
    revoked: int


@router.post("/sessions/revoke-others", response_model=RevokedCount)
async def revoke_other_sessions(principal: Me, runtime: RuntimeDep, meta: MetaDep) -> RevokedCount:
    """End all my sessions but this one."""
    return RevokedCount(revoked=await account.revoke_other_sessions(runtime.auth, principal, meta))
