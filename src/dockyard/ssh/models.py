"""`ssh_credentials`, `host_ssh_credentials` (which credential a host uses) and
`ssh_known_hosts` (host keys trusted on first use)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, UTCDateTime


class SshCredential(Base):
    """A named, reusable SSH login: a user and a private key or a password."""

    __tablename__ = "ssh_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    username: Mapped[str] = mapped_column(String(64))
    auth_type: Mapped[str] = mapped_column(String(16))  # key | password
    # Fernet ciphertext (kit.secrets_box) of a JSON object: the key and its passphrase, or
    # the password. Never returned.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    # Public facts of a key credential (shown so the key can be recognised and installed).
    key_type: Mapped[str | None] = mapped_column(String(64))
    key_fingerprint: Mapped[str | None] = mapped_column(String(128))
    public_key: Mapped[str | None] = mapped_column(Text)
    created_by_label: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class HostSshCredential(Base):
    """The credential a host's terminal logs in with (at most one per host)."""

    __tablename__ = "host_ssh_credentials"

    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    credential_id: Mapped[int] = mapped_column(
        ForeignKey("ssh_credentials.id", ondelete="RESTRICT"), index=True
    )
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SshKnownHost(Base):
    """The host key trusted for a host at an address and port (trust on first use)."""

    __tablename__ = "ssh_known_hosts"

    host_id: Mapped[int] = mapped_column(
        ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer)
    key_type: Mapped[str] = mapped_column(String(64))
    # `SHA256:<base64>` as `ssh-keygen -lf` prints it.
    fingerprint: Mapped[str] = mapped_column(String(128))
    public_key: Mapped[str] = mapped_column(Text)
    trusted_by_label: Mapped[str | None] = mapped_column(String(320))
    trusted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
