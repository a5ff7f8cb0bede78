"""The hash chain: canonical form of an audit row and verification of a sequence."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

GENESIS_HASH = "0" * 64
CHECKPOINT_ACTION = "audit.retention.checkpoint"


class ChainRow(Protocol):
    """What verification needs from a stored audit row."""

    id: int
    ts: datetime
    actor_type: str
    actor_id: str | None
    actor_label: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    ip: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


def canonical_payload(row: ChainRow) -> bytes:
    """Canonical JSON of every hashed field (sorted keys, no whitespace, UTC microseconds)."""
    payload = {
        "id": row.id,
        "ts": row.ts.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_type": row.actor_type,
        "actor_id": row.actor_id,
        "actor_label": row.actor_label,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "outcome": row.outcome,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "request_id": row.request_id,
        "details": row.details,
        "prev_hash": row.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(row: ChainRow) -> str:
    """SHA-256 over the canonical payload (which includes the previous hash)."""
    return hashlib.sha256(canonical_payload(row)).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of walking the chain; `bad_id` names the first row that fails."""

    ok: bool
    checked: int
    bad_id: int | None = None
    reason: str | None = None


def verify_rows(rows: Iterable[ChainRow], *, start_id: int, start_prev_hash: str) -> VerifyResult:
    """Walk rows in id order from the expected first id and previous hash.

    `start_id`/`start_prev_hash` are 1 and the genesis hash, or what the latest retention
    checkpoint recorded about the last purged row.
    """
    expected_id = start_id
    expected_prev = start_prev_hash
    checked = 0
    for row in rows:
        if row.id != expected_id:
            if row.id > expected_id:
                reason = f"rows {expected_id}..{row.id - 1} are missing before row {row.id}"
            else:
                reason = f"row {row.id} is out of order (expected {expected_id})"
            return VerifyResult(False, checked, row.id, reason)
        if row.prev_hash != expected_prev:
            return VerifyResult(
                False, checked, row.id, f"row {row.id} does not link to the previous row"
            )
        if compute_hash(row) != row.hash:
            return VerifyResult(
                False, checked, row.id, f"row {row.id} was altered (its hash does not match)"
            )
        checked += 1
        expected_id = row.id + 1
        expected_prev = row.hash
    return VerifyResult(True, checked)
