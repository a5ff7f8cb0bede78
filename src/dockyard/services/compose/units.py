"""Durations (`1m30s`) and byte sizes (`512m`) as compose writes them.

Canonical forms: a duration is the Go-style string with units in falling order and no
zero parts (`90s` -> `1m30s`, `1.5s` -> `1s500ms`, zero -> `0s`), which every compose
(v1.29 included) parses back; a size is an integer number of bytes.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_NANOSECONDS = 2**63 - 1  # Docker stores durations as int64 nanoseconds.
MAX_BYTES = 2**63 - 1

_NS_PER_UNIT = {
    "h": 3_600_000_000_000,
    "m": 60_000_000_000,
    "s": 1_000_000_000,
    "ms": 1_000_000,
    "us": 1_000,
    "µs": 1_000,
    "ns": 1,
}
# Longest units first so `ms` is not read as `m` followed by a stray `s`.
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
_FORMAT_UNITS = ("h", "m", "s", "ms", "us", "ns")

_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp]?)(i?b?)$", re.IGNORECASE)
_BYTES_PER_UNIT = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def parse_duration(text: str) -> int:
    """Nanoseconds in a compose duration like `1m30s`, `500ms` or `1.5h`; `ValueError` if bad."""
    value = text.strip()
    if not value:
        raise ValueError("a duration cannot be empty")
    if value == "0":
        return 0
    total = Decimal(0)
    position = 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            break
        total += Decimal(match.group(1)) * _NS_PER_UNIT[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(
            f"`{text}` is not a duration: use numbers with units h, m, s, ms, us or ns, "
            "like `1m30s` or `500ms`"
        )
    nanoseconds = int(total)
    if nanoseconds > MAX_NANOSECONDS:
        raise ValueError(f"`{text}` is too long a duration")
    return nanoseconds


def format_duration(nanoseconds: int) -> str:
    """The canonical string for a duration: `90_000_000_000` -> `1m30s`."""
    if nanoseconds < 0:
        raise ValueError("a duration cannot be negative")
    if nanoseconds == 0:
        return "0s"
    parts = []
    rest = nanoseconds
    for unit in _FORMAT_UNITS:
        count, rest = divmod(rest, _NS_PER_UNIT[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def canonical_duration(value: object) -> str:
    """A compose duration value as its canonical string; numbers are refused (no unit)."""
    if not isinstance(value, str):
        raise ValueError("a duration is a string with a unit, like `30s` or `1m30s`")
    return format_duration(parse_duration(value))


def parse_size(value: object) -> int:
    """Bytes in a compose size: an integer, or a string like `512m`, `1.5g`, `64KiB`."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string like `512m`")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if not isinstance(value, str):
        raise ValueError("a size is a number of bytes or a string like `512m`")
    match = _SIZE.match(value.strip())
    if match is None:
        raise ValueError(f"`{value}` is not a size: use bytes or a unit, like `512m` or `1g`")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the regex only lets numbers through
        raise ValueError(f"`{value}` is not a size") from exc
    size = int(number * _BYTES_PER_UNIT[match.group(2).lower()])
    if size > MAX_BYTES:
        raise ValueError(f"`{value}` is too large a size")
    return size


def format_size(size: int) -> int | str:
    """A readable size for a compose file: `536870912` -> `512m`; odd sizes stay integers."""
    for unit in ("g", "m", "k"):
        per_unit = _BYTES_PER_UNIT[unit]
        if size >= per_unit and size % per_unit == 0:
            return f"{size // per_unit}{unit}"
    return size
