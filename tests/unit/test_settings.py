"""Settings: defaults, `DOCKYARD_` variables, retention floor, the secret key, the DB URL."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from dockyard.settings import DEFAULT_DOCKER_HOST, MIN_AUDIT_RETENTION_DAYS, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient `DOCKYARD_*` or `DOCKER_HOST` may leak into these tests."""
    import os

    for key in list(os.environ):
        if key.startswith("DOCKYARD_") or key == "DOCKER_HOST":
            monkeypatch.delenv(key)


def test_defaults() -> None:
    settings = Settings()
    assert settings.data_dir == Path("./data")
    assert settings.database_url is None
    assert settings.docker_host is None
    assert settings.secret_key is None
    assert settings.admin_email is None
    assert settings.admin_password is None
    assert settings.log_level == "INFO"
    assert settings.log_format == "json"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8700
    assert settings.audit_retention_days == MIN_AUDIT_RETENTION_DAYS == 90
    assert settings.access_token_ttl_s == 900
    assert settings.refresh_token_ttl_s == 7 * 86400
    assert settings.session_max_age_s == 30 * 86400
    assert settings.login_max_failures == 5
    assert settings.login_lockout_s == 900
    assert settings.login_rate_per_minute == 20
    assert settings.trusted_proxies == []
    assert settings.engine_timeout_s == 30.0
    assert settings.resolved_docker_host == DEFAULT_DOCKER_HOST == "unix:///var/run/docker.sock"
    assert settings.database_kind == "sqlite"


def test_environment_variables_use_the_dockyard_prefix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKYARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DOCKYARD_PORT", "9123")
    monkeypatch.setenv("DOCKYARD_LOG_LEVEL", "debug")
    monkeypatch.setenv("DOCKYARD_LOG_FORMAT", "console")
    monkeypatch.setenv("DOCKYARD_TRUSTED_PROXIES", '["10.0.0.1", "192.168.0.0/16"]')
    monkeypatch.setenv("DOCKYARD_LOGIN_RATE_PER_MINUTE", "7")
    monkeypatch.setenv("DOCKYARD_AUDIT_RETENTION_DAYS", "365")
    monkeypatch.setenv("DOCKYARD_DOCKER_HOST", "tcp://10.1.2.3:2375")
    monkeypatch.setenv("PORT", "1")  # unprefixed names are not read
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.port == 9123
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "console"
    assert settings.trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]
    assert settings.login_rate_per_minute == 7
    assert settings.audit_retention_days == 365
    assert settings.resolved_docker_host == "tcp://10.1.2.3:2375"


def test_unknown_dockyard_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_TEST_SOMETHING", "whatever")
    Settings()


def test_docker_host_falls_back_to_docker_host_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/other.sock")
    assert Settings().resolved_docker_host == "unix:///run/other.sock"
    assert Settings(docker_host="tcp://h:2375").resolved_docker_host == "tcp://h:2375"


@pytest.mark.parametrize("days", [0, 1, 30, 89])
def test_audit_retention_below_90_days_is_refused(
    monkeypatch: pytest.MonkeyPatch, days: int
) -> None:
    monkeypatch.setenv("DOCKYARD_AUDIT_RETENTION_DAYS", str(days))
    with pytest.raises(ValidationError, match="DOCKYARD_AUDIT_RETENTION_DAYS must be at least 90"):
        Settings()
    with pytest.raises(ValidationError):
        Settings(audit_retention_days=days)


@pytest.mark.parametrize("days", [90, 91, 3650])
def test_audit_retention_of_90_days_or_more_is_accepted(days: int) -> None:
    assert Settings(audit_retention_days=days).audit_retention_days == days


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DOCKYARD_LOG_LEVEL", "verbose"),
        ("DOCKYARD_LOG_FORMAT", "xml"),
        ("DOCKYARD_PORT", "0"),
        ("DOCKYARD_PORT", "70000"),
        ("DOCKYARD_ACCESS_TOKEN_TTL_S", "10"),
        ("DOCKYARD_LOGIN_MAX_FAILURES", "0"),
        ("DOCKYARD_ENGINE_TIMEOUT_S", "0"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_secret_key_is_generated_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = Settings(data_dir=data_dir).load_secret_key()
    key_file = data_dir / "secret_key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert key_file.read_text().strip() == first
    # Another instance (a restart) reads the same key instead of generating a new one.
    assert Settings(data_dir=data_dir).load_secret_key() == first
    assert Settings(data_dir=data_dir).load_secret_key() == first
    # Different data dirs get different keys.
    assert Settings(data_dir=tmp_path / "other").load_secret_key() != first


def test_explicit_secret_key_is_used_and_not_written(tmp_path: Path) -> None:
    key = "k" * 20 + "0123456789ab"
    settings = Settings(data_dir=tmp_path / "data", secret_key=key)
    assert settings.load_secret_key() == key
    assert not (tmp_path / "data" / "secret_key").exists()


@pytest.mark.parametrize("key", ["", "short", "x" * 31])
def test_short_explicit_secret_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str
) -> None:
    monkeypatch.setenv("DOCKYARD_SECRET_KEY", key)
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ValueError, match="at least 32 characters"):
        settings.load_secret_key()


def test_secret_key_is_not_shown_in_repr() -> None:
    settings = Settings(secret_key="s" * 40, admin_password="p" * 20)
    assert "s" * 40 not in repr(settings)
    assert "p" * 20 not in repr(settings)


def test_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    expected = (tmp_path / "data" / "dockyard.db").resolve()
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{expected}"
    assert settings.database_kind == "sqlite"


def test_relative_data_dir_gives_an_absolute_sqlite_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    url = Settings().resolved_database_url
    assert url == f"sqlite+aiosqlite:///{(tmp_path / 'data' / 'dockyard.db').resolve()}"


def test_explicit_database_url_wins() -> None:
    url = "postgresql+asyncpg://u:p@db.example/dockyard"
    settings = Settings(database_url=url)
    assert settings.resolved_database_url == url
    assert settings.database_kind == "postgresql"


def test_ensure_data_dir_creates_a_private_folder(tmp_path: Path) -> None:
    """The data dir holds the database (password hashes) and the key: 0700, as documented."""
    data_dir = tmp_path / "nested" / "data"
    assert Settings(data_dir=data_dir).ensure_data_dir() == data_dir
    assert data_dir.is_dir()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
