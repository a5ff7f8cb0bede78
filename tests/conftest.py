"""Shared fixtures: real databases (SQLite file, fresh PostgreSQL databases), running apps.

Integration fixtures need the test environment (`scripts/test-env.sh up`, then
`source /run/dockyard-test/env.sh`). A missing variable or service FAILS the test that
needs it with a message saying what to do; nothing is skipped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from dockyard.app import create_app
from dockyard.runtime import Runtime
from dockyard.settings import Settings

pytest_plugins = ["tests.network_leaks"]

ENV_HINT = (
    "run `make test`, or `scripts/test-env.sh up && source /run/dockyard-test/env.sh` "
    "before `uv run pytest`"
)
TEST_SECRET_KEY = "dockyard-test-secret-key-0123456789-abcdefghijklmnop"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Admin-Test-Password-1234"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
BACKENDS = ["sqlite", "postgresql"]
PYCACHE_DIR = Path(tempfile.gettempdir()) / f"dockyard-tests-pycache-{os.getuid()}"


def pytest_configure(config: pytest.Config) -> None:
    """Plain, cheap log lines (request ids included); the rich renderer is slow on errors."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            ),
        ],
        cache_logger_on_first_use=False,
    )


def require_env(name: str) -> str:
    """The value of a test-environment variable, or fail the test saying how to get it."""
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"{name} is not set: {ENV_HINT}", pytrace=False)
    return value


def clean_environ(**extra: str) -> dict[str, str]:
    """The environment for a `dockyard` subprocess: no ambient `DOCKYARD_*` setting.

    Bytecode is cached in a private folder (not in the shared virtualenv): without it every
    CLI run recompiles SQLAlchemy and Alembic when PYTHONDONTWRITEBYTECODE is set.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DOCKYARD_") or key.startswith("DOCKYARD_TEST_")
    }
    env.pop("DOCKER_HOST", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE_DIR)
    env.update(extra)
    return env


def dockyard_executable() -> str:
    """The installed `dockyard` console script of this virtualenv (what `uv run` runs)."""
    found = shutil.which("dockyard", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(
            f"the `dockyard` console script is not installed next to {sys.executable}: "
            "run `uv sync`",
            pytrace=False,
        )
    return found


# ---------------------------------------------------------------- databases


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


_postgres_checked: str | None = None


async def checked_postgres_url() -> str:
    """The admin URL of the test PostgreSQL (`dockyard_test`); fails if it does not answer."""
    global _postgres_checked
    if _postgres_checked is None:
        import asyncpg  # type: ignore[import-untyped]

        url = require_env("DOCKYARD_TEST_POSTGRES_URL")
        try:
            conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
            await conn.close()
        except Exception as exc:
            pytest.fail(
                f"PostgreSQL at {make_url(url).render_as_string()} does not answer ({exc!r}): "
                f"{ENV_HINT}",
                pytrace=False,
            )
        _postgres_checked = url
    return _postgres_checked


@pytest.fixture(scope="session")
async def postgres_url() -> str:
    return await checked_postgres_url()


@dataclass
class DatabaseFactory:
    """Hands out fresh, migrated databases and drops the PostgreSQL ones at the end."""

    tmp_root: Path
    _template: str | None = None
    _sqlite_template: Path | None = None
    _created: list[str] = field(default_factory=list)

    async def _admin_execute(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(_asyncpg_dsn(await checked_postgres_url()), timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def _ensure_template(self) -> str:
        """One migrated database per session; fresh ones are cloned from it (fast)."""
        if self._template is None:
            from dockyard.migrations.runner import upgrade

            name = f"dockyard_t_tpl_{secrets.token_hex(4)}"
            await self._admin_execute(f'CREATE DATABASE "{name}"')
            self._created.append(name)
            url = _with_database(await checked_postgres_url(), name)
            await asyncio.to_thread(upgrade, url)
            self._template = name
        return self._template

    def new_empty_sqlite(self) -> str:
        folder = self.tmp_root / f"sqlite-{secrets.token_hex(4)}"
        folder.mkdir(parents=True)
        return f"sqlite+aiosqlite:///{folder / 'dockyard.db'}"

    async def new(self, kind: str) -> str:
        """A URL to an empty-but-migrated database of `kind` (`sqlite` or `postgresql`)."""
        if kind == "sqlite":
            if self._sqlite_template is None:
                from dockyard.migrations.runner import upgrade

                url = self.new_empty_sqlite()
                await asyncio.to_thread(upgrade, url)
                self._sqlite_template = Path(make_url(url).database or "")
            url = self.new_empty_sqlite()
            shutil.copyfile(self._sqlite_template, make_url(url).database or "")
            return url
        if kind != "postgresql":
            raise ValueError(kind)
        template = await self._ensure_template()
        name = f"dockyard_t_{secrets.token_hex(6)}"
        await self._admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self._created.append(name)
        return _with_database(await checked_postgres_url(), name)

    async def new_empty_postgres(self) -> str:
        """A URL to a brand-new PostgreSQL database with no schema at all."""
        name = f"dockyard_t_{secrets.token_hex(6)}"
        await self._admin_execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return _with_database(await checked_postgres_url(), name)

    async def _drop(self, name: str) -> None:
        import asyncpg

        for attempt in range(10):
            try:
                await self._admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                # A superuser's backend (an autovacuum worker) is in the database: ours may
                # not end it, and it leaves on its own within moments.
                if attempt == 9:
                    raise
                await asyncio.sleep(0.5)

    async def drop(self, url: str) -> None:
        """Drop one PostgreSQL database now (ending its connections)."""
        name = make_url(url).database
        await self._drop(str(name))
        self._created.remove(str(name))

    async def drop_all(self) -> None:
        for name in reversed(self._created):
            await self._drop(name)
        self._created.clear()


@pytest.fixture(scope="session")
async def database_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_root=tmp_path_factory.mktemp("databases"))
    yield factory
    if factory._created:
        await factory.drop_all()


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> str:
    """A fresh, migrated database for one test, on each backend."""
    return await database_factory.new(request.param)


@pytest.fixture(scope="module", params=BACKENDS)
async def module_db_url(request: pytest.FixtureRequest, database_factory: DatabaseFactory) -> str:
    """A fresh, migrated database shared by one module's tests, on each backend."""
    return await database_factory.new(request.param)


