"""Runtime configuration, read from `DOCKYARD_*` environment variables."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_AUDIT_RETENTION_DAYS = 90
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# A secret key containing one of these is refused in production (defaults, placeholders).
WEAK_SECRET_WORDS = (
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "password",
    "dockyard",
    "example",
    "default",
    "insecure",
    "0123456789",
    "abcdefgh",
)


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
        description="How often each node's containers are re-listed to repair the state cache "
        "(s; each pause varies by a quarter either way, so nodes do not re-list in step).",
    )
    engine_timeout_s: float = Field(
        default=30.0, gt=0, description="Timeout of one Docker Engine API call (s)."
    )
    update_check_concurrency: int = Field(
        default=8, ge=1, le=64, description="Registry requests an update check runs at once."
    )
    update_check_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of one registry request of an update check (s)."
    )
    update_check_jitter_s: float = Field(
        default=0.02,
        ge=0,
        description="Up to this random delay before each registry request (s), to spread load.",
    )
    update_check_cache_ttl_s: float = Field(
        default=300.0,
        ge=0,
        description="Checks that accept a cached answer reuse a stored registry digest this "
        "young (s); service checks (API, UI, update policies) always ask the registry.",
    )
    mfa_required_roles: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Roles whose users must enroll TOTP MFA before using anything but their "
        "account page (comma list or JSON list, e.g. `admin,operator`).",
    )
    mfa_rate_per_minute: int = Field(
        default=10,
        ge=1,
        description="MFA code and re-authentication attempts allowed per account a minute "
        "(per client IP: five times as many).",
    )
    external_jwt_mode: Literal["off", "hs256", "jwks"] = Field(
        default="off",
        description="Accept bearer JWTs from an external identity provider: `off`, `hs256` "
        "(shared secret, e.g. self-hosted Supabase) or `jwks` (RS256/ES256 keys from a URL).",
    )
    external_jwt_secret: SecretStr | None = Field(
        default=None, description="`hs256` mode: the provider's shared signing secret."
    )
    external_jwt_jwks_url: str | None = Field(
        default=None, description="`jwks` mode: the provider's JWKS URL (keys are cached)."
    )
    external_jwt_audience: str | None = Field(
        default=None, description="Required `aud` of external tokens."
    )
    external_jwt_issuer: str | None = Field(
        default=None, description="Required `iss` of external tokens (must not be `dockyard`)."
    )
    external_jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Allowed algorithms (default `HS256` in hs256 mode, `RS256,ES256` in jwks "
        "mode); `none` and, in jwks mode, HMAC algorithms are always refused.",
    )
    external_jwt_email_claim: str = Field(
        default="email", description="Claim holding the user's email (dotted path allowed)."
    )
    external_jwt_role_claim: str | None = Field(
        default=None,
        description="Claim holding the provider's role (dotted path, e.g. `app_metadata.role`).",
    )
    external_jwt_role_mapping: dict[str, str] = Field(
        default_factory=dict,
        description='Provider role -> Dockyard role (JSON object, e.g. `{"ops": "operator"}`).',
    )
    external_jwt_auto_provision: bool = Field(
        default=False,
        description="Create unknown users on their first external token (else only existing "
        "users may sign in this way).",
    )
    external_jwt_default_role: str = Field(
        default="viewer", description="Role of auto-provisioned users without a mapped role."
    )
    redis_url: str | None = Field(
        default=None,
        description="Scale-out: Redis URL (`redis://host:6379/0`). When set, jobs run on "
        "`dockyard worker` processes (Celery, Redis broker) instead of inside `dockyard serve`.",
    )
    replica_url: str | None = Field(
        default=None,
        description="Scale-out: how the other server replicas reach this one (`http://server-1:8700`"
        "), to relay commands to the agents connected here. Default: `http://<host>:<port>` of "
        "`dockyard serve` (`127.0.0.1` when it binds every address).",
    )
    run_scheduler: bool = Field(
        default=True,
        description="Whether `dockyard serve` fires due schedules itself. Safe with any number "
        "of servers and `dockyard beat` processes (schedules are claimed in the database); set "
        "false on API replicas when a `dockyard beat` runs.",
    )
    schedule_poll_interval_s: float = Field(
        default=5.0, gt=0, description="How often due schedules are looked for (s)."
    )
    job_heartbeat_s: float = Field(
        default=10.0,
        gt=0,
        description="How often a running job's process records that it is alive (s). A job "
        "silent for 3 intervals is marked failed as interrupted.",
    )
    worker_concurrency: int = Field(
        default=4, ge=1, description="Jobs one `dockyard worker` runs at once."
    )
    shutdown_grace_s: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM/SIGINT, how long `dockyard serve`, `worker` and `beat` let "
        "running jobs (and open HTTP requests) finish (s). Jobs still running then are marked "
        "failed (interrupted by shutdown; not re-run); queued ones stay queued for the next "
        "process. Give the supervisor a longer stop timeout (systemd `TimeoutStopSec`, "
        "compose `stop_grace_period`).",
    )
    env: Literal["development", "production"] = Field(
        default="development",
        description="`production` refuses to start with a missing, short or well-known secret "
        "key (set `DOCKYARD_SECRET_KEY` or keep the generated key file).",
    )
    tls_cert: Path | None = Field(
        default=None, description="`dockyard serve`: PEM certificate file to serve HTTPS with."
    )
    tls_key: Path | None = Field(
        default=None, description="`dockyard serve`: PEM private key of `DOCKYARD_TLS_CERT`."
    )
    tls_self_signed: bool = Field(
        default=False,
        description="`dockyard serve`: serve HTTPS with a self-signed certificate created once "
        "in `<data dir>/tls/` and reused.",
    )
    api_rate_per_minute: int = Field(
        default=1200, ge=1, description="API requests allowed per user per minute (then 429)."
    )
    allowed_bind_roots: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host folders non-admins may bind-mount (comma list of absolute paths); "
        "empty: no bind mounts for non-admins.",
    )
    quota_max_services: int | None = Field(
        default=10,
        ge=0,
        description="Default quota: services per non-admin user (unset: no limit).",
    )
    quota_max_containers: int | None = Field(
        default=20, ge=0, description="Default quota: containers per non-admin user."
    )
    quota_max_cpus: float | None = Field(
        default=4.0, ge=0, description="Default quota: total CPUs of a non-admin's containers."
    )
    quota_max_memory_bytes: int | None = Field(
        default=8 * 1024**3, ge=0, description="Default quota: total memory limit (bytes)."
    )
    quota_max_gpus: int | None = Field(
        default=0, ge=0, description="Default quota: GPUs a non-admin's containers may reserve."
    )
    quota_default_cpus: float = Field(
        default=1.0, gt=0, description="CPU limit forced on a non-admin's container without one."
    )
    quota_default_memory: int = Field(
        default=512 * 1024**2,
        ge=4 * 1024**2,
        description="Memory limit (bytes) forced on a non-admin's container without one.",
    )
    placement_port_range: str = Field(
        default="20000-29999",
        pattern=r"^\d{4,5}-\d{4,5}$",
        description="Host ports `auto` ports are taken from on a node without its own ranges.",
    )
    quota_default_pids: int = Field(
        default=512, ge=1, description="PIDs limit forced on (and cap of) a non-admin's container."
    )
    host_import_max_bytes: int = Field(
        default=64 * 1024**2,
        ge=1024,
        description="Largest host CSV import body (bytes); a larger one is refused with 413.",
    )
    artifact_max_bytes: int = Field(
        default=2 * 1024**3,
        ge=1,
        description="Largest host artifact upload (bytes); a larger one is refused with 413.",
    )
    artifact_retention_days: int = Field(
        default=0,
        ge=0,
        description="Host artifacts older than this many days are deleted (0: kept forever).",
    )
    ssh_idle_timeout_s: int = Field(
        default=900,
        ge=1,
        description="A web SSH terminal without input for this long is closed (s).",
    )
    ssh_connect_timeout_s: float = Field(
        default=15.0, gt=0, description="Timeout of connecting and logging in over SSH (s)."
    )
    config_snapshot_retention: int = Field(
        default=200,
        ge=0,
        description="Configuration snapshots kept (the oldest beyond this are deleted; 0: all).",
    )
    config_snapshot_delay_s: float = Field(
        default=2.0,
        ge=0,
        description="A configuration snapshot is taken this long after the last change (s).",
    )
    health_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts health checks may reach: comma list of hostnames (`.example.com` "
        "includes subdomains) and CIDRs (`10.0.0.0/8`); empty: any. Redirects to other hosts "
        "are refused.",
    )
    health_max_concurrency: int = Field(
        default=50, ge=1, description="Health checks probing at the same time (per process)."
    )
    health_retention_days: int = Field(
        default=30, ge=1, description="Days health check results (history) are kept."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token that `GET /metrics` (Prometheus) requires; unset: the "
        "endpoint is disabled (404).",
    )
    exec_idle_timeout_s: float = Field(
        default=900,
        gt=0,
        description="A container terminal with no input for this long is closed (s).",
    )
    exec_max_session_s: float = Field(
        default=8 * 3600, gt=0, description="Longest a container terminal session lasts (s)."
    )
    files_max_view_bytes: int = Field(
        default=1024**2,
        ge=1024,
        description="Largest container file shown or edited as text in the file browser (bytes).",
    )
    files_max_upload_bytes: int = Field(
        default=1024**3,
        ge=1,
        description="Largest file uploaded into a container (bytes); larger is refused with 413.",
    )
    files_max_list_entries: int = Field(
        default=5000, ge=10, description="Most entries one container folder listing returns."
    )
    files_max_list_scan_bytes: int = Field(
        default=512 * 1024**2,
        ge=1024**2,
        description="Listing a container folder reads its archive stream (headers only, bodies "
        "skipped) up to this many bytes; past it the listing is marked truncated.",
    )
    agent_heartbeat_s: float = Field(
        default=5.0,
        gt=0,
        description="How often agents send a heartbeat (s); an agent silent for two is offline.",
    )
    metrics_interval: float = Field(
        default=10.0, gt=0, description="How often host and container metrics are sampled (s)."
    )
    metrics_raw_retention_h: int = Field(
        default=24, ge=1, le=24 * 30, description="Hours raw metrics samples are kept."
    )
    metrics_minute_retention_days: int = Field(
        default=7, ge=1, le=365, description="Days 1-minute metrics averages are kept."
    )
    metrics_hour_retention_days: int = Field(
        default=90, ge=1, le=3650, description="Days 1-hour metrics averages are kept."
    )
    metrics_concurrency: int = Field(
        default=8,
        ge=1,
        le=64,
        description=(
            "Engine requests a metrics sweep runs at once (container inspects for the cgroup"
            " fast path, one-shot stats where cgroup files are not readable)."
        ),
    )
    agent_max_frame_bytes: int = Field(
        default=1024**2,
        ge=128 * 1024,
        description="Largest WebSocket frame an agent may send (bytes); larger closes it (1009).",
    )
    ws_compression: bool = Field(
        default=False,
        description=(
            "Offer permessage-deflate on WebSockets (browsers ask for it; agents do not). Off by"
            " default: each socket compresses every frame on its own, which costs the server"
            " CPU and tens of KiB of memory per socket, for frames that are mostly small; turn"
            " it on for slow links."
        ),
    )
    agent_enrollment_ttl_s: int = Field(
        default=3600, ge=1, description="How long a node's enrollment token is valid (s)."
    )

    @field_validator("allowed_bind_roots", mode="before")
    @classmethod
    def _bind_roots(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                value = json.loads(value)
            else:
                value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for root in value:
                if not isinstance(root, str) or not root.startswith("/"):
                    raise ValueError("DOCKYARD_ALLOWED_BIND_ROOTS must list absolute paths")
        return value

    @field_validator(
        "mfa_required_roles", "external_jwt_algorithms", "health_allowed_hosts", mode="before"
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _external_jwt(self) -> Settings:
        if self.external_jwt_mode == "off":
            return self
        if not self.external_jwt_audience or not self.external_jwt_issuer:
            raise ValueError(
                "DOCKYARD_EXTERNAL_JWT_AUDIENCE and DOCKYARD_EXTERNAL_JWT_ISSUER are required "
                "when DOCKYARD_EXTERNAL_JWT_MODE is on"
            )
        if self.external_jwt_issuer == "dockyard":
            raise ValueError("DOCKYARD_EXTERNAL_JWT_ISSUER must differ from Dockyard's own")
        hmac_algs = {"HS256", "HS384", "HS512"}
        if self.external_jwt_mode == "hs256":
            secret = self.external_jwt_secret
            if secret is None or len(secret.get_secret_value()) < 32:
                raise ValueError("DOCKYARD_EXTERNAL_JWT_SECRET must be at least 32 characters")
            allowed, default = hmac_algs, ["HS256"]
        else:
            if not self.external_jwt_jwks_url:
                raise ValueError("DOCKYARD_EXTERNAL_JWT_JWKS_URL is required in jwks mode")
            allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"}
            allowed |= {"ES512", "EdDSA"}
            default = ["RS256", "ES256"]
        if not self.external_jwt_algorithms:
            self.external_jwt_algorithms = default
        refused = [a for a in self.external_jwt_algorithms if a not in allowed]
        if refused:
            raise ValueError(
                f"DOCKYARD_EXTERNAL_JWT_ALGORITHMS: {', '.join(refused)} not allowed in "
                f"{self.external_jwt_mode} mode"
            )
        return self

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

    @property
    def resolved_replica_url(self) -> str:
        """How peers reach this replica: `replica_url`, else derived from `host`/`port`."""
        if self.replica_url:
            return self.replica_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{self.port}"

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

    def production_problems(self) -> list[str]:
        """Why this configuration must not run with `DOCKYARD_ENV=production` (empty: fine)."""
        if self.env != "production":
            return []
        if self.secret_key is None:
            path = self.data_dir / "secret_key"
            if not path.exists():
                return [
                    "DOCKYARD_SECRET_KEY is not set and there is no key file "
                    f"{path}: set a random key of at least 32 characters "
                    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                ]
            value, name = path.read_text().strip(), str(path)
        else:
            value, name = self.secret_key.get_secret_value(), "DOCKYARD_SECRET_KEY"
        lowered = value.lower()
        if len(value) < 32:
            return [f"{name} is too short: use at least 32 random characters"]
        if len(set(value)) < 12 or any(word in lowered for word in WEAK_SECRET_WORDS):
            return [f"{name} looks like a default or guessable value: use a random key"]
        return []

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
