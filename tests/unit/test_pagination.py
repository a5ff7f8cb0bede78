"""Opaque cursors."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.kit.errors import DockyardError
from dockyard.kit.pagination import decode_cursor, encode_cursor


def test_round_trip() -> None:
    cursor = encode_cursor({"before_id": 123})
    assert decode_cursor(cursor) == {"before_id": 123}


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        max_size=5,
    )
)
def test_round_trip_property(payload: dict[str, Any]) -> None:
    cursor = encode_cursor(payload)
    assert re.fullmatch(r"[A-Za-z0-9_-]*", cursor), "URL-safe, unpadded"
    assert decode_cursor(cursor) == payload


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "not a cursor",
        "a",
        b64(b"not json"),
        b64(b"[1, 2]"),
        b64(b"42"),
        b64(b'"string"'),
        b64(b"null"),
        b64(b"\xff\xfe\xfd"),
        b64(b'{"before_id": 1'),
    ],
)
def test_bad_cursor_is_a_400_invalid_cursor(cursor: str) -> None:
    with pytest.raises(DockyardError) as caught:
        decode_cursor(cursor)
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_cursor"
    assert caught.value.message == "The cursor is not valid."
