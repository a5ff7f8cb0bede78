"""Auth API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    otp: str | None = Field(
        default=None,
        max_length=64,
        description="With MFA on: the authenticator app's code, or a recovery code.",
    )


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=256)


class LogoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str | None = Field(default=None, max_length=256)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class CurrentUser(BaseModel):
    """The signed-in user."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str | None
    role: str
    last_login_at: datetime | None
    created_at: datetime
    mfa_enabled: bool = False
    mfa_enrollment_required: bool = Field(
        default=False,
        description="The role requires MFA and it is not set up: every route but "
        "/api/v1/auth/* answers 403 `mfa_enrollment_required` until it is.",
    )
    auth_kind: str = Field(default="session", description="`session`, `token` or `external`.")
    # What the caller may do (role, inherited and granted; narrowed by an API token).
    permissions: list[str] = Field(default_factory=list)
    # False for tenants: they see only the services they own or were granted.
    sees_all_services: bool = True


class MfaEnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024, description="Current password.")


class MfaEnrollment(BaseModel):
    secret: str = Field(description="Base32 key, for manual entry in the authenticator app.")
    otpauth_uri: str
    qr_svg: str = Field(description="The QR code of `otpauth_uri`: a `data:image/svg+xml` URI.")
    digits: int = 6
    period_s: int = 30


class MfaConfirmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=6, max_length=16)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="Ten single-use codes, shown this once.")


class MfaDisableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)
    code: str = Field(min_length=6, max_length=64, description="A current code or recovery code.")


class MfaStatus(BaseModel):
    enabled: bool
    confirmed_at: datetime | None
    recovery_codes_left: int


class PasswordChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)
    otp: str | None = Field(default=None, max_length=64, description="Required with MFA on.")


class SessionOut(BaseModel):
    """One of my login sessions."""

    id: str
    created_at: datetime
    last_active_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    device: str = Field(description="Browser and system guessed from the user agent.")
    auth_method: str
    current: bool
