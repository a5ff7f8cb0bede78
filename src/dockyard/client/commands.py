"""`dockyard login` and `dockyard service ...`: the HTTP API from a terminal."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.client.api import ApiClient, ApiError, credentials_path

service_app = typer.Typer(help="Manage services on a Dockyard server.", no_args_is_help=True)

ServerOpt = Annotated[
    str | None,
    typer.Option("--server", envvar="DOCKYARD_SERVER", help="Server URL (default: from login)."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar="DOCKYARD_TOKEN", help="An access token instead of login."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ComposeFileOpt = Annotated[
    Path, typer.Option("--compose", exists=True, dir_okay=False, help="Compose file.")
]
EnvFileOpt = Annotated[
    Path | None, typer.Option("--env", exists=True, dir_okay=False, help=".env file.")
]
WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the job until it ends.")]


def api_client(server: str | None, token: str | None) -> ApiClient:
    return ApiClient.from_environment(server, token)


def cli_error(exc: ApiError) -> typer.Exit:
    typer.echo(f"error: {exc.describe()}", err=True)
    return typer.Exit(1)


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Rows as left-aligned columns; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


def _resolve(client: ApiClient, ref: str) -> dict[str, Any]:
    """A service by id or by name."""
    if ref.isdigit():
        return dict(client.get(f"/api/v1/services/{ref}"))
    page = client.get("/api/v1/services", params={"search": ref, "limit": 500})
    for item in page["items"]:
        if item["name"] == ref:
            return dict(item)
    raise ApiError(404, "service_not_found", f"No service named {ref}.", {})


def follow_job(client: ApiClient, job: dict[str, Any], *, quiet: bool = False) -> dict[str, Any]:
    """Print a job's progress lines until it finishes; return the final job."""
    seen = 0
    while True:
        current = client.get(f"/api/v1/jobs/{job['id']}")
        for line in current["lines"][seen:]:
            if not quiet:
                stream = sys.stderr if line["level"] == "error" else sys.stdout
                print(f"  {line['message']}", file=stream)
        seen = len(current["lines"])
        if current["status"] in ("succeeded", "failed"):
            return dict(current)
        time.sleep(0.5)


