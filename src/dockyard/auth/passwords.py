"""Argon2id password hashing with OWASP-recommended parameters."""

from __future__ import annotations

import asyncio
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet: Argon2id, m=19 MiB, t=2, p=1.
_hasher = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16
)

# OWASP ASVS 2.1.1 / 2.1.2: at least 12 characters, at least 64 (here 128) allowed, no
# composition rules (2.1.9); 2.1.7: refused when it is a known common password.
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
# Verified against unknown emails so that they take as long as wrong passwords.
_DUMMY_HASH = _hasher.hash("dockyard-dummy-password-for-timing")


def hash_password(password: str) -> str:
    """Argon2id hash of a password (CPU-bound: call off the event loop)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-effort check; `None` hash verifies a dummy to equalize timing."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash uses older parameters."""
    return _hasher.check_needs_rehash(password_hash)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower-cased), loaded once."""
    text = resources.files("dockyard.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def is_common_password(password: str) -> bool:
    """True when `password` (case and surrounding spaces ignored) is on the common list."""
    return password.strip().lower() in common_passwords()


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable (OWASP ASVS V2.1)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must be at least {MIN_PASSWORD_LENGTH} characters long."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must be at most {MAX_PASSWORD_LENGTH} characters long."
    if password.strip() == "" or len(set(password)) < 4:
        return "The password is too simple."
    if is_common_password(password):
        return "This password is too common: it appears in lists of leaked passwords."
    return None
