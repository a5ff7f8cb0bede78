"""Snapshots of every configuration change, whatever path made it (UI, API, import, CLI).

Hooking every domain's write path would be invasive, so this watches sessions instead:
after a flush, writes to a configuration table (see `kinds.config_tables`) are noted with
the actor of the audit event written in the same transaction (every change is audited).
After the commit the process's `SnapshotRecorder` is told; it waits until no config write
has happened for `config_snapshot_delay_s` (debounce), exports the whole document and
stores it if it differs from the latest snapshot. The source is `ui` when the audited
request came from a browser (its user agent), `api` otherwise.

Imports and rollbacks store their snapshot themselves, in their own transaction (with
source `import` / `rollback`); the debounced pass then finds nothing new.
Only writes made by this process are seen; the recorder also checks once at startup, so
changes made while the server was down (the CLI, another process) are caught then.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from dockyard.audit.models import AuditEvent
from dockyard.audit.service import Actor
from dockyard.config import service as config
from dockyard.config.kinds import KindContext, config_tables
from dockyard.kit.db import RUNTIME_STATE_OPTION

log = structlog.get_logger(__name__)

_TOUCHED = "dockyard.config.touched"
_ACTOR = "dockyard.config.actor"
_recorders: dict[int, SnapshotRecorder] = {}


def _source_of(user_agent: str | None) -> str:
    return "ui" if user_agent and "Mozilla" in user_agent else "api"


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    tables = config_tables()
    touched = False
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__table__", None)
        if table is not None and table.name in tables:
            touched = True
    if touched:
        session.info[_TOUCHED] = True
    for obj in session.new:
        if isinstance(obj, AuditEvent) and obj.actor_type in ("user", "token"):
            session.info[_ACTOR] = (
                Actor(obj.actor_type, obj.actor_id, obj.actor_label),
                _source_of(obj.user_agent),
            )


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_select or state.execution_options.get(RUNTIME_STATE_OPTION):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table in config_tables():
        state.session.info[_TOUCHED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    touched = session.info.pop(_TOUCHED, False)
    actor = session.info.pop(_ACTOR, None)
    if not touched:
        return
    bind = session.bind
    recorder = _recorders.get(id(bind)) if bind is not None else None
    if recorder is not None:
        recorder.notify(actor)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_TOUCHED, None)
    session.info.pop(_ACTOR, None)


class SnapshotRecorder:
    """Per server process: the debounced "snapshot if changed" pass."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.delay = float(runtime.settings.config_snapshot_delay_s)
        self.retention = int(runtime.settings.config_snapshot_retention)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: tuple[Actor, str] | None = None
        self._lock = asyncio.Lock()
        self._engine_key = id(runtime.db.engine.sync_engine)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        _recorders[self._engine_key] = self
        try:
            await self.record_if_changed(None, "system")
        except Exception:  # never block startup on a snapshot
            log.exception("config_snapshot_failed")

    async def stop(self) -> None:
        _recorders.pop(self._engine_key, None)
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def notify(self, actor: tuple[Actor, str] | None) -> None:
        """A config write committed (any thread): (re)start the debounce timer."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._arm, actor)

    def _arm(self, actor: tuple[Actor, str] | None) -> None:
        if actor is not None:
            self._pending = actor
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, None
        actor, source = pending if pending is not None else (None, "api")
        self._task = asyncio.get_running_loop().create_task(self._run(actor, source))

    async def _run(self, actor: Actor | None, source: str) -> None:
        try:
            await self.record_if_changed(actor, source)
        except Exception:
            log.exception("config_snapshot_failed")

    async def flush(self) -> None:
        """Take a pending snapshot now (tests, shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._fire()
        if self._task is not None:
            await self._task

    async def record_if_changed(self, actor: Actor | None, source: str) -> int | None:
        async with self._lock:
            async with self.runtime.db.read_session() as session:
                document = await config.export_document(KindContext(session, self.runtime))
            async with self.runtime.db.session() as session:
                snapshot = await config.store_snapshot(
                    session, document, source=source, actor=actor, retention=self.retention
                )
                await session.commit()
                return snapshot.id if snapshot is not None else None
