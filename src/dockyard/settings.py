"""Runtime configuration, read from `DOCKYARD_*` environment variables."""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_AUDIT_RETENTION_DAYS = 90
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


class Settings(BaseSettings):
    """Every knob Dockyard reads at start. Field docs feed the configuration reference."""

    model_config = SettingsConfigDict(env_prefix="DOCKYARD_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./data"), description="Folder for the SQLite database, secret key and files."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL. Default: SQLite file `dockyard.db` in the data dir "
        "(WAL mode). PostgreSQL: `postgresql+asyncpg://user:pass@host/db`.",
    )
    docker_host: str | None = Field(
        default=None,
        description="Docker engine of the local node. Default: `DOCKER_HOST` or the local socket.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs tokens. When unset, generated once into `<data dir>/secret_key` (0600).",
    )
    admin_email: str | None = Field(
        default=None, description="First run only: the admin's email (default `admin@localhost`)."
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="First run only: the admin's password. When unset a random one is printed "
        "once to the console.",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["json", "console"] = Field(
        default="json", description="`json` (one object per line) or `console` (human)."
    )
    host: str = Field(default="127.0.0.1", description="Address `dockyard serve` binds.")
    port: int = Field(default=8700, ge=1, le=65535, description="Port `dockyard serve` binds.")
    audit_retention_days: int = Field(
        default=MIN_AUDIT_RETENTION_DAYS,
        description=f"Days audit events are kept; at least {MIN_AUDIT_RETENTION_DAYS}.",
    )
    access_token_ttl_s: int = Field(default=900, ge=60, description="Access token lifetime (s).")
    refresh_token_ttl_s: int = Field(
        default=7 * 86400, ge=300, description="Refresh token lifetime (s), renewed on each use."
    )
    session_max_age_s: int = Field(
        default=30 * 86400, ge=300, description="A login session ends after this, refresh or not."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins before an account is locked."
    )
    login_lockout_s: int = Field(default=900, ge=1, description="How long a lock lasts (s).")
    login_rate_per_minute: int = Field(
        default=20, ge=1, description="Login attempts allowed per client IP per minute."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Proxy IPs whose `X-Forwarded-For` is trusted (JSON list).",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Extra browser origins allowed on the WebSocket (JSON list); the "
        "server's own origin always is.",
    )
    default_publish_ip: str = Field(
        default="0.0.0.0",
        description="Host IP for published ports that name none (`127.0.0.1` keeps them local).",
    )
    deploy_wait_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="How long a deploy waits for a dependency to be healthy or complete (s).",
    )
    state_reconcile_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often each node's containers are re-listed to repair the state cache (s).",
    )
    engine_timeout_s: float = Field(
        default=30.0, gt=0, description="Timeout of one Docker Engine API call (s)."
    )

    @field_validator("audit_retention_days")
    @classmethod
    def _retention_floor(cls, value: int) -> int:
        if value < MIN_AUDIT_RETENTION_DAYS:
            raise ValueError(
                f"DOCKYARD_AUDIT_RETENTION_DAYS must be at least {MIN_AUDIT_RETENTION_DAYS}"
            )
        return value

    @field_validator("default_publish_ip")
    @classmethod
    def _publish_ip(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise ValueError("DOCKYARD_DEFAULT_PUBLISH_IP must be an IP address") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _level_name(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("DOCKYARD_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return upper

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'dockyard.db').resolve()}"

    @cached_property
    def resolved_docker_host(self) -> str:
        """The local engine's address: the setting, then `DOCKER_HOST`, then the socket."""
        return self.docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST

    @property
    def database_kind(self) -> Literal["sqlite", "postgresql"]:
        """Which database family the URL points at."""
        return "postgresql" if self.resolved_database_url.startswith("postgresql") else "sqlite"

    def ensure_data_dir(self) -> Path:
        """Create the data dir (0700) if missing and return it; an existing one is left as is."""
        if not self.data_dir.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.data_dir.chmod(0o700)  # mkdir's mode is filtered by the umask
        return self.data_dir

    def load_secret_key(self) -> str:
        """Return the signing key, generating `<data dir>/secret_key` (0600) on first use."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if len(value) < 32:
                raise ValueError("DOCKYARD_SECRET_KEY must be at least 32 characters")
            return value
        path = self.ensure_data_dir() / "secret_key"
        if path.exists():
            return path.read_text().strip()
        key = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting at once must not both write a key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        return key
