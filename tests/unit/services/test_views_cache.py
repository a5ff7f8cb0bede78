"""The service-list cache and the principal cache: what invalidates them."""

from __future__ import annotations

import tempfile
from collections.abc import Hashable, Sequence
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, update

from dockyard.auth import service as auth_service
from dockyard.auth.models import LoginSession
from dockyard.auth.service import AuthService
from dockyard.jobs.models import Job
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database, mark_committed_write
from dockyard.kit.errors import AuthenticationError
from dockyard.services import views as views_module
from dockyard.services.status import ContainerLike
from dockyard.services.views import ServiceViews, StateContainers, db_generation
from dockyard.settings import Settings
from dockyard.state.cache import NodeStateCache
from dockyard.users.models import User


class FakeSource:
    instance_id = "i"

    def __init__(self) -> None:
        self.version = 0

    def containers_for_service(self, node_id: int, service_id: int) -> Sequence[ContainerLike]:
        return []

    def fingerprint(self, node_id: int | None) -> Hashable:
        return self.version


def test_entry_is_served_until_its_fingerprint_changes() -> None:
    source = FakeSource()
    views = ServiceViews(source)
    key = (None, None, 10, 0)
    fp = views.list_fingerprint(None)
    views.store_list(key, fp, views_module.time.monotonic(), b"{}")
    assert views.cached_list(key, views.list_fingerprint(None)) == b"{}"

    source.version += 1  # a container changed
    assert views.cached_list(key, views.list_fingerprint(None)) is None

    views.store_list(key, views.list_fingerprint(None), views_module.time.monotonic(), b"[]")
    mark_committed_write("services")  # a committed write to a table the list reads
    assert views.cached_list(key, views.list_fingerprint(None)) is None


def test_entry_expires_after_max_age() -> None:
    views = ServiceViews(FakeSource())
    fp = views.list_fingerprint(None)
    old = views_module.time.monotonic() - views_module.LIST_MAX_AGE_S - 1
    views.store_list("k", fp, old, b"{}")
    assert views.cached_list("k", fp) is None


def test_cache_is_bounded() -> None:
    views = ServiceViews(FakeSource())
    fp = views.list_fingerprint(None)
    for n in range(views_module.LIST_CACHE_ENTRIES + 10):
        views.store_list(n, fp, views_module.time.monotonic(), b"{}")
    assert len(views._lists) == views_module.LIST_CACHE_ENTRIES
    assert views.cached_list(0, fp) is None


def test_node_fingerprint_follows_versions_and_cache_identity() -> None:
    caches: dict[int, NodeStateCache] = {}
    state = SimpleNamespace(cache=caches.get, node_ids=lambda: sorted(caches))
    source = StateContainers(cast(Any, state), "inst")
    missing = source.fingerprint(1)
    caches[1] = NodeStateCache(1)
    first = source.fingerprint(1)
    assert first != missing
    caches[1].set_reachable(True)
    assert source.fingerprint(1) != first
    everything = source.fingerprint(None)
    caches[2] = NodeStateCache(2)
    assert source.fingerprint(None) != everything
    # A node removed and added again starts at version 0 but is a different cache.
    before = source.fingerprint(2)
    caches[2] = NodeStateCache(2)
    assert source.fingerprint(2) != before


@pytest.fixture
async def database(tmp_path: Path) -> Any:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(User.metadata.create_all)
        await conn.run_sync(OTHER.create_all)
    yield db
    await db.dispose()


OTHER = MetaData()
UNRELATED = Table("unrelated", OTHER, Column("id", Integer, primary_key=True))


async def test_generation_bumps_after_commits_that_write_list_tables(database: Database) -> None:
    before = db_generation()
    async with database.session() as session:
        await session.execute(UNRELATED.insert().values(id=1))
        await session.commit()
    assert db_generation() == before  # other tables do not matter

    async with database.session() as session:
        await session.execute(update(Job).values(progress_count=Job.progress_count + 1))
        assert db_generation() == before  # not before the commit
        await session.rollback()
        await session.commit()
    assert db_generation() == before + 1  # the mark survives a rollback: over-invalidate

    async with database.session() as session:
        session.add(User(email="a@example.com", password_hash="x"))
        await session.commit()
    assert db_generation() == before + 2  # ORM flushes count too


# ---------------------------------------------------------------- principal cache


async def make_login(database: Database, *, ttl_s: float = 3600) -> tuple[int, str]:
    async with database.session() as session:
        user = User(email=f"u{utcnow().timestamp()}@example.com", password_hash="x")
        session.add(user)
        await session.flush()
        login = LoginSession(
            id=f"s-{user.id}", user_id=user.id, expires_at=utcnow() + timedelta(seconds=ttl_s)
        )
        session.add(login)
        await session.commit()
        return user.id, login.id


def auth_for(database: Database) -> AuthService:
    # Real settings (defaults): the service reads many of them.
    settings = Settings(_env_file=None, data_dir=Path(tempfile.gettempdir()))  # type: ignore[call-arg]
    return AuthService(database, settings, "secret")


class CountingReads:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.reads = 0

    def read_session(self) -> Any:
        self.reads += 1
        return self.database.read_session()


async def test_principal_is_cached_and_forgotten(database: Database) -> None:
    user_id, sid = await make_login(database)
    auth = auth_for(database)
    counting = CountingReads(database)
    auth.db = cast(Database, counting)
    first = await auth.principal_for_session(user_id, sid)
    assert (await auth.principal_for_session(user_id, sid)) is first
    assert counting.reads == 1

    auth.forget_session(sid)
    await auth.principal_for_session(user_id, sid)
    assert counting.reads == 2
    auth.forget_user(user_id)
    await auth.principal_for_session(user_id, sid)
    assert counting.reads == 3


async def test_principal_expires_after_ttl(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, sid = await make_login(database)
    auth = auth_for(database)
    counting = CountingReads(database)
    auth.db = cast(Database, counting)
    monkeypatch.setattr(auth_service, "PRINCIPAL_TTL_S", 0.0)
    await auth.principal_for_session(user_id, sid)
    await auth.principal_for_session(user_id, sid)
    assert counting.reads == 2


async def test_revocation_committed_in_this_process_is_seen_at_once(database: Database) -> None:
    user_id, sid = await make_login(database)
    auth = auth_for(database)
    await auth.principal_for_session(user_id, sid)
    async with database.session() as session:
        await session.execute(
            update(LoginSession).where(LoginSession.id == sid).values(revoked_at=utcnow())
        )
        await session.commit()
    with pytest.raises(AuthenticationError):
        await auth.principal_for_session(user_id, sid)
    # Failures are never cached: a second call asks the database again and fails again.
    with pytest.raises(AuthenticationError):
        await auth.principal_for_session(user_id, sid)
    assert not auth._principals


async def test_disabling_a_user_in_this_process_is_seen_at_once(database: Database) -> None:
    user_id, sid = await make_login(database)
    auth = auth_for(database)
    await auth.principal_for_session(user_id, sid)
    async with database.session() as session:
        await session.execute(update(User).where(User.id == user_id).values(is_active=False))
        await session.commit()
    with pytest.raises(AuthenticationError, match="disabled"):
        await auth.principal_for_session(user_id, sid)


async def test_never_trusted_past_the_session_end(database: Database) -> None:
    user_id, sid = await make_login(database, ttl_s=0.2)
    auth = auth_for(database)
    await auth.principal_for_session(user_id, sid)
    (_, deadline, _) = auth._principals[(user_id, sid)]
    assert deadline - auth_service.time.monotonic() <= 0.2
