"""HTTP routes for login, refresh, logout and the current user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from dockyard.auth.schemas import (
    CurrentUser,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
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
    """Exchange email and password for an access token and a refresh token."""
    return await runtime.auth.login(body.email, body.password, meta)


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


@router.get("/me", response_model=CurrentUser)
async def me(principal: Annotated[Principal, Depends(require(AUTHENTICATED))]) -> CurrentUser:
    """The signed-in user."""
    return CurrentUser.model_validate(principal.user)
