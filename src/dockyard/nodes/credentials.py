"""Agent enrollment tokens and node credentials: format, hashing, constant-time checks.

- Enrollment token (shown once): `dye_<secret>` or, when the server serves TLS,
  `dye_<secret>.<sha256 hex of the server certificate DER>` (the agent pins it).
- Node credential: `dyn_<node_id>_<secret>`.
Only SHA-256 hashes are stored. The secret part is 32 random bytes, URL-safe base64.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.settings import Settings

TOKEN_PREFIX = "dye_"  # noqa: S105 - a prefix, not a secret
CREDENTIAL_PREFIX = "dyn_"
_BODY_RE = r"[A-Za-z0-9_-]{20,128}"
_TOKEN_RE = re.compile(rf"^dye_(?P<secret>{_BODY_RE})(?:\.(?P<fp>[0-9a-f]{{64}}))?$")
_CREDENTIAL_RE = re.compile(r"^dyn_(?P<node>[1-9][0-9]{0,17})_(?P<secret>[A-Za-z0-9-]{20,128})$")


def _new_secret() -> str:
    # token_urlsafe may contain "_"; credentials split on "_", so keep them out of it.
    return secrets.token_urlsafe(32).replace("_", "-")


def hash_secret(value: str) -> str:
    """SHA-256 hex of a token or credential (what the database stores)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def matches(value: str, stored_hash: str | None) -> bool:
    """Constant-time comparison of `value`'s hash with a stored hash."""
    if not stored_hash:
        return False
    return hmac.compare_digest(hash_secret(value), stored_hash)


@dataclass(frozen=True)
class EnrollmentToken:
    secret: str
    fingerprint: str | None

    @property
    def value(self) -> str:
        base = TOKEN_PREFIX + self.secret
        return f"{base}.{self.fingerprint}" if self.fingerprint else base

    @property
    def hash(self) -> str:
        """Only the secret part is hashed: the fingerprint is public and may change."""
        return hash_secret(TOKEN_PREFIX + self.secret)


def new_enrollment_token(fingerprint: str | None) -> EnrollmentToken:
    return EnrollmentToken(secret=_new_secret(), fingerprint=fingerprint)


def parse_enrollment_token(value: str) -> EnrollmentToken | None:
    """The token's parts, or None when it is not shaped like one."""
    match = _TOKEN_RE.match(value.strip())
    if match is None:
        return None
    return EnrollmentToken(secret=match["secret"], fingerprint=match["fp"])


def new_credential(node_id: int) -> str:
    return f"{CREDENTIAL_PREFIX}{node_id}_{_new_secret()}"


def credential_node_id(value: str) -> int | None:
    """The node id a credential names, or None when it is not shaped like one."""
    match = _CREDENTIAL_RE.match(value)
    return int(match["node"]) if match else None


def certificate_fingerprint(cert_path: Path) -> str:
    """SHA-256 hex of the DER encoding of the first certificate in a PEM file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


_FINGERPRINTS: dict[tuple[str, float], str] = {}


def server_fingerprint(settings: Settings) -> str | None:
    """The SHA-256 fingerprint of the certificate the server serves, or None without TLS."""
    cert: Path | None = settings.tls_cert
    if cert is None and settings.tls_self_signed:
        from dockyard.kit.tls import self_signed_paths

        cert = self_signed_paths(Path(settings.data_dir))[0]
    if cert is None or not cert.is_file():
        return None
    key = (str(cert), cert.stat().st_mtime)
    found = _FINGERPRINTS.get(key)
    if found is None:
        found = _FINGERPRINTS[key] = certificate_fingerprint(cert)
    return found
