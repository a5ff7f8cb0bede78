"""The `dockyard` CLI, run as a real subprocess against real databases (both backends)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from dockyard import __version__
from dockyard.audit.service import purge_expired
from dockyard.kit.clock import utcnow
from dockyard.settings import Settings
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    TEST_SECRET_KEY,
    DatabaseFactory,
    LiveApp,
    assert_error,
    audit_rows,
    clean_environ,
    dockyard_executable,
    running_app,
    unique_email,
)
from tests.integration.test_audit_db import seed_old_rows_first

NEW_PASSWORD = "Brand-New-Password-2468"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


async def run_cli(*args: str, env: dict[str, str], stdin: str | None = None) -> Result:
    process = await asyncio.create_subprocess_exec(
        dockyard_executable(),
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(
        process.communicate(stdin.encode() if stdin is not None else b""), timeout=120
    )
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a server with `settings` would have."""
    return clean_environ(
        DOCKYARD_DATA_DIR=str(settings.data_dir),
        DOCKYARD_DATABASE_URL=settings.resolved_database_url,
        DOCKYARD_SECRET_KEY=TEST_SECRET_KEY,
        DOCKYARD_ADMIN_EMAIL=ADMIN_EMAIL,
        DOCKYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        DOCKYARD_DOCKER_HOST=settings.resolved_docker_host,
        DOCKYARD_LOG_FORMAT="json",
        **extra,
    )


def assert_clean_failure(result: Result, fragment: str) -> None:
    assert result.returncode != 0, result
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# ---------------------------------------------------------------- version, migrate


async def test_version(tmp_path: Path) -> None:
    result = await run_cli("version", env=clean_environ(DOCKYARD_DATA_DIR=str(tmp_path)))
    assert (result.returncode, result.stdout.strip()) == (0, __version__)


async def test_migrate_is_idempotent(
    db_url: str, database_factory: DatabaseFactory, tmp_path: Path
) -> None:
    if db_url.startswith("sqlite"):
        env = clean_environ(DOCKYARD_DATA_DIR=str(tmp_path / "data"))  # default SQLite file
    else:
        empty = await database_factory.new_empty_postgres()
        env = clean_environ(DOCKYARD_DATA_DIR=str(tmp_path / "data"), DOCKYARD_DATABASE_URL=empty)
    for _ in range(2):
        result = await run_cli("migrate", env=env)
        assert result.returncode == 0, result
        assert result.stdout.strip() == "database is up to date"
    if db_url.startswith("sqlite"):
        assert (tmp_path / "data" / "dockyard.db").is_file()


async def test_configuration_error_is_a_clean_exit_2(tmp_path: Path) -> None:
    env = clean_environ(DOCKYARD_DATA_DIR=str(tmp_path), DOCKYARD_AUDIT_RETENTION_DAYS="30")
    result = await run_cli("migrate", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("Configuration error:")
    assert "DOCKYARD_AUDIT_RETENTION_DAYS must be at least 90" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- users


async def test_user_create_then_login(db_url: str, app_settings: Callable[..., Settings]) -> None:
    settings = app_settings(db_url)
    email = unique_email("cli")
    result = await run_cli(
        "user",
        "create",
        f"  {email.upper()} ",
        "--role",
        "admin",
        "--password-stdin",
        env=cli_env(settings),
        stdin=NEW_PASSWORD + "\n",
    )
    assert result.returncode == 0, result
    assert result.stdout.startswith(f"created user {email} (id ")
    assert "role admin" in result.stdout
    assert NEW_PASSWORD not in result.stdout + result.stderr

    async with running_app(settings) as app:
        tokens = await app.login(email, NEW_PASSWORD)
        me = await app.client.get("/api/v1/auth/me", headers=app.bearer(tokens["access_token"]))
        assert me.json()["email"] == email
        created = await audit_rows(app, action="user.created", actor_label="cli")
        assert [r.details for r in created] == [{"email": email, "role": "admin"}]

        # The same email again, in any case, is refused with a clear message.
        again = await run_cli(
            "user",
            "create",
            email.upper(),
            "--password-stdin",
            env=cli_env(settings),
            stdin=NEW_PASSWORD + "\n",
        )
        assert_clean_failure(again, f"error: A user with email {email} already exists.")


async def test_user_create_without_password_stdin_prints_a_random_one(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    settings = app_settings(db_url)
    email = unique_email("random")
    result = await run_cli("user", "create", email, env=cli_env(settings))
    assert result.returncode == 0, result
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("password: ")
    password = lines[-1].removeprefix("password: ")
    assert len(password) >= 20
    async with running_app(settings) as app:
        await app.login(email, password)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["not-an-email", "--password-stdin"], NEW_PASSWORD, "is not a valid email address"),
        (["x@example.com", "--password-stdin"], "short", "at least 12 characters"),
        (["x@example.com", "--password-stdin"], "", "no password on standard input"),
        (["x@example.com", "--role", "root", "--password-stdin"], NEW_PASSWORD, "Unknown role"),
    ],
)
async def test_user_create_refusals(
    tmp_path: Path, database_factory: DatabaseFactory, args: list[str], stdin: str, message: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=await database_factory.new("sqlite")
    )
    result = await run_cli("user", "create", *args, env=cli_env(settings), stdin=stdin + "\n")
    assert_clean_failure(result, message)


