"""`dockyard node ...`, `dockyard container ...` and `dockyard replica ...`: the fleet and
the server replicas from a terminal."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from dockyard.client.api import ApiClient, ApiError
from dockyard.client.commands import (
    JsonOpt,
    ServerOpt,
    TokenOpt,
    api_client,
    cli_error,
    print_table,
)

node_app = typer.Typer(help="Nodes and their agents.", no_args_is_help=True)
container_app = typer.Typer(help="Containers on every node.", no_args_is_help=True)
replica_app = typer.Typer(help="The server replicas (scale-out).", no_args_is_help=True)


def _node(client: ApiClient, ref: str) -> dict[str, Any]:
    """A node by id or by name."""
    if ref.isdigit():
        return dict(client.get(f"/api/v1/nodes/{ref}"))
    for item in client.get("/api/v1/nodes", params={"limit": 500})["items"]:
        if item["name"] == ref:
            return dict(item)
    raise ApiError(404, "node_not_found", f"No node named {ref}.", {})


def _labels(pairs: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: write labels as key=value")
        labels[key] = value
    return labels


def _print_enrollment(answer: dict[str, Any]) -> None:
    typer.echo(f"enrollment token (shown once): {answer['enrollment_token']}")
    typer.echo(f"expires: {answer['enrollment_expires_at']}")
    typer.echo("run on the node's host:")
    typer.echo(f"  {answer['agent_command']}")


@node_app.command("list")
def node_list(server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False) -> None:
    """Nodes with status, last seen, agent and engine versions."""
    client = api_client(server, token)
    try:
        items = client.get("/api/v1/nodes", params={"limit": 500})["items"]
    except ApiError as exc:
        raise cli_error(exc) from exc
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    rows = [("ID", "NAME", "KIND", "STATUS", "LAST SEEN", "AGENT", "ENGINE", "LABELS")]
    for n in items:
        agent = (n.get("agent") or {}).get("version") or "-"
        labels = ",".join(f"{k}={v}" for k, v in sorted(n["labels"].items()))
        status = n["status"] if n["kind"] == "local" or n.get("enrolled") else "waiting"
        if n.get("revoked_at"):
            status = "revoked"
        rows.append(
            (
                str(n["id"]),
                n["name"],
                n["kind"],
                status,
                n["last_seen"] or "-",
                agent,
                n["engine"].get("server_version") or "-",
                labels or "-",
            )
        )
    print_table(rows)


@node_app.command("show")
def node_show(ref: str, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """One node as JSON (status, engine facts, agent)."""
    client = api_client(server, token)
    try:
        typer.echo(json.dumps(_node(client, ref), indent=2))
    except ApiError as exc:
        raise cli_error(exc) from exc


@node_app.command("create")
def node_create(
    name: str,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="key=value, repeatable.")
    ] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Add an agent node; prints its one-time enrollment token and the agent command."""
    client = api_client(server, token)
    try:
        created = client.post("/api/v1/nodes", {"name": name, "labels": _labels(label or [])})
    except ApiError as exc:
        raise cli_error(exc) from exc
    typer.echo(f"created node {created['name']} (id {created['id']})")
    _print_enrollment(created)


@node_app.command("enrollment-token")
def node_enrollment_token(ref: str, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """A new one-time token for a node never enrolled, or revoked."""
    client = api_client(server, token)
    try:
        node = _node(client, ref)
        _print_enrollment(client.post(f"/api/v1/nodes/{node['id']}/enrollment-token"))
    except ApiError as exc:
        raise cli_error(exc) from exc


@node_app.command("rotate")
def node_rotate(ref: str, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Rotate the agent's credential (delivered to an online agent; else re-enroll)."""
    client = api_client(server, token)
    try:
        node = _node(client, ref)
        answer = client.post(f"/api/v1/nodes/{node['id']}/rotate-credentials")
    except ApiError as exc:
        raise cli_error(exc) from exc
    if answer["delivered"]:
        typer.echo(f"the agent of {node['name']} has its new credential")
    else:
        typer.echo(f"{node['name']} is offline: its agent must enroll again")
        _print_enrollment(answer)


@node_app.command("revoke")
def node_revoke(
    ref: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Revoke the agent's credential; a connected agent is cut off at once."""
    client = api_client(server, token)
    try:
        node = _node(client, ref)
        if not yes:
            typer.confirm(f"Revoke the agent of {node['name']}?", abort=True)
        client.post(f"/api/v1/nodes/{node['id']}/revoke")
    except ApiError as exc:
        raise cli_error(exc) from exc
    typer.echo(f"revoked {node['name']}")


@node_app.command("delete")
def node_delete(
    ref: str,
    forget_services: Annotated[
        bool,
        typer.Option(
            "--forget-services",
            help="For an offline node whose host is gone: remove its services too.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Delete an agent node (refused while services are on it)."""
    client = api_client(server, token)
    try:
        node = _node(client, ref)
        if not yes:
            typer.confirm(f"Delete node {node['name']}?", abort=True)
        client.request(
            "DELETE",
            f"/api/v1/nodes/{node['id']}",
            params={"forget_services": str(forget_services).lower()},
        )
    except ApiError as exc:
        raise cli_error(exc) from exc
    typer.echo(f"deleted {node['name']}")


@container_app.command("list")
def container_list(
    node: Annotated[str | None, typer.Option("--node", help="Node id or name.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="running, exited, ...")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Image substring.")] = None,
    search: Annotated[str | None, typer.Option("--search", help="Name substring.")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every container on every node; unavailable nodes are named on standard error."""
    client = api_client(server, token)
    params: dict[str, Any] = {"limit": 500}
    try:
        if node is not None:
            params["node_id"] = _node(client, node)["id"]
        for key, value in (("state", state), ("image", image), ("q", search)):
            if value:
                params[key] = value
        page = client.get("/api/v1/containers", params=params)
    except ApiError as exc:
        raise cli_error(exc) from exc
    for gone in page["unavailable_nodes"]:
        typer.echo(f"warning: {gone['name']}: {gone['error']}", err=True)
    if as_json:
        typer.echo(json.dumps(page["items"], indent=2))
        return
    rows = [("NODE", "ID", "NAME", "STATE", "IMAGE", "SERVICE")]
    for c in page["items"]:
        rows.append(
            (
                c["node_name"],
                c["id"][:12],
                c["name"],
                c["status"] or c["state"],
                c["image"],
                c["service_name"] or "-",
            )
        )
    print_table(rows)


@replica_app.command("list")
def replica_list(
    server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """The server replicas: how peers reach each, whether it is alive, its agents."""
    client = api_client(server, token)
    try:
        items = client.get("/api/v1/system/replicas")["items"]
    except ApiError as exc:
        raise cli_error(exc) from exc
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    rows = [("ID", "URL", "VERSION", "STATE", "AGENTS", "STARTED", "HEARTBEAT")]
    for r in items:
        state = ("alive" if r["alive"] else "gone") + (" (this one)" if r["current"] else "")
        rows.append(
            (
                r["id"],
                r["url"],
                r["version"],
                state,
                str(r["agents"]),
                r["started_at"],
                r["heartbeat_at"],
            )
        )
    print_table(rows)
