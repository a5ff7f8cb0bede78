"""The server's registry of connected agents (interface; the agent domain fills it in).

Every agent node is reached through a Unix socket the hub listens on: any Docker client
(docker-py, the state watcher, a Celery worker on the same host) connects to
`socket_url(node_id)` and the hub tunnels the bytes over the agent's WebSocket.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from dockyard.settings import Settings


class AgentSessionInfo(BaseModel):
    """What the server knows about a connected agent."""

    node_id: int
    agent_version: str
    connected_at: datetime
    last_seen: datetime
    remote_addr: str | None = None
    docker_host: str | None = None  # the agent's own engine URL, as it reports it


class AgentHub:
    """Connected agents, their tunnels and their liveness."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def socket_path(self, node_id: int) -> Path:
        """Where the hub listens for Docker clients of node `node_id`."""
        return Path(self.settings.data_dir) / "agents" / f"node-{node_id}.sock"

    def socket_url(self, node_id: int) -> str:
        """The Docker host URL Dockyard uses for an agent node (stored as `nodes.docker_host`)."""
        return f"unix://{self.socket_path(node_id)}"

    def is_online(self, node_id: int) -> bool:
        """True while the node's agent is connected and has been heard within 2 heartbeats."""
        del node_id
        return False

    def session_info(self, node_id: int) -> AgentSessionInfo | None:
        """The connected agent's session, or None when it is offline."""
        del node_id
        return None

    def listening_ports(self, node_id: int) -> set[int] | None:
        """Host TCP ports in use on the agent's host (from its last metrics), if known."""
        del node_id
        return None

    async def disconnect(self, node_id: int, reason: str) -> bool:
        """Close the node's agent connection at once (revoke, rotate); True if one was open."""
        del node_id, reason
        return False

    async def close(self) -> None:
        """Close every agent connection and tunnel listener."""
