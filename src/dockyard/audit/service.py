"""Writing, purging and verifying the audit log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.chain import (
    CHECKPOINT_ACTION,
    GENESIS_HASH,
    VerifyResult,
    compute_hash,
    verify_rows,
)
from dockyard.audit.models import AuditChainHead, AuditEvent
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database, publish_after_commit
from dockyard.kit.request_meta import RequestMeta

log = structlog.get_logger(__name__)

_SECRET_KEY = re.compile(
    r"pass(word)?|secret|token|api[_-]?key|private|credential|otp|authorization|cookie|dsn",
    re.I,
)
REDACTED = "[redacted]"


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, the system, a node, or an anonymous caller."""

    type: str
    id: str | None = None
    label: str | None = None

    @classmethod
    def user(cls, user_id: int, email: str) -> Actor:
        return cls("user", str(user_id), email)

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls("system", None, label)

    @classmethod
    def anonymous(cls, label: str | None = None) -> Actor:
        return cls("anonymous", None, label)


def scrub(details: Any) -> Any:
    """Replace values under secret-looking keys, recursively; audit details never hold secrets."""
    if isinstance(details, dict):
        return {
            str(k): (REDACTED if _SECRET_KEY.search(str(k)) else scrub(v))
            for k, v in details.items()
        }
    if isinstance(details, list):
        return [scrub(v) for v in details]
    return details


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor: Actor,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: str | int | None = None,
    details: dict[str, Any] | None = None,
    meta: RequestMeta | None = None,
    ts: datetime | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (it commits with the change it records)."""
    # The UPDATE takes the chain lock first: SQLite's write lock, PostgreSQL's row lock.
    head = (
        await session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.id == 1)
            .values(last_id=AuditChainHead.last_id + 1)
            .returning(AuditChainHead.last_id, AuditChainHead.last_hash)
        )
    ).one()
    meta = meta or RequestMeta()
    event = AuditEvent(
        id=head.last_id,
        ts=ts or utcnow(),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        outcome=outcome,
        ip=meta.ip,
        user_agent=meta.user_agent,
        request_id=meta.request_id,
        details=scrub(details or {}),
        prev_hash=head.last_hash,
        hash="",
    )
    event.hash = compute_hash(event)
    session.add(event)
    await session.execute(
        update(AuditChainHead).where(AuditChainHead.id == 1).values(last_hash=event.hash)
    )
    await session.flush()
    publish_after_commit(
        session,
        "audit.created",
        {
            "id": event.id,
            "action": action,
            "outcome": outcome,
            "target_type": target_type,
            "target_id": event.target_id,
            "actor_label": actor.label,
        },
    )
    return event


@dataclass(frozen=True)
class PurgeResult:
    purged: int
    last_purged_id: int | None
    checkpoint_id: int | None


async def purge_expired(
    db: Database, *, retention_days: int, now: datetime | None = None
) -> PurgeResult:
    """Delete events older than the retention period and append a checkpoint event.

    The checkpoint carries the id and hash of the last purged row so the chain still
    verifies from the first remaining row. The database itself refuses to delete rows
    younger than 90 days, whatever this function is told.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    async with db.session() as session:
        # Lock the chain first so no append interleaves with the purge.
        await session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.id == 1)
            .values(last_id=AuditChainHead.last_id)
        )
        last_id = (
            await session.execute(select(func.max(AuditEvent.id)).where(AuditEvent.ts < cutoff))
        ).scalar_one_or_none()
        if last_id is None:
            await session.rollback()
            return PurgeResult(0, None, None)
        last_hash = (
            await session.execute(select(AuditEvent.hash).where(AuditEvent.id == last_id))
        ).scalar_one()
        result = await session.execute(delete(AuditEvent).where(AuditEvent.id <= last_id))
        purged = int(getattr(result, "rowcount", 0) or 0)
        checkpoint = await record(
            session,
            action=CHECKPOINT_ACTION,
            actor=Actor.system("audit-retention"),
            target_type="audit",
            details={
                "purged_before": cutoff.isoformat(),
                "purged_count": purged,
                "last_purged_id": last_id,
                "last_purged_hash": last_hash,
                "retention_days": retention_days,
            },
            ts=now,
        )
        await session.commit()
    log.info("audit_purged", purged=purged, last_purged_id=last_id)
    return PurgeResult(purged, last_id, checkpoint.id)


async def verify_chain(db: Database, *, batch_size: int = 2000) -> VerifyResult:
    """Walk the whole chain in id order; report the first row that breaks it."""
    async with db.read_session() as session:
        checkpoint = (
            await session.execute(
                select(AuditEvent)
                .where(AuditEvent.action == CHECKPOINT_ACTION)
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        start_id, start_prev = 1, GENESIS_HASH
        if checkpoint is not None:
            start_id = int(checkpoint.details["last_purged_id"]) + 1
            start_prev = str(checkpoint.details["last_purged_hash"])

        head = (
            await session.execute(select(AuditChainHead).where(AuditChainHead.id == 1))
        ).scalar_one_or_none()
        head_id, head_hash = (head.last_id, head.last_hash) if head else (0, GENESIS_HASH)

        checked = 0
        next_id, prev = start_id, start_prev
        last_seen_id: int | None = None
        last_seen_hash: str | None = None
        cursor = 0
        while True:
            rows = (
                (
                    await session.execute(
                        select(AuditEvent)
                        .where(AuditEvent.id > cursor)
                        .order_by(AuditEvent.id)
                        .limit(batch_size)
                    )
                )
                .scalars()
                .all()
            )
            if not rows:
                break
            result = verify_rows(rows, start_id=next_id, start_prev_hash=prev)
            if not result.ok:
                return VerifyResult(False, checked + result.checked, result.bad_id, result.reason)
            checked += result.checked
            last_seen_id, last_seen_hash = rows[-1].id, rows[-1].hash
            next_id, prev = rows[-1].id + 1, rows[-1].hash
            cursor = rows[-1].id

        # The head remembers the newest row, so removing rows at the end is caught too.
        if head is None and last_seen_id is not None:
            return VerifyResult(False, checked, None, "events exist but the chain head is missing")
        if head_id > 0 and (head_id != last_seen_id or head_hash != last_seen_hash):
            return VerifyResult(
                False,
                checked,
                last_seen_id,
                f"the chain ends at row {last_seen_id} but row {head_id} was written",
            )
        return VerifyResult(True, checked)
