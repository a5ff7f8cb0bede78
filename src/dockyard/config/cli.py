"""`dockyard backup create|restore` (local: run on the server's host, with its settings)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from dockyard.settings import Settings

backup_app = typer.Typer(
    help="Back up and restore the database, artifacts and secret key (local).",
    no_args_is_help=True,
)

PassphraseOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        exists=True,
        dir_okay=False,
        help="File whose first line is the passphrase wrapping the secret key (default: prompt).",
    ),
]


def _passphrase(path: Path | None, *, confirm: bool) -> str:
    if path is not None:
        value = path.read_text().splitlines()[0] if path.read_text() else ""
    elif os.environ.get("DOCKYARD_BACKUP_PASSPHRASE"):
        value = os.environ["DOCKYARD_BACKUP_PASSPHRASE"]
    elif sys.stdin.isatty():
        value = typer.prompt("Backup passphrase", hide_input=True, confirmation_prompt=confirm)
    else:
        typer.echo("error: give --passphrase-file (no terminal to prompt on)", err=True)
        raise typer.Exit(2)
    if len(value) < 8:
        typer.echo("error: the passphrase must be at least 8 characters", err=True)
        raise typer.Exit(2)
    return value


def _settings() -> Settings:
    from dockyard.cli import _settings as settings

    return settings()


@backup_app.command("create")
def backup_create(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="The archive to write.")],
    passphrase_file: PassphraseOpt = None,
) -> None:
    """Write a consistent backup (safe while the server runs)."""
    from dockyard.config.backup import BackupError, create_backup

    settings = _settings()
    passphrase = _passphrase(passphrase_file, confirm=True)
    try:
        manifest = create_backup(settings, file, passphrase)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"wrote {file}: {manifest['database_kind']} database at schema "
        f"{manifest['schema_revision']}, {len(manifest['parts'])} parts"
    )


@backup_app.command("restore")
def backup_restore(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The archive.")],
    passphrase_file: PassphraseOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite a database that is not empty.")
    ] = False,
) -> None:
    """Restore a backup into the configured (empty) database and data dir. Stop the server
    first; afterwards run `dockyard audit verify`."""
    from dockyard.config.backup import BackupError, restore_backup

    settings = _settings()
    passphrase = _passphrase(passphrase_file, confirm=False)
    try:
        result = restore_backup(settings, file, passphrase, force=force)
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"restored {result.database_kind} database (schema {result.schema_revision}), "
        f"{result.artifacts} artifact file(s)"
        + (", secret key" if result.secret_key_restored else "")
    )
