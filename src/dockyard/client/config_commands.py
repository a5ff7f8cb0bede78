"""`dockyard config export|import`: configuration as code through the HTTP API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dockyard.client.api import ApiClient, ApiError
from dockyard.client.commands import JsonOpt, ServerOpt, TokenOpt, cli_error

config_app = typer.Typer(
    help="Export and import the configuration as YAML (via the server's API).",
    no_args_is_help=True,
)


@config_app.command("export")
def config_export(
    kinds: Annotated[
        str | None, typer.Option("--kinds", help="Comma-separated kinds (default: all).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to FILE (default: stdout).")
    ] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print (or write) the configuration as one YAML document."""
    client = ApiClient.from_environment(server, token)
    params = {"kinds": kinds} if kinds else None
    try:
        text = client.request("GET", "/api/v1/config/export", params=params).text
    except ApiError as exc:
        raise cli_error(exc) from exc
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)


@config_app.command("import")
def config_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML document.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the changes, apply nothing.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Remove objects of the imported kinds the file lacks."),
    ] = False,
    kinds: Annotated[
        str | None, typer.Option("--kinds", help="Only these kinds (comma-separated).")
    ] = None,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Apply a YAML document atomically (all or nothing); `--dry-run` only plans it."""
    client = ApiClient.from_environment(server, token)
    params = {"dry_run": str(dry_run).lower(), "prune": str(prune).lower()}
    if kinds:
        params["kinds"] = kinds
    try:
        response = client.request(
            "POST",
            "/api/v1/config/import",
            params=params,
            content=file.read_bytes(),
            headers={"Content-Type": "application/yaml"},
        )
    except ApiError as exc:
        raise cli_error(exc) from exc
    if as_json:
        typer.echo(response.text)
        return
    changes = response.json()["changes"]
    for change in changes:
        typer.echo(f"{change['change']:8} {change['kind']:18} {change['name']}")
    verb = "would apply" if dry_run else "applied"
    typer.echo(f"{verb} {len(changes)} change(s)")
