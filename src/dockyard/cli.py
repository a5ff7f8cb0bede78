"""The `dockyard` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from dockyard import __version__
from dockyard.client.commands import login as client_login
from dockyard.client.commands import logout as client_logout
from dockyard.client.commands import service_app
from dockyard.client.config_commands import config_app
from dockyard.client.fleet_commands import container_app, node_app, replica_app
from dockyard.config.cli import backup_app
from dockyard.settings import Settings

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

T = TypeVar("T")

app = typer.Typer(
    name="dockyard",
    help="Dockyard: a self-hosted command center for Docker fleets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
user_app = typer.Typer(
    help="Manage user accounts (local, on the server's database).", no_args_is_help=True
)
audit_app = typer.Typer(help="Inspect the audit log.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(service_app, name="service")
app.add_typer(node_app, name="node")
app.add_typer(container_app, name="container")
app.add_typer(replica_app, name="replica")
registry_app = typer.Typer(help="Registry credentials stored on the server.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
app.add_typer(config_app, name="config")
app.add_typer(backup_app, name="backup")
app.command("login")(client_login)
app.command("logout")(client_logout)


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        typer.echo(f"Configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def _stop_requests() -> Iterator[list[int]]:
    """While the body runs, SIGTERM/SIGINT are recorded (in the yielded list), not fatal."""
    import signal

    asked: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: asked.append(signum))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield asked
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(factory: Callable[[Runtime], Awaitable[T]]) -> T:
    """Start the runtime (migrate + bootstrap), run one coroutine with it, shut down."""
    from dockyard.app import start_runtime
    from dockyard.logging_setup import configure_logging

    settings = _settings()
    configure_logging("WARNING", settings.log_format)

    async def main() -> T:
        runtime = await start_runtime(settings, first_admin=False)
        try:
            return await factory(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())


@app.command()
def version() -> None:
    """Print the Dockyard version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8700).")] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate: serve HTTPS (with --tls-key).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
    tls_self_signed: Annotated[
        bool,
        typer.Option(
            "--tls-self-signed",
            help="Serve HTTPS with a certificate created once in <data dir>/tls/ and reused.",
        ),
    ] = False,
) -> None:
    """Run the API server and web dashboard."""
    import math

    import uvicorn

    from dockyard.app import create_app
    from dockyard.kit.shutdown import GracefulServer, WebSocketTracker, exit_process
    from dockyard.kit.tls import tls_files

    settings = _settings()
    problems = settings.production_problems()
    if problems:
        raise _fail("refusing to start in production: " + "; ".join(problems), code=2)
    try:
        settings.ensure_data_dir()
        tls = tls_files(
            tls_cert or settings.tls_cert,
            tls_key or settings.tls_key,
            tls_self_signed or settings.tls_self_signed,
            settings.data_dir,
        )
    except ValueError as exc:
        raise _fail(str(exc), code=2) from exc
    if tls:  # the app knows the certificate it serves (enrollment tokens carry its fingerprint)
        settings = settings.model_copy(update={"tls_cert": tls[0], "tls_key": tls[1]})
    # The address it binds is also how its peers reach it unless DOCKYARD_REPLICA_URL says.
    settings = settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )
    application = create_app(settings)
    # Graceful shutdown on SIGTERM/SIGINT (see dockyard.kit.shutdown): browsers' sockets
    # closed with 1001, running jobs given DOCKYARD_SHUTDOWN_GRACE_S, exit status 0.
    tracker = WebSocketTracker(application)
    config = uvicorn.Config(
        tracker,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        ws="websockets-sansio",
        ws_per_message_deflate=settings.ws_compression,
        # Refuse oversized WebSocket frames before buffering them. Agents may send frames up
        # to DOCKYARD_AGENT_MAX_FRAME_BYTES; every other socket checks its own 64 KiB limit.
        ws_max_size=max(64 * 1024, settings.agent_max_frame_bytes),
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_grace_s)),
    )
    server = GracefulServer(
        config,
        runtime_of=lambda: getattr(application.state, "runtime", None),
        tracker=tracker,
        grace_s=settings.shutdown_grace_s,
    )
    server.run()
    if not server.started:
        raise typer.Exit(3)  # as uvicorn.run: the server could not start
    exit_process(0)