def backend_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


# ---------------------------------------------------------------- docker


@pytest.fixture(scope="session")
def docker_host() -> str:
    """The test engine's address; fails unless it answers `/_ping`."""
    import docker

    host = require_env("DOCKYARD_TEST_DOCKER_HOST")
    try:
        client = docker.DockerClient(base_url=host, version="auto", timeout=10)
        client.ping()
        client.close()
    except Exception as exc:
        pytest.fail(
            f"the Docker engine at {host} does not answer ({exc}): {ENV_HINT}", pytrace=False
        )
    return host


def remove_compose_project(docker_client: Any, name: str) -> None:
    """Remove what a service (compose project) `name` left on the engine: containers,
    networks and volumes labelled with it."""
    label = {"label": f"com.docker.compose.project={name}"}
    for container in docker_client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for network in docker_client.networks.list(filters=label):
        network.remove()
    for volume in docker_client.volumes.list(filters=label):
        volume.remove(force=True)


@pytest.fixture
def service_name(docker_client: Any) -> Iterator[str]:
    """A unique service name; its containers, networks and volumes are removed afterwards."""
    name = f"t-{secrets.token_hex(4)}"
    yield name
    remove_compose_project(docker_client, name)


@pytest.fixture(scope="session")
def docker_client(docker_host: str) -> Iterator[Any]:
    import docker

    client = docker.DockerClient(base_url=docker_host, version="auto", timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_image(docker_client: Any) -> str:
    """The small test image (`DOCKYARD_TEST_IMAGE`); fails if the engine lacks it."""
    import docker.errors

    image = require_env("DOCKYARD_TEST_IMAGE")
    try:
        docker_client.images.get(image)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the test image {image} is not on the engine: {ENV_HINT}", pytrace=False)
    return image


# ---------------------------------------------------------------- apps


def make_settings(data_dir: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for a test app: own data dir, fixed key, known admin, generous rate limit."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "secret_key": TEST_SECRET_KEY,
        "admin_email": ADMIN_EMAIL,
        "admin_password": ADMIN_PASSWORD,
        "docker_host": os.environ.get("DOCKYARD_TEST_DOCKER_HOST") or DEFAULT_DOCKER_HOST,
        "login_rate_per_minute": 100_000,
        "api_rate_per_minute": 1_000_000,
        "log_level": "WARNING",
        # As before the setting existed: a test that leaves a job running waits 10 s, not 30.
        "shutdown_grace_s": 10.0,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class LiveApp:
    """A running app (lifespan entered) and an HTTP client talking to it in-process."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def login(
        self,
        email: str = ADMIN_EMAIL,
        password: str = ADMIN_PASSWORD,
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers
        )
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def token(self) -> str:
        return str((await self.login())["access_token"])

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def running_app(
    settings: Settings,
    *,
    prepare: Callable[[FastAPI], None] | None = None,
    raise_app_exceptions: bool = False,
) -> AsyncIterator[LiveApp]:
    """Create the app, run its lifespan (migrate, bootstrap) and yield a client for it."""
    app = create_app(settings, configure_logs=False)
    if prepare is not None:
        prepare(app)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield LiveApp(app=app, client=client, settings=settings)


@pytest.fixture
def app_settings(tmp_path: Path) -> Callable[..., Settings]:
    """`app_settings(database_url, **overrides)`: settings with a fresh data dir."""

    def build(database_url: str | None = None, **overrides: Any) -> Settings:
        data_dir = tmp_path / f"data-{secrets.token_hex(3)}"
        return make_settings(data_dir, database_url, **overrides)

    return build


@pytest.fixture
async def api(db_url: str, app_settings: Callable[..., Settings]) -> AsyncIterator[LiveApp]:
    """A fresh app on a fresh database (each backend) for tests that change state."""
    async with running_app(app_settings(db_url)) as test_app:
        yield test_app


@pytest.fixture(scope="module")
async def shared_api(
    module_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveApp]:
    """One app per module and backend, for tests whose state does not interfere."""
    settings = make_settings(tmp_path_factory.mktemp("shared-data"), module_db_url)
    async with running_app(settings) as test_app:
        yield test_app


# ---------------------------------------------------------------- helpers


async def add_user(test_app: LiveApp, email: str, password: str, role: str = "admin") -> int:
    """Create a user straight through the service (as the CLI does)."""
    from dockyard.audit.service import Actor
    from dockyard.users.service import create_user

    async with test_app.runtime.db.session() as session:
        user = await create_user(
            session, email=email, password=password, role=role, actor=Actor.system("tests")
        )
        await session.commit()
        return user.id


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


async def audit_rows(test_app: LiveApp, **where: Any) -> list[Any]:
    """Audit rows (oldest first) whose columns equal the given values."""
    from sqlalchemy import select

    from dockyard.audit.models import AuditEvent

    stmt = select(AuditEvent).order_by(AuditEvent.id)
    for column, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, column) == value)
    async with test_app.runtime.db.read_session() as session:
        return list((await session.execute(stmt)).scalars().all())


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert the shared error shape and return its `error` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error
