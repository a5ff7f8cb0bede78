"""The `dockyard` command line."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from dockyard import __version__
from dockyard.client.commands import login as client_login
from dockyard.client.commands import logout as client_logout
from dockyard.client.commands import service_app
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
) -> None:
    """Run the API server and web dashboard."""
    import uvicorn

    from dockyard.app import create_app

    settings = _settings()
    application = create_app(settings)
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        ws="websockets-sansio",
        # Refuse oversized WebSocket frames before buffering them.
        ws_max_size=64 * 1024,
    )


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
    role: Annotated[str, typer.Option(help="Role of the new user.")] = "admin",
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


@app.command("openapi", hidden=True)
def openapi_dump() -> None:
    """Print the OpenAPI document (used to generate the UI's typed client)."""
    from dockyard.app import create_app

    schema = create_app(Settings(), configure_logs=False).openapi()
    typer.echo(json.dumps(schema, indent=2, sort_keys=True))


if __name__ == "__main__":
    app()
