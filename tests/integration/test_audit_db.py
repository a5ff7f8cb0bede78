"""The audit table at the database level: append-only triggers, retention purge, tamper
detection and concurrent appends - on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from dockyard.audit.chain import CHECKPOINT_ACTION, GENESIS_HASH
from dockyard.audit.models import AuditChainHead, AuditEvent
from dockyard.audit.service import Actor, purge_expired, record, verify_chain
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database
from dockyard.settings import Settings
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, LiveApp, backend_of, running_app

OLD_ROWS = 12


async def count_rows(db: Database) -> int:
    async with db.read_session() as session:
        return int((await session.execute(select(func.count(AuditEvent.id)))).scalar_one())


async def all_rows(db: Database) -> list[AuditEvent]:
    async with db.read_session() as session:
        result = await session.execute(select(AuditEvent).order_by(AuditEvent.id))
        return list(result.scalars().all())


async def raw(db: Database, sql: str, **params: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(sql), params)


# ---------------------------------------------------------------- append-only


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_events SET action = 'tampered'",
        "UPDATE audit_events SET details = '{}' WHERE id = 1",
        "UPDATE audit_events SET ts = ts WHERE id = (SELECT MAX(id) FROM audit_events)",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE id = 2",
        "DELETE FROM audit_events WHERE id = (SELECT MAX(id) FROM audit_events)",
    ],
)
async def test_update_and_delete_are_refused_by_the_database(shared_api: LiveApp, sql: str) -> None:
    db = shared_api.runtime.db
    await shared_api.login()
    before = [(r.id, r.hash, r.action) for r in await all_rows(db)]
    assert len(before) >= 3
    with pytest.raises(DBAPIError, match="append-only"):
        await raw(db, sql)
    assert [(r.id, r.hash, r.action) for r in await all_rows(db)] == before
    assert (await verify_chain(db)).ok


async def test_truncate_is_refused_on_postgresql(shared_api: LiveApp) -> None:
    db = shared_api.runtime.db
    if backend_of(db.url) == "sqlite":
        # SQLite has no TRUNCATE; its `DELETE FROM` (the truncate optimization) is refused.
        with pytest.raises(DBAPIError, match="append-only"):
            await raw(db, "DELETE FROM audit_events")
    else:
        with pytest.raises(DBAPIError, match="TRUNCATE is refused"):
            await raw(db, "TRUNCATE audit_events")
        with pytest.raises(DBAPIError, match="TRUNCATE is refused"):
            await raw(db, "TRUNCATE audit_events CASCADE")
    assert await count_rows(db) > 0
    assert (await verify_chain(db)).ok


async def test_inserting_rows_is_allowed(shared_api: LiveApp) -> None:
    db = shared_api.runtime.db
    before = await count_rows(db)
    async with db.session() as session:
        await record(session, action="test.insert", actor=Actor.system("tests"))
        await session.commit()
    assert await count_rows(db) == before + 1
    assert (await verify_chain(db)).ok


# ---------------------------------------------------------------- retention


async def seed_old_rows_first(db_url: str, count: int) -> list[str]:
    """Start a chain whose first rows are 120 days old (as a long-running server's would be)."""
    db = Database(db_url)
    now = utcnow()
    try:
        async with db.session() as session:
            session.add(AuditChainHead(id=1, last_id=0, last_hash=GENESIS_HASH))
            await session.flush()
            hashes = []
            for i in range(count):
                event = await record(
                    session,
                    action="test.old",
                    actor=Actor.system("tests"),
                    details={"i": i},
                    ts=now - timedelta(days=120) + timedelta(minutes=i),
                )
                hashes.append(event.hash)
            await session.commit()
    finally:
        await db.dispose()
    return hashes


async def test_purge_removes_old_rows_and_leaves_a_checkpoint(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    hashes = await seed_old_rows_first(db_url, OLD_ROWS)
    async with running_app(app_settings(db_url)) as app:
        db = app.runtime.db
        await app.login()
        young_before = [r.id for r in await all_rows(db) if r.id > OLD_ROWS]
        assert young_before
        assert (await verify_chain(db)).ok

        result = await purge_expired(db, retention_days=90)
        assert result.purged == OLD_ROWS
        assert result.last_purged_id == OLD_ROWS
        assert result.checkpoint_id == young_before[-1] + 1

        rows = await all_rows(db)
        assert [r.id for r in rows] == [*young_before, result.checkpoint_id]
        checkpoint = rows[-1]
        assert checkpoint.action == CHECKPOINT_ACTION
        assert checkpoint.actor_type == "system"
        assert checkpoint.actor_label == "audit-retention"
        assert checkpoint.details["last_purged_id"] == OLD_ROWS
        assert checkpoint.details["last_purged_hash"] == hashes[-1]
        assert checkpoint.details["purged_count"] == OLD_ROWS
        assert checkpoint.details["retention_days"] == 90

        verified = await verify_chain(db)
        assert verified.ok, verified
        assert verified.checked == len(rows)
        api = await app.client.get("/api/v1/audit/verify", headers=app.bearer(await app.token()))
        assert api.json()["ok"] is True

        # Appending after the purge keeps the chain valid; a second purge has nothing to do.
        await app.login()
        assert (await purge_expired(db, retention_days=90)).purged == 0
        assert (await verify_chain(db)).ok


async def test_purge_with_longer_retention_keeps_everything(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    await seed_old_rows_first(db_url, 3)
    async with running_app(app_settings(db_url)) as app:
        before = await count_rows(app.runtime.db)
        result = await purge_expired(app.runtime.db, retention_days=365)
        assert (result.purged, result.checkpoint_id) == (0, None)
        assert await count_rows(app.runtime.db) == before


async def test_database_refuses_to_purge_young_rows_whatever_the_caller_says(
    api: LiveApp,
) -> None:
    db = api.runtime.db
    before = [(r.id, r.hash) for r in await all_rows(db)]
    with pytest.raises(DBAPIError, match="append-only"):
        await purge_expired(db, retention_days=1, now=utcnow() + timedelta(days=30))
    assert [(r.id, r.hash) for r in await all_rows(db)] == before
    assert (await verify_chain(db)).ok


# ---------------------------------------------------------------- tampering (triggers dropped)


async def drop_triggers(db: Database) -> None:
    if db.kind == "sqlite":
        await raw(db, "DROP TRIGGER audit_events_no_update")
        await raw(db, "DROP TRIGGER audit_events_no_delete")
    else:
        await raw(db, "DROP TRIGGER audit_events_append_only ON audit_events")


async def test_verify_names_an_edited_row(api: LiveApp) -> None:
    db = api.runtime.db
    for _ in range(3):
        await api.login()
    await drop_triggers(db)
    await raw(db, "UPDATE audit_events SET actor_label = 'someone-else' WHERE id = 3")
    result = await verify_chain(db)
    assert (result.ok, result.bad_id) == (False, 3)
    assert result.checked == 2
    assert result.reason is not None
    assert "altered" in result.reason


async def test_verify_names_the_row_after_a_deleted_one(api: LiveApp) -> None:
    db = api.runtime.db
    for _ in range(3):
        await api.login()
    await drop_triggers(db)
    await raw(db, "DELETE FROM audit_events WHERE id = 4")
    result = await verify_chain(db)
    assert (result.ok, result.bad_id) == (False, 5)
    assert result.reason is not None
    assert "missing" in result.reason


async def test_verify_catches_rows_removed_from_the_end(api: LiveApp) -> None:
    db = api.runtime.db
    await api.login()
    last = (await all_rows(db))[-1].id
    await drop_triggers(db)
    await raw(db, "DELETE FROM audit_events WHERE id = :id", id=last)
    result = await verify_chain(db)
    assert not result.ok
    assert result.bad_id == last - 1
    assert result.reason is not None
    assert str(last) in result.reason


async def test_verify_catches_a_rewritten_tail(api: LiveApp) -> None:
    """Rehashing an edited row still breaks the link of the next one."""
    from dockyard.audit.chain import compute_hash

    db = api.runtime.db
    for _ in range(2):
        await api.login()
    await drop_triggers(db)
    rows = await all_rows(db)
    victim = rows[1]
    victim.outcome = "failure"
    await raw(
        db,
        "UPDATE audit_events SET outcome = 'failure', hash = :h WHERE id = :id",
        h=compute_hash(victim),
        id=victim.id,
    )
    result = await verify_chain(db)
    assert (result.ok, result.bad_id) == (False, rows[2].id)


async def test_verify_in_small_batches(api: LiveApp) -> None:
    for _ in range(5):
        await api.login()
    result = await verify_chain(api.runtime.db, batch_size=2)
    assert result.ok
    assert result.checked == await count_rows(api.runtime.db)


# ---------------------------------------------------------------- concurrency


async def test_concurrent_logins_and_appends_keep_the_chain_valid(api: LiveApp) -> None:
    db = api.runtime.db
    before = await count_rows(db)

    async def login() -> int:
        response = await api.client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        return response.status_code

    async def append(i: int) -> int:
        async with db.session() as session:
            event = await record(
                session, action="test.concurrent", actor=Actor.system("tests"), details={"i": i}
            )
            await session.commit()
            return event.id

    statuses = await asyncio.gather(*(login() for _ in range(20)))
    assert statuses == [200] * 20
    ids = await asyncio.gather(*(append(i) for i in range(20)))
    assert len(set(ids)) == 20
    mixed = await asyncio.gather(*(login() for _ in range(10)), *(append(i) for i in range(10)))
    assert mixed[:10] == [200] * 10

    rows = await all_rows(db)
    assert len(rows) == before + 20 + 20 + 10 + 10
    assert [r.id for r in rows] == list(range(1, len(rows) + 1))
    result = await verify_chain(db)
    assert result.ok, result
    assert result.checked == len(rows)
    async with db.read_session() as session:
        head = await session.get(AuditChainHead, 1)
    assert head is not None
    assert (head.last_id, head.last_hash) == (rows[-1].id, rows[-1].hash)


async def test_a_rolled_back_transaction_leaves_no_hole(api: LiveApp) -> None:
    """The chain head is updated in the same transaction: a rollback gives the id back."""
    db = api.runtime.db
    async with db.session() as session:
        await record(session, action="test.rolled_back", actor=Actor.system("tests"))
        await session.rollback()
    async with db.session() as session:
        await record(session, action="test.kept", actor=Actor.system("tests"))
        await session.commit()
    rows = await all_rows(db)
    assert [r.id for r in rows] == list(range(1, len(rows) + 1))
    assert "test.rolled_back" not in {r.action for r in rows}
    assert (await verify_chain(db)).ok