async def test_reset_password_ends_sessions_and_unlocks(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    settings = app_settings(db_url)
    async with running_app(settings) as app:
        tokens = await app.login()
        for _ in range(settings.login_max_failures):
            await app.client.post(
                "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": "Wrong-Password-1"}
            )
        locked = await app.client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert locked.status_code == 423

        result = await run_cli(
            "user",
            "reset-password",
            ADMIN_EMAIL,
            "--password-stdin",
            env=cli_env(settings),
            stdin=NEW_PASSWORD + "\n",
        )
        assert result.returncode == 0, result
        assert f"password reset for {ADMIN_EMAIL}" in result.stdout
        assert NEW_PASSWORD not in result.stdout + result.stderr

        me = await app.client.get("/api/v1/auth/me", headers=app.bearer(tokens["access_token"]))
        assert_error(me, 401, "session_ended")
        refreshed = await app.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert_error(refreshed, 401, "invalid_refresh_token")
        old = await app.client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert_error(old, 401, "invalid_credentials")
        fresh = await app.login(ADMIN_EMAIL, NEW_PASSWORD)
        me = await app.client.get("/api/v1/auth/me", headers=app.bearer(fresh["access_token"]))
        assert me.status_code == 200
        resets = await audit_rows(app, action="user.password.reset")
        assert len(resets) == 1
        assert resets[0].actor_label == "cli"


async def test_reset_password_of_unknown_user_fails(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    settings = app_settings(db_url)
    result = await run_cli(
        "user",
        "reset-password",
        "nobody@example.com",
        "--password-stdin",
        env=cli_env(settings),
        stdin=NEW_PASSWORD + "\n",
    )
    assert_clean_failure(result, "No user with email nobody@example.com")


# ---------------------------------------------------------------- audit verify


async def drop_triggers(app: LiveApp) -> None:
    async with app.runtime.db.engine.begin() as conn:
        if app.runtime.db.kind == "sqlite":
            await conn.execute(text("DROP TRIGGER audit_events_no_update"))
            await conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            await conn.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))


async def test_audit_verify_good_edited_and_gapped_chain(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    settings = app_settings(db_url)
    env = cli_env(settings)
    async with running_app(settings) as app:
        for _ in range(4):
            await app.login()
        rows = await audit_rows(app)
        assert len(rows) >= 6

        good = await run_cli("audit", "verify", env=env)
        assert good.returncode == 0, good
        assert good.stdout.strip() == f"audit chain OK: {len(rows)} events verified"
        as_json = await run_cli("audit", "verify", "--json", env=env)
        assert as_json.returncode == 0
        assert json.loads(as_json.stdout) == {
            "ok": True,
            "checked": len(rows),
            "bad_id": None,
            "reason": None,
        }

        await drop_triggers(app)
        async with app.runtime.db.engine.begin() as conn:
            await conn.execute(text("UPDATE audit_events SET outcome = 'failure' WHERE id = 4"))
        edited = await run_cli("audit", "verify", env=env)
        assert edited.returncode == 1
        assert "audit chain BROKEN at row 4:" in edited.stderr
        assert "row 4 was altered" in edited.stderr
        edited_json = await run_cli("audit", "verify", "--json", env=env)
        assert edited_json.returncode == 1
        assert json.loads(edited_json.stdout)["bad_id"] == 4

        # Put row 4 back, then remove row 3: the row after the gap is named.
        async with app.runtime.db.engine.begin() as conn:
            await conn.execute(text("UPDATE audit_events SET outcome = 'success' WHERE id = 4"))
        assert (await run_cli("audit", "verify", env=env)).returncode == 0
        async with app.runtime.db.engine.begin() as conn:
            await conn.execute(text("DELETE FROM audit_events WHERE id = 3"))
        gapped = await run_cli("audit", "verify", env=env)
        assert gapped.returncode == 1
        assert "audit chain BROKEN at row 4:" in gapped.stderr
        assert "rows 3..3 are missing before row 4" in gapped.stderr
        assert "Traceback" not in gapped.stderr


async def test_audit_verify_after_a_retention_purge(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    await seed_old_rows_first(db_url, 5)
    settings = app_settings(db_url)
    async with running_app(settings) as app:
        assert (await purge_expired(app.runtime.db, retention_days=90)).purged == 5
        await app.login()
    result = await run_cli("audit", "verify", env=cli_env(settings))
    assert result.returncode == 0, result
    assert "audit chain OK" in result.stdout


async def test_audit_verify_on_a_database_never_served(
    tmp_path: Path, database_factory: DatabaseFactory
) -> None:
    """`dockyard audit verify` before the first `serve`: an empty chain, not a traceback."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=await database_factory.new("sqlite")
    )
    result = await run_cli("audit", "verify", env=cli_env(settings))
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result
    assert result.stdout.strip() == "audit chain OK: 0 events verified"


async def test_audit_verify_with_an_edited_old_timestamp(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    """Moving an event in time is tampering too."""
    settings = app_settings(db_url)
    async with running_app(settings) as app:
        await app.login()
        await drop_triggers(app)
        when = utcnow() - timedelta(days=1)
        async with app.runtime.db.engine.begin() as conn:
            if app.runtime.db.kind == "sqlite":
                stamp = when.replace(tzinfo=None).isoformat(sep=" ")
                await conn.execute(
                    text("UPDATE audit_events SET ts = :ts WHERE id = 2"), {"ts": stamp}
                )
            else:
                await conn.execute(
                    text("UPDATE audit_events SET ts = :ts WHERE id = 2"), {"ts": when}
                )
    result = await run_cli("audit", "verify", env=cli_env(settings))
    assert result.returncode == 1
    assert "BROKEN at row 2" in result.stderr
