"""A real scale-out set on this machine: N `dockyard serve` replicas on one fresh PostgreSQL
database and the test Redis, optionally a `dockyard worker`, a `dockyard beat` and nginx
(TLS, rendered from deploy/nginx/dockyard.conf) in front.

    from bench.replicas import replica_set

    with replica_set(replicas=2, worker=True, nginx=True) as rs:
        token = rs.admin_token()                      # cached; rs.login() for a new session
        httpx.get(f"{rs.replicas[1].base_url}/api/v1/services",
                  headers={"Authorization": f"Bearer {token}"})
        httpx.get(f"{rs.proxy_url}/healthz", verify=rs.proxy.tls())
        rs.replicas[0].kill()                         # SIGKILL (.stop(): SIGTERM)
        rs.start_replica()                            # one more on the same database

Needs DOCKYARD_TEST_POSTGRES_URL and DOCKYARD_TEST_REDIS_URL (`source
/run/dockyard-test/env.sh`); the local node's engine is DOCKYARD_TEST_DOCKER_HOST. A
uniquely named database is created and dropped at the end; every process is stopped and
every temporary folder removed, also after a failure. BENCH_SERVER_LOG is not used: each
process writes its own log (`replica.log_path`, `rs.worker_log`, `rs.nginx_dir`),
`rs.logs()` returns their tails for a failure message, and BENCH_REPLICA_LOGS=<folder>
keeps them after the set is gone.

Every process gets the same DOCKYARD_SECRET_KEY, DATABASE_URL and REDIS_URL, its own data
dir, and replicas their DOCKYARD_REPLICA_URL. Channels and Celery queues are named after
the database's instance id, so sets sharing one Redis do not hear each other.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench.fleetkit import SERVER_ENV, clean_environ, dockyard_executable, stop
from bench.server_process import ADMIN_EMAIL, ADMIN_PASSWORD, Server, free_port

REPO = Path(__file__).resolve().parents[1]
NGINX_SITE = REPO / "deploy" / "nginx" / "dockyard.conf"
NGINX_WRAPPER = REPO / "deploy" / "nginx" / "nginx-test.conf.template"
# nginx connects to the replicas from this loopback address, so a test can trust the proxy
# (DOCKYARD_TRUSTED_PROXIES) without trusting a direct client on 127.0.0.1.
NGINX_SOURCE_IP = "127.0.0.2"
START_TIMEOUT_S = 90.0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(
            line if len(line) <= 1500 else line[:300] + " ... " + line[-1200:] for line in tail
        )
    except OSError:
        return "(no log)"


@dataclass
class Replica(Server):
    """One `dockyard serve` of the set (`base_url`, `process`, `data_dir` from Server)."""

    index: int = 0
    port: int = 0
    log_path: Path = Path()

    def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM (graceful shutdown), SIGKILL after `timeout_s`."""
        stop(self.process, timeout_s=timeout_s)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 30) -> str:
        return _tail(self.log_path, lines)

    def wait_ready(self) -> None:
        _wait_ready(f"{self.base_url}/readyz", self.process, f"replica {self.index}", self.log_path)


