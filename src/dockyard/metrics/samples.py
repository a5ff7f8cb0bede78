"""One metrics sample of a node: its host and its containers.

Shared by the server and the agent (which sends it over its WebSocket), so this module
imports nothing heavier than Pydantic.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class HostSample(BaseModel):
    """Host-wide figures at one instant (psutil)."""

    cpu_percent: float = Field(description="All cores together, 0-100.")
    cpu_count: int
    memory_used_bytes: int
    memory_total_bytes: int
    disk_used_bytes: int
    disk_total_bytes: int
    net_rx_bytes: int = Field(description="Counter since boot, all interfaces but loopback.")
    net_tx_bytes: int
    load_1: float
    load_5: float
    load_15: float
    # Host TCP ports something listens on (for port allocation), when known.
    listening_ports: list[int] = Field(default_factory=list)


class ContainerSample(BaseModel):
    """One running container's figures from a one-shot stats call."""

    container_id: str
    name: str
    service_id: int | None = None
    cpu_percent: float = Field(description="Share of one core x 100 (200 = two cores).")
    memory_used_bytes: int
    memory_limit_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int
    block_read_bytes: int
    block_write_bytes: int
    pids: int
    # The `io.dockyard.instance` label: a service id means something only to that installation.
    instance: str | None = None


class MetricsSample(BaseModel):
    """A node's host and container figures, taken at `taken_at`."""

    taken_at: datetime
    host: HostSample
    containers: list[ContainerSample] = Field(default_factory=list)
