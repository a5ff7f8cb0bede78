"""TOTP (RFC 6238) helpers: secrets, provisioning URIs, QR codes, code checks, recovery codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
import secrets
import time

import pyotp
import segno

ISSUER_NAME = "Dockyard"
DIGITS = 6
INTERVAL_S = 30
# Accept the previous and the next step too (clock drift), never an already used one.
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_GROUPS = 4
_RECOVERY_GROUP_LEN = 4
_CODE_RE = re.compile(r"^\d{6}$")


def new_secret() -> str:
    """A random 160-bit base32 TOTP secret."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str) -> str:
    """The `otpauth://totp/...` URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_S).provisioning_uri(
        name=account, issuer_name=ISSUER_NAME
    )


def qr_svg_data_uri(uri: str) -> str:
    """The QR code of `uri` as an inline `data:image/svg+xml;base64,...` image."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=2, xmldecl=False)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def normalize_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def looks_like_totp(code: str) -> bool:
    return bool(_CODE_RE.match(normalize_code(code)))


def match_totp(
    secret: str, code: str, *, last_used_step: int | None, now: float | None = None
) -> int | None:
    """The time-step `code` is valid for, or None (wrong, or that step was already used)."""
    code = normalize_code(code)
    if not _CODE_RE.match(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL_S)
    current = int((time.time() if now is None else now) // INTERVAL_S)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(totp.at(step * INTERVAL_S), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """`count` codes like `abcd-efgh-jkmn-pqrs` (about 78 random bits each)."""
    codes = []
    for _ in range(count):
        groups = [
            "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_GROUP_LEN))
            for _ in range(_RECOVERY_GROUPS)
        ]
        codes.append("-".join(groups))
    return codes


def hash_recovery_code(code: str) -> str:
    """SHA-256 of the normalized code (random codes: no dictionary to guess from)."""
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()