@app.command()
def migrate() -> None:
    """Apply database migrations (also done on every `serve`)."""
    from dockyard.migrations.runner import upgrade

    settings = _settings()
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")


def _read_password_stdin() -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise _fail("no password on standard input")
    return value


@user_app.command("create")
def user_create(
    email: str,
    role: Annotated[
        str,
        typer.Option(help="Role: admin, operator, auditor, viewer, user, or a custom role."),
    ] = "admin",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the UI.")] = None,
) -> None:
    """Create a user. Without --password-stdin a random password is printed once."""
    from dockyard.audit.service import Actor
    from dockyard.kit.errors import DockyardError
    from dockyard.users.service import create_user, generate_password

    password = _read_password_stdin() if password_stdin else generate_password()

    async def work(runtime: Runtime) -> int:
        async with runtime.db.session() as session:
            user = await create_user(
                session,
                email=email,
                password=password,
                role=role,
                actor=Actor.system("cli"),
                display_name=display_name,
            )
            await session.commit()
            return user.id

    try:
        user_id = _run(work)
    except DockyardError as exc:
        raise _fail(exc.message) from exc
    typer.echo(f"created user {email.strip().lower()} (id {user_id}, role {role})")
    if not password_stdin:
        typer.echo(f"password: {password}")


@user_app.command("reset-password")
def user_reset_password(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from standard input.")
    ] = False,
) -> None:
    """Set a new password (random unless given), unlock the account, end its sessions."""
    from dockyard.audit.service import Actor
    from dockyard.kit.errors import DockyardError
    from dockyard.users.service import generate_password, reset_password

    password = _read_password_stdin() if password_stdin else generate_password()

    async def work(runtime: Runtime) -> None:
        async with runtime.db.session() as session:
            await reset_password(session, email=email, password=password, actor=Actor.system("cli"))
            await session.commit()

    try:
        _run(work)
    except DockyardError as exc:
        raise _fail(exc.message) from exc
    typer.echo(f"password reset for {email.strip().lower()}; its sessions were ended")
    if not password_stdin:
        typer.echo(f"password: {password}")


@user_app.command("list")
def user_list() -> None:
    """Every user: id, email, role, active."""
    from dockyard.users.service import list_page

    async def work(runtime: Runtime) -> list[tuple[int, str, str, bool]]:
        async with runtime.db.read_session() as session:
            rows, _ = await list_page(session, search=None, role=None, limit=100_000, offset=0)
            return [(u.id, u.email, u.role, u.is_active) for u in rows]

    for user_id, email, role, active in _run(work):
        typer.echo(f"{user_id}\t{email}\t{role}\t{'active' if active else 'disabled'}")


