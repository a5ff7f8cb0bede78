"""Migrations: the schema after `upgrade head` matches the models, on both backends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from dockyard.kit.db import Base, create_engine
from dockyard.migrations.runner import alembic_config, downgrade, upgrade
from dockyard.models import import_all_models
from tests.conftest import BACKENDS, DatabaseFactory

FOUNDATION_TABLES = {
    "users",
    "auth_sessions",
    "auth_refresh_tokens",
    "nodes",
    "audit_chain_head",
    "audit_events",
}


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


@pytest.fixture(params=BACKENDS)
async def empty_url(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> str:
    """A database with no schema at all."""
    if request.param == "sqlite":
        return database_factory.new_empty_sqlite()
    return await database_factory.new_empty_postgres()


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": True},
    )
    return list(compare_metadata(context, Base.metadata))


async def inspect(url: str, fn: Any) -> Any:
    engine = create_engine(url, immediate=False)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


async def scalar_rows(url: str, sql: str) -> list[Any]:
    engine = create_engine(url, immediate=False)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).scalars().all())
    finally:
        await engine.dispose()


async def test_schema_matches_the_models(empty_url: str) -> None:
    import_all_models()
    await asyncio.to_thread(upgrade, empty_url)
    diffs = await inspect(empty_url, _diff)
    assert diffs == []


async def test_upgrade_is_idempotent_and_at_head(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url)
    await asyncio.to_thread(upgrade, empty_url)
    assert await scalar_rows(empty_url, "SELECT version_num FROM alembic_version") == [
        head_revision()
    ]
    import_all_models()
    assert set(Base.metadata.tables) >= FOUNDATION_TABLES

    def table_names(connection: Connection) -> set[str]:
        from sqlalchemy import inspect as sa_inspect

        return set(sa_inspect(connection).get_table_names())

    assert await inspect(empty_url, table_names) == set(Base.metadata.tables) | {"alembic_version"}


async def test_append_only_triggers_are_installed(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url)
    if empty_url.startswith("sqlite"):
        names = await scalar_rows(
            empty_url, "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        )
        assert names == ["audit_events_no_delete", "audit_events_no_update"]
    else:
        names = await scalar_rows(
            empty_url,
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
            "AND tgrelid = 'audit_events'::regclass ORDER BY tgname",
        )
        assert names == ["audit_events_append_only", "audit_events_no_truncate"]


async def test_foundation_migration_refuses_to_downgrade(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url)
    with pytest.raises(RuntimeError, match="cannot be downgraded"):
        await asyncio.to_thread(downgrade, empty_url, "base")
    # The audit log survives the attempt.
    assert await scalar_rows(empty_url, "SELECT COUNT(*) FROM audit_events") == [0]
