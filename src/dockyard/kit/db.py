"""Database engine, sessions and the declarative base shared by every domain.

SQLite runs in WAL mode and every write transaction starts with `BEGIN IMMEDIATE`:
a deferred transaction that reads and later writes fails with SQLITE_BUSY when another
writer committed in between, so taking the write lock up front serializes writers
cleanly instead. Read-only work uses a second engine whose transactions stay deferred.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session
from sqlalchemy.types import TypeDecorator

from dockyard.kit.events import EventBus

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; naive UTC on SQLite, timestamptz on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _install_sqlite_pragmas(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str, *, immediate: bool = True, echo: bool = False) -> AsyncEngine:
    """An async engine configured for Dockyard's needs on SQLite or PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 10})
        _install_sqlite_pragmas(engine, immediate=immediate)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


_PENDING_EVENTS = "dockyard.pending_events"
_EVENT_BUS = "dockyard.event_bus"


def publish_after_commit(session: AsyncSession, type: str, data: dict[str, Any]) -> None:
    """Queue a real-time event that is published only if this session's transaction commits.

    Subscribers must never hear about a change that was rolled back.
    """
    session.sync_session.info.setdefault(_PENDING_EVENTS, []).append((type, data))


@event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING_EVENTS, None)
    bus = session.info.get(_EVENT_BUS)
    if pending and isinstance(bus, EventBus):
        for type, data in pending:
            bus.publish(type, data)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_EVENTS, None)


# Execution option of a write that records live state (an agent's presence, a node's last
# seen) in a table that otherwise holds configuration: not a configuration change.
RUNTIME_STATE_OPTION = "dockyard_runtime_state"

_WRITTEN_TABLES = "dockyard.written_tables"
_UNKNOWN_TABLE = "*"
_write_generations: Counter[str] = Counter()


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    # Still the pre-flush state here: new, dirty and deleted are what was just written.
    written = session.info.setdefault(_WRITTEN_TABLES, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__table__", None)
        written.add(table.name if table is not None else _UNKNOWN_TABLE)


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    # A statement whose table is unknown (text()) counts as a write to every table.
    state.session.info.setdefault(_WRITTEN_TABLES, set()).add(table or _UNKNOWN_TABLE)


@event.listens_for(Session, "after_commit")
def _bump_write_generations(session: Session) -> None:
    # After the commit, never before: a reader that took the old generation and read the
    # new rows only wastes a cache entry; the reverse would serve stale data as fresh.
    # A rollback keeps the marks (a savepoint rollback does not undo earlier writes).
    for table in session.info.pop(_WRITTEN_TABLES, ()):
        _write_generations[table] += 1


def write_generation(tables: Iterable[str]) -> int:
    """Changes after every commit in this process that wrote one of `tables`.

    In-process caches key their entries on it; writes by other processes are not seen.
    """
    return _write_generations[_UNKNOWN_TABLE] + sum(_write_generations[t] for t in tables)


def mark_committed_write(table: str) -> None:
    """Count a committed write made outside a SQLAlchemy session (and in tests)."""
    _write_generations[table] += 1


class Database:
    """Owns the engines and hands out sessions."""

    def __init__(self, url: str, *, echo: bool = False, events: EventBus | None = None) -> None:
        self.url = url
        self.kind = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.engine = create_engine(url, immediate=True, echo=echo)
        # PostgreSQL needs no special read path; SQLite gets a deferred-transaction engine.
        self.read_engine = (
            create_engine(url, immediate=False, echo=echo) if self.kind == "sqlite" else self.engine
        )
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, info={_EVENT_BUS: events}
        )
        self.read_sessionmaker = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read-write session; the caller commits. Rolled back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only (never commits)."""
        async with self.read_sessionmaker() as session:
            yield session

    async def ping(self) -> None:
        """Raise if the database cannot answer `SELECT 1`."""
        async with self.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


async def retry_on_conflict(
    action: Callable[[], Awaitable[T]], *, attempts: int = 3, delay_s: float = 0.2
) -> T:
    """Run `action` again after an `IntegrityError`: start-up work that several processes
    may do at once on a fresh database (the slower one's insert hits a key the other just
    committed, and a new attempt finds that row)."""
    for attempt in range(attempts):
        try:
            return await action()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(delay_s * (attempt + 1))
    raise AssertionError("unreachable")