@user_app.command("set-role")
def user_set_role(email: str, role: str) -> None:
    """Change a user's role (built-in or custom); ends the user's sessions."""
    from dockyard.audit.service import Actor
    from dockyard.kit.errors import DockyardError
    from dockyard.users import repository
    from dockyard.users.service import update_user

    async def work(runtime: Runtime) -> bool:
        async with runtime.db.session() as session:
            user = await repository.get_by_email(session, email)
            if user is None:
                raise _fail(f"no user with email {email.strip().lower()}")
            changed = await update_user(session, user, role=role, actor=Actor.system("cli"))
            await session.commit()
            return changed

    try:
        changed = _run(work)
    except DockyardError as exc:
        raise _fail(exc.message) from exc
    if changed:
        typer.echo(f"{email.strip().lower()} is now {role}; its sessions were ended")
    else:
        typer.echo(f"{email.strip().lower()} already has role {role}")


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Walk the hash chain; exit 1 naming the first bad row."""
    from dockyard.audit.service import verify_chain
    from dockyard.kit.db import Database
    from dockyard.migrations.runner import upgrade

    settings = _settings()

    async def work() -> tuple[bool, int, int | None, str | None]:
        db = Database(settings.resolved_database_url)
        try:
            result = await verify_chain(db)
        finally:
            await db.dispose()
        return result.ok, result.checked, result.bad_id, result.reason

    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url)
    ok, checked, bad_id, reason = asyncio.run(work())
    if as_json:
        typer.echo(json.dumps({"ok": ok, "checked": checked, "bad_id": bad_id, "reason": reason}))
    elif ok:
        typer.echo(f"audit chain OK: {checked} events verified")
    else:
        typer.echo(f"audit chain BROKEN at row {bad_id}: {reason}", err=True)
    if not ok:
        raise typer.Exit(1)


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Jobs run at once (default DOCKYARD_WORKER_CONCURRENCY).")
    ] = None,
) -> None:
    """Scale-out: run jobs sent through Redis (needs DOCKYARD_REDIS_URL)."""
    import os
    import socket

    # A stop asked while starting (imports, migrations, engines) waits for the start to
    # end, then exits 0; Celery's own handlers take over once it runs.
    with _stop_requests() as stop_requested:
        settings = _settings()
        if not settings.redis_url:
            raise _fail("dockyard worker needs DOCKYARD_REDIS_URL (the Redis broker)", 2)

        import dockyard.app  # noqa: F401  (registers every domain's job handlers)
        from dockyard.app import start_runtime
        from dockyard.jobs.celery_app import (
            WorkerHost,
            configure,
            drain_on_shutdown,
            queue_name,
            set_host,
        )
        from dockyard.kit.shutdown import exit_process
        from dockyard.logging_setup import configure_logging

        configure_logging(settings.log_level, settings.log_format)

        async def build() -> Runtime:
            runtime = await start_runtime(settings, first_admin=False, role="worker")
            await runtime.start()
            return runtime

        async def close(runtime: Runtime) -> None:
            await runtime.close()

        host = WorkerHost()
        runtime = host.start(build)
    if stop_requested:
        host.stop(close)
        exit_process(0)
    set_host(host)
    drain_on_shutdown(settings.shutdown_grace_s)  # SIGTERM: running jobs get the grace period
    typer.echo(f"dockyard worker {runtime.runner_id} ready", err=True)
    celery = configure(settings.redis_url)
    status = 0
    try:
        celery.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency or settings.worker_concurrency}",
                f"--loglevel={settings.log_level}",
                "--queues",
                queue_name(runtime.instance_id),
                "--hostname",
                f"dockyard-{socket.gethostname()}-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    except SystemExit as exc:  # Celery's own exit (a warm shutdown too)
        status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        raise
    finally:
        set_host(None)
        host.stop(close)
        exit_process(status)  # without waiting for Docker calls left by interrupted jobs


@app.command()
def beat() -> None:
    """Fire due schedules and periodic system work (recovery, audit retention), no HTTP.

    Any number may run, also next to `dockyard serve`: each due schedule is claimed in the
    database, so it fires once. With DOCKYARD_REDIS_URL jobs go to workers; without, they
    run in this process.
    """
    import signal

    # A stop asked while starting waits for the start to end, then exits 0.
    with _stop_requests() as stop_requested:
        import dockyard.app  # noqa: F401  (registers every domain's job handlers)
        from dockyard.app import start_runtime
        from dockyard.kit.shutdown import exit_process
        from dockyard.logging_setup import configure_logging
        from dockyard.scheduler import EmbeddedScheduler, install_system_jobs

        settings = _settings()
        configure_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if stop_requested:
            stop.set()
        runtime = await start_runtime(settings, first_admin=False, role="beat")
        await runtime.start()
        scheduler = EmbeddedScheduler(runtime)
        install_system_jobs(scheduler, schedules=True)
        from dockyard.health.runner import start_runner

        health_runner = start_runner(runtime)
        typer.echo(f"dockyard beat {runtime.runner_id} ready", err=True)
        try:
            await stop.wait()
        finally:
            await scheduler.stop()
            await health_runner.stop()
            await runtime.close()

    asyncio.run(main())
    exit_process(0)


@registry_app.command("rekey")
def registry_rekey(
    old_secret_stdin: Annotated[
        bool,
        typer.Option(
            "--old-secret-stdin", help="Read the previous DOCKYARD_SECRET_KEY from stdin."
        ),
    ] = False,
) -> None:
    """After changing the secret key: re-encrypt stored registry passwords with the new one."""
    from dockyard.registries.service import rekey

    if not old_secret_stdin:
        raise _fail("give the previous secret key on stdin with --old-secret-stdin", 2)
    old = sys.stdin.readline().strip()
    if not old:
        raise _fail("no previous secret key on stdin", 2)
    result = _run(lambda runtime: rekey(runtime, old))
    typer.echo(
        f"re-encrypted {result.reencrypted}, already current {result.current}, "
        f"unreadable {len(result.unreadable)}"
        + (f" ({', '.join(result.unreadable)}: enter them again)" if result.unreadable else "")
    )
    if result.unreadable:
        raise typer.Exit(1)


@app.command()
def agent(
    server: Annotated[
        list[str] | None,
        typer.Option(
            envvar="DOCKYARD_AGENT_SERVER",
            help="The Dockyard server URL; repeat it (or separate by commas) for several "
            "server replicas, tried in turn.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="DOCKYARD_AGENT_TOKEN",
            help="One-time enrollment token (first run only; later runs use the data dir).",
        ),
    ] = None,
    docker_host: Annotated[
        str, typer.Option(envvar="DOCKYARD_AGENT_DOCKER_HOST", help="This host's Docker engine.")
    ] = "unix:///var/run/docker.sock",
    data_dir: Annotated[
        Path,
        typer.Option(envvar="DOCKYARD_AGENT_DATA_DIR", help="Credential and event journal."),
    ] = Path("/var/lib/dockyard-agent"),
    allowed_bind_root: Annotated[
        list[str] | None,
        typer.Option(help="Host directory containers may bind-mount (repeatable; default none)."),
    ] = None,
    allow_privileged: Annotated[
        bool,
        typer.Option(help="Allow privileged containers, host namespaces, devices and cap_add."),
    ] = False,
    allow_build: Annotated[bool, typer.Option(help="Allow image builds (POST /build).")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the agent on a Docker host: it dials out to the server and serves its engine.

    Exit codes: 0 stopped, 1 failure, 2 bad configuration, 3 rejected by the server
    (invalid or revoked credential, refused enrollment; not retried).
    """
    import os

    # The agent runs as `python -m dockyard.agent` in this same process (exec): it then
    # carries none of this CLI's imports and never loads the server (FastAPI, SQLAlchemy).
    argv = [sys.executable, "-m", "dockyard.agent", "--docker-host", docker_host]
    argv += ["--data-dir", str(data_dir), "--log-level", log_level]
    for url in server or []:
        argv += ["--server", url]
    for root in allowed_bind_root or []:
        argv += ["--allowed-bind-root", root]
    if allow_privileged:
        argv.append("--allow-privileged")
    if allow_build:
        argv.append("--allow-build")
    env = dict(os.environ)
    if token:
        env["DOCKYARD_AGENT_TOKEN"] = token  # not in the new process's command line
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)  # noqa: S606 - our own interpreter and module


@app.command("openapi", hidden=True)
def openapi_dump() -> None:
    """Print the OpenAPI document (used to generate the UI's typed client)."""
    from dockyard.app import create_app

    schema = create_app(Settings(), configure_logs=False).openapi()
    typer.echo(json.dumps(schema, indent=2, sort_keys=True))


if __name__ == "__main__":
    app()
