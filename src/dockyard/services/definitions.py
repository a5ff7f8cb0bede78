"""Turning user input into a validated canonical definition, and checks across services."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from dockyard.services.compose import (
    ComposeDefinition,
    ComposeError,
    ComposeIssue,
    host_ips_overlap,
    load_compose_text,
    parse_definition,
    published_ports,
)


def canonical_json(defn: ComposeDefinition) -> dict[str, Any]:
    """The JSON stored in a revision (and compared for equality)."""
    return defn.to_json()


def definition_hash(definition: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(definition, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def invalid_definition(issues: Iterable[ComposeIssue]) -> ComposeError:
    """A 422 naming every problem by path."""
    return ComposeError(list(issues))


def parse_input(
    *, definition: dict[str, Any] | None, compose: str | None, env: str | None
) -> ComposeDefinition:
    """Parse and validate a definition from an object or compose text; 422 on any issue."""
    raw = load_compose_text(compose, env_text=env) if compose is not None else definition
    return parse_definition(raw or {})  # validates; ComposeError is a 422


def port_conflicts(
    defn: ComposeDefinition, others: Iterable[tuple[str, ComposeDefinition]]
) -> list[ComposeIssue]:
    """Host ports this definition publishes that another service on the node already does.

    Two bindings clash when protocol and port match and the host IPs overlap (equal, or
    either is a wildcard).
    """
    mine = published_ports(defn)
    taken: dict[tuple[int, str], list[tuple[str | None, str]]] = {}
    for other_name, other in others:
        for host_ip, port, protocol, svc in published_ports(other):
            taken.setdefault((port, protocol), []).append((host_ip, f"{other_name}/{svc}"))
    issues: list[ComposeIssue] = []
    for host_ip, port, protocol, svc in mine:
        for other_ip, owner in taken.get((port, protocol), []):
            if host_ips_overlap(host_ip, other_ip):
                issues.append(
                    ComposeIssue(
                        path=f"services.{svc}.ports",
                        message=f"host port {port}/{protocol} is already published by {owner}",
                    )
                )
    return issues
