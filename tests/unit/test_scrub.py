"""Audit details never carry secrets."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.audit.service import REDACTED, scrub


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        "new_password",
        "passwd",
        "pass",
        "secret",
        "client_secret",
        "token",
        "refresh_token",
        "ACCESS_TOKEN",
        "api_key",
        "api-key",
        "apikey",
        "ApiKey",
        "private_key",
        "credentials",
        "credential",
        "otp",
        "totp_code_otp",
    ],
)
def test_secret_looking_keys_are_redacted(key: str) -> None:
    assert scrub({key: "hunter2", "user": "bob"}) == {key: REDACTED, "user": "bob"}


def test_redaction_is_recursive_through_dicts_and_lists() -> None:
    details = {
        "user": {"email": "a@b.c", "password": "p1", "profile": {"api_key": "k"}},
        "items": [{"token": "t"}, {"name": "x"}, [{"secret": "s"}], "plain"],
        "count": 3,
    }
    assert scrub(details) == {
        "user": {"email": "a@b.c", "password": REDACTED, "profile": {"api_key": REDACTED}},
        "items": [{"token": REDACTED}, {"name": "x"}, [{"secret": REDACTED}], "plain"],
        "count": 3,
    }


def test_whole_subtree_under_a_secret_key_is_redacted() -> None:
    assert scrub({"credentials": {"user": "u", "pw": "p"}}) == {"credentials": REDACTED}


def test_input_is_not_modified() -> None:
    details = {"password": "p", "nested": {"token": "t"}}
    scrub(details)
    assert details == {"password": "p", "nested": {"token": "t"}}


@pytest.mark.parametrize("value", [None, 1, "text", 1.5, True, []])
def test_non_dict_values_pass_through(value: Any) -> None:
    assert scrub(value) == value


def test_keys_become_strings() -> None:
    assert scrub({1: "a"}) == {"1": "a"}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "token", "name", "password", "x"]), inner, max_size=3
        )
    ),
    max_leaves=10,
)


def _has_unredacted_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return any(
            (k in ("token", "password") and v != REDACTED) or _has_unredacted_secret(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_has_unredacted_secret(v) for v in value)
    return False


@given(_json)
def test_no_secret_survives_property(details: Any) -> None:
    assert not _has_unredacted_secret(scrub(details))
