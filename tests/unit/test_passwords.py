"""Argon2id password hashing and the new-password rules."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.auth import passwords
from dockyard.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    common_passwords,
    hash_password,
    hash_password_async,
    needs_rehash,
    password_problem,
    verify_password,
    verify_password_async,
)

OWASP_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"


def test_hash_is_argon2id_with_owasp_parameters() -> None:
    encoded = hash_password("correct horse battery staple")
    assert encoded.startswith(OWASP_PREFIX)
    assert not needs_rehash(encoded)


def test_same_password_gets_a_different_salt() -> None:
    assert hash_password("correct horse battery") != hash_password("correct horse battery")


def test_verify_right_and_wrong_password() -> None:
    encoded = hash_password("correct horse battery staple")
    assert verify_password(encoded, "correct horse battery staple") is True
    assert verify_password(encoded, "correct horse battery stapl") is False
    assert verify_password(encoded, "Correct horse battery staple") is False
    assert verify_password(encoded, "") is False


def test_dummy_hash_path_returns_false_even_for_the_dummy_password() -> None:
    """An unknown user (no hash) never verifies, whatever is typed."""
    assert verify_password(None, "anything at all") is False
    assert verify_password(None, "dockyard-dummy-password-for-timing") is False
    assert verify_password(None, "") is False


@pytest.mark.parametrize("bad_hash", ["", "not-a-hash", "$argon2id$v=19$m=1", "$2b$12$abc"])
def test_garbage_hash_does_not_verify(bad_hash: str) -> None:
    assert verify_password(bad_hash, "whatever-password") is False


def test_older_parameters_need_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pw-123456789")
    assert verify_password(weak, "pw-123456789") is True
    assert needs_rehash(weak) is True


async def test_async_variants() -> None:
    encoded = await hash_password_async("async password 123")
    assert encoded.startswith(OWASP_PREFIX)
    assert await verify_password_async(encoded, "async password 123") is True
    assert await verify_password_async(encoded, "async password 124") is False
    assert await verify_password_async(None, "async password 123") is False


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("", "at least 12"),
        ("short-pw1", "at least 12"),
        ("a" * (MIN_PASSWORD_LENGTH - 1), "at least 12"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), "at most 128"),
        ("password1234", "too common"),
        ("QwertyUiop123", "too common"),
        ("  letmein12345 ", "too common"),
        ("iloveyou1234", "too common"),
        ("Password123!", "too common"),
        (" " * 20, "too simple"),
        ("a" * 20, "too simple"),
        ("ab" * 10, "too simple"),
        ("abc" * 10, "too simple"),
    ],
)
def test_password_problem_refuses(password: str, fragment: str) -> None:
    problem = password_problem(password)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize(
    "password",
    [
        "abcd" * 3,  # exactly 12 characters, 4 distinct
        "cargo crane saltwater lantern",
        "Tr0ub4dor&3-long",
        "x" * (MAX_PASSWORD_LENGTH - 3) + "abc",  # exactly the maximum
        "pässwörd-ünïcode",
    ],
)
def test_password_problem_accepts(password: str) -> None:
    assert password_problem(password) is None


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_password_problem_is_consistent_with_its_rules(password: str) -> None:
    problem = password_problem(password)
    too_short = len(password) < MIN_PASSWORD_LENGTH
    too_simple = password.strip() == "" or len(set(password)) < 4
    common = password.strip().lower() in common_passwords()
    assert (problem is None) == (not too_short and not too_simple and not common)


def test_dummy_hash_uses_the_same_parameters() -> None:
    """Timing equalization only works if the dummy costs as much as a real hash."""
    assert passwords._DUMMY_HASH.startswith(OWASP_PREFIX)


def test_the_common_list_is_shipped_and_large() -> None:
    listed = common_passwords()
    assert len(listed) > 3000
    assert sum(1 for p in listed if len(p) >= MIN_PASSWORD_LENGTH) > 1000
    assert {"password1234", "qwertyuiop123", "123456789012"} <= listed
    assert all(p == p.strip().lower() for p in listed)