@dataclass
class ReplicaSet:
    database_url: str
    redis_url: str
    secret_key: str
    root: Path
    env: dict[str, str]
    replicas: list[Replica] = field(default_factory=list)
    worker: subprocess.Popen[bytes] | None = None
    worker_log: Path | None = None
    beat: subprocess.Popen[bytes] | None = None
    beat_log: Path | None = None
    proxy_url: str | None = None
    proxy_http_url: str | None = None
    proxy_cert: Path | None = None
    nginx: subprocess.Popen[bytes] | None = None
    nginx_dir: Path | None = None
    proxy: Proxy | None = None
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ADMIN_PASSWORD
    _token: str | None = None
    _stack: ExitStack = field(default_factory=ExitStack)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- clients

    def login(self, base_url: str | None = None) -> str:
        """A new access token of the admin (a new login session), through `base_url`
        (default: the first live replica)."""
        url = base_url or self.live()[0].base_url
        response = httpx.post(
            f"{url}/api/v1/auth/login",
            json={"email": self.admin_email, "password": self.admin_password},
            timeout=30,
            verify=self.proxy.tls() if self.proxy else True,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def admin_token(self) -> str:
        """The admin's access token (one login, cached; valid 2 h on every replica)."""
        with self._lock:
            if self._token is None:
                self._token = self.login()
            return self._token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token()}"}

    def live(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]

    # -- processes

    def start_replica(self, extra_env: dict[str, str] | None = None) -> Replica:
        """One more `dockyard serve` on the set's database, ready when `/readyz` answers."""
        replica = self.spawn_replica(extra_env)
        replica.wait_ready()
        return replica

    def spawn_replica(self, extra_env: dict[str, str] | None = None) -> Replica:
        """One more `dockyard serve`, started but not waited for (`replica.wait_ready()`)."""
        index = len(self.replicas)
        port = free_port()
        data_dir = self.root / f"replica-{index}"
        data_dir.mkdir()
        log_path = self.root / f"replica-{index}.log"
        base_url = f"http://127.0.0.1:{port}"
        env = {
            **self.env,
            "DOCKYARD_DATA_DIR": str(data_dir),
            "DOCKYARD_REPLICA_URL": base_url,
            **(extra_env or {}),
        }
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [dockyard_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        replica = Replica(base_url, process, data_dir, index=index, port=port, log_path=log_path)
        self.replicas.append(replica)
        return replica

    def _start_process(self, name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        data_dir = self.root / name
        data_dir.mkdir(exist_ok=True)
        log_path = self.root / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [dockyard_executable(), *args],
                env={**self.env, "DOCKYARD_DATA_DIR": str(data_dir)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while "ready" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockyard {name} did not start:\n{_tail(log_path)}")
            time.sleep(0.2)
        return process, log_path

    def start_worker(self, concurrency: int = 4) -> subprocess.Popen[bytes]:
        """A `dockyard worker` (Celery, jobs from Redis); ready when it says so."""
        self.worker, self.worker_log = self._start_process(
            "worker", ["worker", "--concurrency", str(concurrency)]
        )
        return self.worker

    def start_beat(self) -> subprocess.Popen[bytes]:
        self.beat, self.beat_log = self._start_process("beat", ["beat"])
        return self.beat

    def nginx_upstreams(self) -> list[str]:
        """`host:port` of the replica each proxied request went to (nginx's access log)."""
        return self.proxy.upstreams() if self.proxy else []

    def logs(self, lines: int = 30) -> str:
        """The tails of every process's log (for a failure message)."""
        parts = [f"--- replica {r.index} ({r.base_url}):\n{r.tail(lines)}" for r in self.replicas]
        for name, path in (("worker", self.worker_log), ("beat", self.beat_log)):
            if path is not None:
                parts.append(f"--- {name}:\n{_tail(path, lines)}")
        if self.nginx_dir is not None:
            parts.append(f"--- nginx:\n{_tail(self.nginx_dir / 'error.log', lines)}")
        return "\n".join(parts)


def _wait_ready(
    url: str,
    process: subprocess.Popen[bytes],
    what: str,
    log_path: Path,
    *,
    verify: ssl.SSLContext | bool = True,
    timeout_s: float = START_TIMEOUT_S,
) -> None:
    """Poll `url` until it answers 200; fail with the log's tail when `process` exits or
    `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, verify=verify, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{_tail(log_path)}")
        time.sleep(0.2)


# ---------------------------------------------------------------- PostgreSQL


def _in_thread(coro_factory: Any) -> Any:
    """Run an async function to completion in a thread of its own (callers may be inside
    an event loop, e.g. an async test)."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(coro_factory()))
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0] if result else None


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin_execute(admin_url: str, *statements: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    async def work() -> None:
        conn = await asyncpg.connect(_admin_dsn(admin_url), timeout=10)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    _in_thread(work)


@contextmanager
def fresh_database(admin_url: str | None = None) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server; dropped at the end."""
    admin_url = admin_url or os.environ.get("DOCKYARD_TEST_POSTGRES_URL")
    if not admin_url:
        raise RuntimeError(
            "DOCKYARD_TEST_POSTGRES_URL is not set: source /run/dockyard-test/env.sh"
        )
    name = f"dockyard_rs_{secrets.token_hex(4)}"
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        for attempt in range(10):
            try:
                _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except Exception:
                if attempt == 9:
                    raise
                time.sleep(0.5)


# ---------------------------------------------------------------- nginx


def render_nginx_site(
    upstreams: list[str], https_port: int, http_port: int, cert: Path, key: Path
) -> str:
    """deploy/nginx/dockyard.conf with these replicas, loopback ports and certificate.

    Each substitution must match exactly as often as expected: a change to the shipped
    file that the tests would no longer exercise fails here, loudly."""
    text = NGINX_SITE.read_text()

    def sub(pattern: str, replacement: str, count: int) -> None:
        nonlocal text
        text, found = re.subn(pattern, replacement, text, flags=re.M)
        if found != count:
            raise RuntimeError(f"{NGINX_SITE}: {pattern!r} matched {found} times, not {count}")

    line = "    server {} max_fails=1 fail_timeout=5s;\n"
    one = re.escape(line).replace(r"\{\}", r"\S+")
    sub(f"^(?:{one})+", "".join(line.format(u) for u in upstreams), 1)
    sub(r"^    listen \[::\]:\d+.*\n", "", 2)
    sub(r"^    listen 80;", f"    listen 127.0.0.1:{http_port};", 1)
    sub(r"^    listen 443 ssl http2;", f"    listen 127.0.0.1:{https_port} ssl http2;", 1)
    sub(r"^    ssl_certificate .*;", f"    ssl_certificate {cert};", 1)
    sub(r"^    ssl_certificate_key .*;", f"    ssl_certificate_key {key};", 1)
    # From a loopback address of its own, so the replicas can trust it alone.
    sub(
        r"^    proxy_http_version 1.1;",
        f"    proxy_http_version 1.1;\n    proxy_bind {NGINX_SOURCE_IP};",
        1,
    )
    return text


@dataclass
class Proxy:
    """One nginx: HTTPS on `url` (certificate `cert`), the HTTP redirect on `http_url`."""

    url: str
    http_url: str
    cert: Path
    dir: Path
    process: subprocess.Popen[bytes]

    def tls(self) -> ssl.SSLContext:
        """A client TLS context trusting exactly this proxy's certificate."""
        return ssl.create_default_context(cafile=str(self.cert))

    def upstreams(self) -> list[str]:
        """`host:port` of the replica each proxied request went to (from the access log)."""
        text = (self.dir / "access.log").read_text(errors="replace")
        return re.findall(r"upstream=(\S+)", text)


def start_nginx(rs: ReplicaSet, upstreams: list[str]) -> Proxy:
    """nginx in front of `upstreams`, stopped when the set closes. The first one started
    is the set's own (`rs.proxy_url`, `rs.proxy_cert`, ...)."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        raise RuntimeError("nginx is not installed (Debian's `nginx`; scripts/test-env.sh up)")
    from dockyard.kit.tls import ensure_self_signed

    prefix = Path(tempfile.mkdtemp(prefix="nginx-", dir=rs.root))
    cert, key = ensure_self_signed(prefix)
    https_port, http_port = free_port(), free_port()
    site = prefix / "dockyard.conf"
    site.write_text(render_nginx_site(upstreams, https_port, http_port, cert, key))
    main = NGINX_WRAPPER.read_text()
    main = main.replace("@@PREFIX@@", str(prefix)).replace("@@SITE@@", str(site))
    main = main.replace("@@USER@@", "user root root;" if os.geteuid() == 0 else "")
    conf = prefix / "nginx.conf"
    conf.write_text(main)
    command = [nginx, "-c", str(conf), "-p", str(prefix), "-e", str(prefix / "error.log")]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
    with (prefix / "stderr.log").open("ab") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    rs._stack.callback(_stop_nginx, process)
    proxy = Proxy(
        f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", cert, prefix, process
    )
    _wait_ready(
        f"{proxy.url}/healthz",
        process,
        "nginx",
        prefix / "error.log",
        verify=proxy.tls(),
        timeout_s=20,
    )
    if rs.proxy is None:
        rs.proxy = proxy
        rs.nginx, rs.nginx_dir, rs.proxy_cert = process, prefix, cert
        rs.proxy_url, rs.proxy_http_url = proxy.url, proxy.http_url
    return proxy


def _stop_nginx(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# ---------------------------------------------------------------- the set


@contextmanager
def replica_set(
    replicas: int = 2,
    *,
    worker: bool = False,
    beat: bool = False,
    nginx: bool = False,
    extra_env: dict[str, str] | None = None,
    replica_env: list[dict[str, str]] | None = None,
    worker_concurrency: int = 4,
) -> Iterator[ReplicaSet]:
    """`replicas` replicas (+ worker, beat, nginx) on a fresh database; all gone at the end.

    `extra_env` goes to every process (e.g. DOCKYARD_TRUSTED_PROXIES), `replica_env[i]` to
    replica i only. With nginx, `NGINX_SOURCE_IP` is where its requests come from.
    """
    redis_url = os.environ.get("DOCKYARD_TEST_REDIS_URL")
    if not redis_url:
        raise RuntimeError("DOCKYARD_TEST_REDIS_URL is not set: source /run/dockyard-test/env.sh")
    with ExitStack() as outer:
        root = Path(outer.enter_context(tempfile.TemporaryDirectory(prefix="dockyard-rs-")))
        database_url = outer.enter_context(fresh_database())
        secret_key = secrets.token_urlsafe(48)
        defaults = dict(
            DOCKYARD_DATABASE_URL=database_url,
            DOCKYARD_REDIS_URL=redis_url,
            DOCKYARD_SECRET_KEY=secret_key,
            DOCKYARD_ADMIN_EMAIL=ADMIN_EMAIL,
            DOCKYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
            DOCKYARD_LOG_LEVEL="WARNING",
            DOCKYARD_LOGIN_RATE_PER_MINUTE="100000",
            # Benchmarks and load tests send thousands of requests a minute as the admin.
            DOCKYARD_API_RATE_PER_MINUTE="10000000",
            DOCKYARD_DOCKER_HOST=os.environ.get(
                "DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"
            ),
            **SERVER_ENV,
        )
        env = clean_environ(**{**defaults, **(extra_env or {})})
        rs = ReplicaSet(database_url, redis_url, secret_key, root, env)
        outer.callback(_stop_all, rs)  # runs before the database is dropped
        outer.enter_context(rs._stack)
        migrate = subprocess.run(
            [dockyard_executable(), "migrate"],
            env={**env, "DOCKYARD_DATA_DIR": str(root / "migrate")},
            capture_output=True,
            text=True,
            check=False,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"dockyard migrate failed:\n{migrate.stdout}\n{migrate.stderr}")
        # The first replica creates the admin; the others then start side by side.
        per_replica = replica_env or []
        for index in range(replicas):
            replica = rs.spawn_replica(per_replica[index] if index < len(per_replica) else None)
            if index == 0:
                replica.wait_ready()
        if worker:
            rs.start_worker(worker_concurrency)
        if beat:
            rs.start_beat()
        for replica in rs.replicas[1:]:
            replica.wait_ready()
        if nginx:
            start_nginx(rs, [f"127.0.0.1:{r.port}" for r in rs.replicas])
        yield rs


def _stop_all(rs: ReplicaSet) -> None:
    """Stop every process (nginx first, through the set's own stack), in parallel; with
    BENCH_REPLICA_LOGS=<folder>, keep every process's log there (the set's folder goes)."""
    try:
        rs._stack.close()
        _stop_processes(rs)
    finally:
        keep = os.environ.get("BENCH_REPLICA_LOGS")
        if keep:
            target = Path(keep) / rs.root.name
            target.mkdir(parents=True, exist_ok=True)
            for log in [*rs.root.glob("*.log"), *rs.root.glob("nginx-*/*.log")]:
                name = f"{log.parent.name}-{log.name}" if log.parent != rs.root else log.name
                shutil.copy(log, target / name)


def _stop_processes(rs: ReplicaSet) -> None:
    processes = [r.process for r in rs.replicas] + [p for p in (rs.worker, rs.beat) if p]
    threads = [
        threading.Thread(target=stop, args=(p,), kwargs={"timeout_s": 30}) for p in processes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
