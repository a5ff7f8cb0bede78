"""SSH credential and host key API shapes. Secrets are write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from dockyard.hosts import validation
from dockyard.ssh.keys import MAX_KEY_CHARS


def _name(value: str) -> str:
    if value != value.strip() or any(ord(c) < 32 for c in value):
        raise ValueError("must not start or end with spaces or contain control characters")
    return value


def _username(value: str) -> str:
    checked = validation.ssh_user(value)
    if not checked:
        raise ValueError("is required")
    return checked


Name = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_name)]
Username = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_username)]
AuthType = Literal["key", "password"]
PrivateKey = Annotated[
    str,
    Field(
        max_length=MAX_KEY_CHARS,
        description="Private key in OpenSSH or PEM format (write-only).",
    ),
]
Passphrase = Annotated[str, Field(max_length=1024, description="The key's passphrase.")]
Password = Annotated[str, Field(min_length=1, max_length=1024, description="Write-only.")]


class SshCredentialCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    username: Username
    auth_type: AuthType
    private_key: PrivateKey | None = None
    passphrase: Passphrase | None = None
    password: Password | None = None


class SshCredentialPatch(BaseModel):
    """Only the fields given change. A new secret replaces the stored one; changing
    `auth_type` needs the new secret (`private_key` or `password`)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    username: Username | None = None
    auth_type: AuthType | None = None
    private_key: PrivateKey | None = None
    passphrase: Passphrase | None = None
    password: Password | None = None


class SshCredentialOut(BaseModel):
    id: int
    name: str
    username: str
    auth_type: AuthType
    has_secret: bool
    key_type: str | None = Field(description="For a key: its algorithm (e.g. ssh-ed25519).")
    key_fingerprint: str | None = Field(description="For a key: `SHA256:...`.")
    public_key: str | None = Field(description="For a key: the line for authorized_keys.")
    host_count: int = Field(description="Hosts that use this credential.")
    created_by_label: str | None
    created_at: datetime
    updated_at: datetime


class SshCredentialList(BaseModel):
    items: list[SshCredentialOut]


class HostCredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential_id: int | None = Field(description="null removes the host's credential.")


class KnownHostOut(BaseModel):
    address: str
    port: int
    key_type: str
    fingerprint: str
    trusted_by_label: str | None
    trusted_at: datetime


class BastionOut(BaseModel):
    host_id: int
    hostname: str


class HostSshOut(BaseModel):
    """What the web terminal of a host needs and what is missing."""

    host_id: int
    credential: SshCredentialOut | None
    host_key: KnownHostOut | None = Field(
        description="The trusted host key for the host's current address and port."
    )
    bastion: BastionOut | None
    problems: list[str] = Field(description="Why the terminal cannot connect yet (empty: ready).")
    idle_timeout_s: int


class HostKeyScanOut(BaseModel):
    address: str
    port: int
    key_type: str
    fingerprint: str
    public_key: str
    status: Literal["new", "trusted", "mismatch"]
    trusted_fingerprint: str | None = Field(
        description="The stored fingerprint (when trusted or mismatched)."
    )


class HostKeyTrustIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="The fingerprint the user confirmed (from the scan); must still match."
    )
