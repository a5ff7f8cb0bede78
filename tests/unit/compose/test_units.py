"""Durations and byte sizes: parsing, the canonical spelling, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.services.compose import format_duration, format_size, parse_duration, parse_size
from dockyard.services.compose.units import MAX_NANOSECONDS, canonical_duration

SECOND = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("10s", 10 * SECOND),
        ("1m30s", 90 * SECOND),
        ("90s", 90 * SECOND),
        ("500ms", 500_000_000),
        ("1.5s", 1_500_000_000),
        ("1h", 3600 * SECOND),
        ("1h2m3s4ms5us6ns", 3_723_004_005_006),
        ("2µs", 2_000),
        ("0", 0),
        ("0s", 0),
        (".5m", 30 * SECOND),
    ],
)
def test_durations_parse(text: str, nanoseconds: int) -> None:
    assert parse_duration(text) == nanoseconds


@pytest.mark.parametrize("text", ["", "10", "1x", "s", "-1s", "1m 30s", "1.2.3s", "ten seconds"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("90s", "1m30s"), ("1m30s", "1m30s"), ("1.5s", "1s500ms"), ("0", "0s"), ("3600s", "1h")],
)
def test_durations_have_one_spelling(text: str, canonical: str) -> None:
    assert canonical_duration(text) == canonical


def test_a_bare_number_is_not_a_duration() -> None:
    with pytest.raises(ValueError, match="unit"):
        canonical_duration(30)


@given(st.integers(min_value=0, max_value=MAX_NANOSECONDS))
def test_durations_round_trip(nanoseconds: int) -> None:
    assert parse_duration(format_duration(nanoseconds)) == nanoseconds


@given(st.text(alphabet="0123456789.hmsun", max_size=12))
def test_duration_spelling_is_canonical_whenever_it_parses(text: str) -> None:
    try:
        nanoseconds = parse_duration(text)
    except ValueError:
        return
    if nanoseconds <= MAX_NANOSECONDS:
        assert canonical_duration(format_duration(nanoseconds)) == format_duration(nanoseconds)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (1024, 1024),
        ("1024", 1024),
        ("512m", 512 * 1024**2),
        ("512M", 512 * 1024**2),
        ("1g", 1024**3),
        ("1gb", 1024**3),
        ("1GiB", 1024**3),
        ("1.5g", 1536 * 1024**2),
        ("64k", 64 * 1024),
        ("100b", 100),
        ("2 m", 2 * 1024**2),
        (0, 0),
    ],
)
def test_sizes_parse(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["", "m", "1x", "-1", -5, True, 1.5, "1..2g", [1]])
def test_bad_sizes_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(value)


@pytest.mark.parametrize(
    ("size", "text"), [(536870912, "512m"), (1024**3, "1g"), (2048, "2k"), (1000, 1000), (0, 0)]
)
def test_sizes_format_readably(size: int, text: int | str) -> None:
    assert format_size(size) == text


@given(st.integers(min_value=0, max_value=2**62))
def test_sizes_round_trip(size: int) -> None:
    assert parse_size(format_size(size)) == size
