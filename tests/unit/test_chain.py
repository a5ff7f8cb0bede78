"""The audit hash chain: canonical form and verification of row sequences."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.audit.chain import (
    GENESIS_HASH,
    canonical_payload,
    compute_hash,
    verify_rows,
)

BASE_TS = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
GOLDEN_HASH = "61b7d97272fa81c6a9056607881e49da036b21f66628dee0f88ca92fc64d2544"


@dataclass
class Row:
    id: int
    ts: datetime
    actor_type: str = "user"
    actor_id: str | None = "1"
    actor_label: str | None = "admin@example.com"
    action: str = "auth.login.succeeded"
    target_type: str | None = "session"
    target_id: str | None = "abc"
    outcome: str = "success"
    ip: str | None = "127.0.0.1"
    user_agent: str | None = "pytest"
    request_id: str | None = "req-00000001"
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = ""
    hash: str = ""


def build_chain(rows: list[Row], *, start_prev: str = GENESIS_HASH) -> list[Row]:
    prev = start_prev
    for row in rows:
        row.prev_hash = prev
        row.hash = compute_hash(row)
        prev = row.hash
    return rows


def simple_chain(n: int, start_id: int = 1) -> list[Row]:
    return build_chain(
        [
            Row(id=start_id + i, ts=BASE_TS + timedelta(seconds=i), details={"n": i})
            for i in range(n)
        ]
    )


def test_canonical_payload_is_sorted_compact_json_with_utc_microseconds() -> None:
    row = Row(id=1, ts=BASE_TS, details={"b": 2, "a": [1, "é"]}, prev_hash=GENESIS_HASH)
    payload = canonical_payload(row)
    decoded = json.loads(payload)
    assert list(decoded) == sorted(decoded)
    assert b" " not in payload.replace(b"admin@example.com", b"")
    assert decoded["ts"] == "2026-01-02T03:04:05.678901+00:00"
    assert "é".encode() in payload  # UTF-8, not \u escapes
    assert set(decoded) == {
        "id",
        "ts",
        "actor_type",
        "actor_id",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "outcome",
        "ip",
        "user_agent",
        "request_id",
        "details",
        "prev_hash",
    }
    assert compute_hash(row) == hashlib.sha256(payload).hexdigest()


def test_canonical_payload_golden_value() -> None:
    """Changing the canonical form breaks every stored chain: this hash must never change."""
    row = Row(
        id=7,
        ts=BASE_TS,
        details={"reason": "bad_password", "nested": {"z": 1, "a": None}},
        prev_hash="f" * 64,
    )
    assert compute_hash(row) == GOLDEN_HASH


def test_canonical_payload_ignores_key_order_of_details() -> None:
    a = Row(id=1, ts=BASE_TS, details={"a": 1, "b": {"x": 1, "y": 2}, "c": [3, 2, 1]})
    b = Row(id=1, ts=BASE_TS, details={"c": [3, 2, 1], "b": {"y": 2, "x": 1}, "a": 1})
    assert canonical_payload(a) == canonical_payload(b)
    assert compute_hash(a) == compute_hash(b)


def test_canonical_payload_is_stable_across_timezones_of_the_same_instant() -> None:
    plus_two = timezone(timedelta(hours=2))
    a = Row(id=1, ts=BASE_TS)
    b = Row(id=1, ts=BASE_TS.astimezone(plus_two))
    assert canonical_payload(a) == canonical_payload(b)
    c = Row(id=1, ts=BASE_TS + timedelta(microseconds=1))
    assert canonical_payload(a) != canonical_payload(c)


def test_canonical_payload_is_deterministic() -> None:
    row = Row(id=3, ts=BASE_TS, details={"k": "v"})
    assert canonical_payload(row) == canonical_payload(copy.deepcopy(row))


def test_valid_chain_verifies() -> None:
    rows = simple_chain(10)
    result = verify_rows(rows, start_id=1, start_prev_hash=GENESIS_HASH)
    assert result.ok
    assert result.checked == 10
    assert result.bad_id is None
    assert result.reason is None


def test_empty_chain_verifies() -> None:
    result = verify_rows([], start_id=1, start_prev_hash=GENESIS_HASH)
    assert result.ok
    assert result.checked == 0


def test_chain_starting_after_a_checkpoint_verifies() -> None:
    rows = simple_chain(12)
    tail = rows[5:]
    assert verify_rows(tail, start_id=6, start_prev_hash=rows[4].hash).ok
    assert not verify_rows(tail, start_id=6, start_prev_hash=GENESIS_HASH).ok
    assert not verify_rows(tail, start_id=1, start_prev_hash=rows[4].hash).ok


def test_altered_field_is_detected() -> None:
    rows = simple_chain(6)
    rows[3].action = "auth.logout"
    result = verify_rows(rows, start_id=1, start_prev_hash=GENESIS_HASH)
    assert not result.ok
    assert result.bad_id == 4
    assert result.checked == 3
    assert result.reason is not None
    assert "4" in result.reason


def test_altered_details_are_detected() -> None:
    rows = simple_chain(4)
    rows[1].details = {"n": 1, "extra": True}
    result = verify_rows(rows, start_id=1, start_prev_hash=GENESIS_HASH)
    assert (result.ok, result.bad_id) == (False, 2)


def test_rehashed_row_is_detected_at_the_next_row() -> None:
    """Altering a row and fixing its own hash breaks the link of the following row."""
    rows = simple_chain(5)
    rows[2].outcome = "failure"
    rows[2].hash = compute_hash(rows[2])
    result = verify_rows(rows, start_id=1, start_prev_hash=GENESIS_HASH)
    assert (result.ok, result.bad_id) == (False, 4)


def test_deleted_middle_row_is_detected_naming_the_row_after_the_gap() -> None:
    rows = simple_chain(6)
    del rows[2]  # id 3
    result = verify_rows(rows, start_id=1, start_prev_hash=GENESIS_HASH)
    assert not result.ok
    assert result.bad_id == 4
    assert result.reason is not None
    assert "3" in result.reason


def test_deleted_first_row_is_detected() -> None:
    rows = simple_chain(3)[1:]
    result = verify_rows(rows, start_id=1, start_prev_hash=GENESIS_HASH)
    assert (result.ok, result.bad_id) == (False, 2)


def test_reordered_rows_are_detected() -> None:
    rows = simple_chain(6)
    rows[2], rows[3] = rows[3], rows[2]
    result = verify_rows(rows, start_id=1, start_prev_hash=GENESIS_HASH)
    assert not result.ok
    assert result.bad_id == 4


def test_renumbered_rows_are_detected() -> None:
    """Deleting a row and renumbering the rest breaks the hashes (ids are hashed)."""
    rows = simple_chain(5)
    del rows[1]
    for index, row in enumerate(rows):
        row.id = index + 1
    result = verify_rows(rows, start_id=1, start_prev_hash=GENESIS_HASH)
    assert not result.ok
    assert result.bad_id == 2


def test_wrong_start_hash_is_detected() -> None:
    rows = simple_chain(3)
    result = verify_rows(rows, start_id=1, start_prev_hash="1" * 64)
    assert (result.ok, result.bad_id, result.checked) == (False, 1, 0)


def test_duplicate_row_is_detected() -> None:
    rows = simple_chain(3)
    rows.insert(2, rows[1])
    result = verify_rows(rows, start_id=1, start_prev_hash=GENESIS_HASH)
    assert not result.ok
    assert result.bad_id == 2


# ---------------------------------------------------------------- property

_text = st.text(min_size=0, max_size=12)
_opt_text = st.none() | _text
_json_leaf = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _text
_details = st.dictionaries(
    st.text(min_size=1, max_size=6),
    st.recursive(
        _json_leaf,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(min_size=1, max_size=4), inner, max_size=3)
        ),
        max_leaves=6,
    ),
    max_size=4,
)


@st.composite
def chains(draw: st.DrawFn) -> list[Row]:
    size = draw(st.integers(min_value=1, max_value=8))
    start_id = draw(st.integers(min_value=1, max_value=1000))
    ts = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
    )
    rows = []
    for i in range(size):
        rows.append(
            Row(
                id=start_id + i,
                ts=ts + timedelta(milliseconds=draw(st.integers(0, 10**6))),
                actor_type=draw(st.sampled_from(["user", "system", "node", "anonymous"])),
                actor_id=draw(_opt_text),
                actor_label=draw(_opt_text),
                action=draw(st.text(min_size=1, max_size=20)),
                target_type=draw(_opt_text),
                target_id=draw(_opt_text),
                outcome=draw(st.sampled_from(["success", "failure", "denied"])),
                ip=draw(_opt_text),
                user_agent=draw(_opt_text),
                request_id=draw(_opt_text),
                details=draw(_details),
            )
        )
    prev = draw(st.sampled_from([GENESIS_HASH, "a" * 64]))
    return build_chain(rows, start_prev=prev)


FIELDS = [f.name for f in dataclasses.fields(Row)]


def mutate(value: Any, name: str) -> Any:
    """A value different from `value` for field `name`."""
    if name == "id":
        return value + 1
    if name == "ts":
        return value + timedelta(microseconds=1)
    if name == "details":
        changed = dict(value)
        changed["__mutated__"] = changed.get("__mutated__", 0) + 1 if changed else 1
        return changed
    if name in ("prev_hash", "hash"):
        return ("0" if value[:1] != "0" else "1") + value[1:]
    if value is None:
        return ""
    return value + "x"


@settings(max_examples=300, deadline=None)
@given(chain=chains(), data=st.data())
def test_any_single_field_mutation_is_detected(chain: list[Row], data: st.DataObject) -> None:
    start_id, start_prev = chain[0].id, chain[0].prev_hash
    assert verify_rows(chain, start_id=start_id, start_prev_hash=start_prev).ok
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 1), label="row")
    name = data.draw(st.sampled_from(FIELDS), label="field")
    original = getattr(chain[index], name)
    setattr(chain[index], name, mutate(original, name))
    assert getattr(chain[index], name) != original
    result = verify_rows(chain, start_id=start_id, start_prev_hash=start_prev)
    assert not result.ok
    assert result.bad_id is not None
    # The first row that fails is the mutated one (named by the id it now carries).
    assert result.bad_id == chain[index].id
    assert result.checked == index


@settings(max_examples=100, deadline=None)
@given(chain=chains(), data=st.data())
def test_any_single_row_removal_is_detected_unless_it_is_the_last(
    chain: list[Row], data: st.DataObject
) -> None:
    start_id, start_prev = chain[0].id, chain[0].prev_hash
    index = data.draw(st.integers(min_value=0, max_value=len(chain) - 1), label="row")
    removed = chain.pop(index)
    result = verify_rows(chain, start_id=start_id, start_prev_hash=start_prev)
    if index == len(chain):  # the last row: only the chain head can tell (verify_chain)
        assert result.ok
    else:
        assert not result.ok
        assert result.bad_id == removed.id + 1
