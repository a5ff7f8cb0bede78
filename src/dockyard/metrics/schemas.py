"""Metrics API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

MetricsRange = Literal["1h", "6h", "24h", "7d", "30d", "90d"]


class SeriesInfo(BaseModel):
    range: MetricsRange
    tier: Literal["raw", "1m", "1h"] = Field(description="The stored tier the points come from.")
    resolution_s: int = Field(description="Seconds each point averages.")
    since: datetime


class HostPointOut(BaseModel):
    ts: datetime
    cpu_pct: float = Field(description="All cores together, 0-100.")
    cpu_count: int
    mem_used: float
    mem_total: float
    disk_used: float
    disk_total: float
    net_rx_bps: float
    net_tx_bps: float
    load_1: float


class NodeMetrics(SeriesInfo):
    node_id: int
    points: list[HostPointOut]


class ContainerPointOut(BaseModel):
    ts: datetime
    cpu_pct: float = Field(description="Share of one core x 100.")
    mem_used: float
    mem_limit: float
    net_rx_bps: float
    net_tx_bps: float
    blk_read_bps: float
    blk_write_bps: float
    pids: float


class ContainerMetrics(SeriesInfo):
    node_id: int
    container_id: str
    service_id: int | None
    points: list[ContainerPointOut]


class ServicePointOut(BaseModel):
    ts: datetime
    cpu_pct: float = Field(description="Summed over the containers (share of one core x 100).")
    mem_used: float
    net_rx_bps: float
    net_tx_bps: float
    blk_read_bps: float
    blk_write_bps: float
    pids: float
    containers: int


class ServiceMetrics(SeriesInfo):
    service_id: int
    points: list[ServicePointOut]


class FleetNow(BaseModel):
    nodes_reporting: int
    cpu_count: int
    cpu_pct: float | None
    mem_used: float
    mem_total: float
    mem_pct: float | None
    disk_used: float
    disk_total: float
    disk_pct: float | None


class FleetPointOut(BaseModel):
    ts: datetime
    cpu_pct: float
    mem_used: float
    mem_total: float
    mem_pct: float
    nodes: int


class FleetMetrics(SeriesInfo):
    now: FleetNow
    points: list[FleetPointOut]
