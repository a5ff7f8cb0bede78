"""Docker host addresses: `unix://`, `tcp://`, and `agent://node-<id>` for agent nodes.

An agent node's engine is reached through a tunnel socket that every Dockyard process
(each `serve` replica, worker and beat) listens on for itself (`dockyard.agent.hub`), so
the database stores the location-free `agent://node-<id>` and each process resolves it to
its own socket when it builds a Docker client.
"""

from __future__ import annotations

import re
from pathlib import Path

AGENT_SCHEME = "agent://"
_AGENT_HOST = re.compile(r"^agent://node-(\d+)$")
# The tunnel folders of this process's agent hubs, newest last (one in production; tests
# may run two servers in one process).
_socket_dirs: list[Path] = []


def agent_host(node_id: int) -> str:
    """The stored Docker host of agent node `node_id`."""
    return f"{AGENT_SCHEME}node-{node_id}"


def agent_node_id(docker_host: str) -> int | None:
    """The node id of an `agent://node-<id>` address, else None."""
    match = _AGENT_HOST.match(docker_host)
    return int(match.group(1)) if match else None


def add_agent_socket_dir(path: Path) -> None:
    """Where this process's tunnel sockets live (the agent hub, at start)."""
    _socket_dirs.append(path)


def remove_agent_socket_dir(path: Path) -> None:
    """The hub owning `path` stopped."""
    if path in _socket_dirs:
        _socket_dirs.remove(path)


def agent_socket_path(node_id: int, socket_dir: Path | None = None) -> Path:
    """The tunnel socket for agent node `node_id` (in `socket_dir`, else this process's)."""
    folder = socket_dir or (_socket_dirs[-1] if _socket_dirs else None)
    if folder is None:
        raise RuntimeError("agent tunnels are not started in this process")
    return folder / f"node-{node_id}.sock"


def resolve(docker_host: str) -> str:
    """The URL a Docker client connects to: agent addresses become this process's socket."""
    node_id = agent_node_id(docker_host)
    if node_id is None:
        return docker_host
    return f"unix://{agent_socket_path(node_id)}"