def login(
    server: Annotated[str, typer.Option("--server", envvar="DOCKYARD_SERVER", help="Server URL.")],
    email: Annotated[str, typer.Option("--email", help="Your account's email.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    otp: Annotated[
        str | None,
        typer.Option("--otp", help="MFA code (asked for when needed and not given)."),
    ] = None,
) -> None:
    """Sign in to a server; the refresh token is stored (0600) for later commands.

    For scripts, prefer a personal API token in `DOCKYARD_TOKEN` (no login needed).
    """
    password = (
        sys.stdin.readline().rstrip("\r\n")
        if password_stdin
        else typer.prompt("Password", hide_input=True)
    )
    client = ApiClient(server=server.rstrip("/"))
    try:
        try:
            client.login(email, password, otp)
        except ApiError as exc:
            if exc.code != "mfa_required" or otp:
                raise
            code = (
                sys.stdin.readline().strip()
                if password_stdin
                else typer.prompt("Authentication code (or recovery code)")
            )
            client.login(email, password, code)
    except ApiError as exc:
        raise cli_error(exc) from exc
    typer.echo(f"signed in to {client.server}; credentials in {credentials_path()}")


def logout() -> None:
    """Forget the stored credentials (and end the session on the server)."""
    client = ApiClient.from_environment()
    try:
        if client.refresh_token:
            client.post("/api/v1/auth/logout", {})
    except ApiError:
        pass  # the session may already be gone; forgetting it locally is what matters
    credentials_path().unlink(missing_ok=True)
    typer.echo("signed out")


@service_app.command("list")
def service_list(
    server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Services with status, containers and ports."""
    client = api_client(server, token)
    try:
        page = client.get("/api/v1/services", params={"limit": 500})
    except ApiError as exc:
        raise cli_error(exc) from exc
    if as_json:
        typer.echo(json.dumps(page["items"], indent=2))
        return
    rows = [("ID", "NAME", "STATUS", "CONTAINERS", "REVISION", "PORTS")]
    for s in page["items"]:
        ports = ",".join(f"{p['host_port']}->{p['container_port']}" for p in s["ports"])
        rev = f"{s['deployed_revision'] or '-'}/{s['revision']}"
        status = s["status"] + (" (drift)" if s["drift"] else "")
        rows.append(
            (
                str(s["id"]),
                s["name"],
                status,
                f"{s['containers_running']}/{s['containers_total']}",
                rev,
                ports,
            )
        )
    print_table(rows)


@service_app.command("show")
def service_show(ref: str, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """One service as JSON."""
    client = api_client(server, token)
    try:
        service = _resolve(client, ref)
        detail = client.get(f"/api/v1/services/{service['id']}")
    except ApiError as exc:
        raise cli_error(exc) from exc
    typer.echo(json.dumps(detail, indent=2))


@service_app.command("create")
def service_create(
    name: str,
    compose: ComposeFileOpt,
    env_file: EnvFileOpt = None,
    node: Annotated[
        int | None, typer.Option("--node", help="Node id (default: placed automatically).")
    ] = None,
    cluster: Annotated[
        int | None, typer.Option("--cluster", help="Cluster id: placed on one of its nodes.")
    ] = None,
    description: Annotated[str, typer.Option(help="Description.")] = "",
    deploy: Annotated[bool, typer.Option("--deploy", help="Deploy right after creating.")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Create a service from a compose file."""
    client = api_client(server, token)
    body: dict[str, Any] = {
        "name": name,
        "compose": compose.read_text(),
        "description": description,
        "source": "import",
    }
    if env_file is not None:
        body["env"] = env_file.read_text()
    if node is not None:
        body["node_id"] = node
    if cluster is not None:
        body["cluster_id"] = cluster
    try:
        service = client.post("/api/v1/services", body)
        typer.echo(f"created service {service['name']} (id {service['id']}, revision 1)")
        if deploy:
            _run_action(client, service, "deploy", wait=True)
    except ApiError as exc:
        raise cli_error(exc) from exc


@service_app.command("edit")
def service_edit(
    ref: str,
    compose: ComposeFileOpt,
    env_file: EnvFileOpt = None,
    comment: Annotated[str, typer.Option(help="Why this change.")] = "",
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Save a new revision from a compose file (refused if someone saved in between)."""
    client = api_client(server, token)
    try:
        service = _resolve(client, ref)
        body: dict[str, Any] = {"compose": compose.read_text(), "comment": comment, "source": "cli"}
        if env_file is not None:
            body["env"] = env_file.read_text()
        updated = client.request(
            "PUT",
            f"/api/v1/services/{service['id']}",
            json=body,
            headers={"If-Match": f'"rev-{service["revision"]}"'},
        ).json()
    except ApiError as exc:
        raise cli_error(exc) from exc
    typer.echo(f"service {updated['name']} is at revision {updated['revision']}")


def _run_action(
    client: ApiClient,
    service: dict[str, Any],
    action: str,
    *,
    wait: bool,
    body: dict[str, Any] | None = None,
) -> None:
    accepted = client.post(f"/api/v1/services/{service['id']}/{action}", body or {})
    job = accepted["job"]
    typer.echo(f"{action} {service['name']}: job {job['id']}")
    if not wait:
        return
    final = follow_job(client, job)
    if final["status"] != "succeeded":
        typer.echo(f"{action} failed: {final.get('error')}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{action} {service['name']}: succeeded")


def _action_command(action: str, help_text: str) -> None:
    def command(
        ref: str, wait: WaitOpt = True, server: ServerOpt = None, token: TokenOpt = None
    ) -> None:
        client = api_client(server, token)
        try:
            _run_action(client, _resolve(client, ref), action, wait=wait)
        except ApiError as exc:
            raise cli_error(exc) from exc

    command.__doc__ = help_text
    service_app.command(action)(command)


for _action, _help in (
    ("deploy", "Deploy the latest revision (recreates only what changed)."),
    ("start", "Start the service's containers."),
    ("stop", "Stop the service's containers (reverse dependency order)."),
    ("restart", "Restart the service's containers."),
    ("pull", "Pull the service's images."),
    ("update", "Pull images, then recreate containers whose image changed."),
):
    _action_command(_action, _help)


@service_app.command("delete")
def service_delete(
    ref: str,
    remove_volumes: Annotated[
        bool, typer.Option("--remove-volumes", help="Also delete the named volumes and their data.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    wait: WaitOpt = True,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Remove the service's containers and network (volumes kept unless asked)."""
    client = api_client(server, token)
    try:
        service = _resolve(client, ref)
        if not yes:
            typer.confirm(f"Delete service {service['name']}?", abort=True)
        body: dict[str, Any] = {}
        if remove_volumes:
            body = {"remove_volumes": True, "confirm": service["name"]}
        _run_action(client, service, "delete", wait=wait, body=body)
    except ApiError as exc:
        raise cli_error(exc) from exc


@service_app.command("logs")
def service_logs(
    ref: str,
    tail: Annotated[int, typer.Option(help="Lines per container.")] = 100,
    container: Annotated[str | None, typer.Option(help="Only this container.")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """The last lines of each container (running or stopped)."""
    client = api_client(server, token)
    try:
        service = _resolve(client, ref)
        params: dict[str, Any] = {"tail": tail}
        if container:
            params["container"] = container
        logs = client.get(f"/api/v1/services/{service['id']}/logs", params=params)
    except ApiError as exc:
        raise cli_error(exc) from exc
    for line in logs["lines"]:
        typer.echo(f"{line['container']} | {line['message'].rstrip()}")


@service_app.command("export")
def service_export(
    ref: str,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File (default stdout).")
    ] = None,
    revision: Annotated[int | None, typer.Option(help="A revision (default latest).")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """The service as docker-compose YAML."""
    client = api_client(server, token)
    try:
        service = _resolve(client, ref)
        params = {"revision": revision} if revision else {}
        text = client.request(
            "GET", f"/api/v1/services/{service['id']}/compose", params=params
        ).text
    except ApiError as exc:
        raise cli_error(exc) from exc
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}")
