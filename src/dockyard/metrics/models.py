"""Metrics time series: host points per node and container points, in three tiers.

`res` is the tier: 0 raw samples (kept `metrics_raw_retention_h`), 60 one-minute
averages and 3600 one-hour averages. `ts` is epoch seconds (a bucket's start for the
averaged tiers), so bucketing is integer arithmetic on both SQLite and PostgreSQL. Byte
counters (`net_rx`, ...) are kept to compute the next rate; charts read the `*_bps` rates.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.kit.db import Base

RAW, MINUTE, HOUR = 0, 60, 3600


class HostPoint(Base):
    __tablename__ = "metric_host_points"

    node_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    res: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    cpu_pct: Mapped[float] = mapped_column(Float)
    cpu_count: Mapped[int] = mapped_column(Integer)
    mem_used: Mapped[float] = mapped_column(Float)
    mem_total: Mapped[float] = mapped_column(Float)
    disk_used: Mapped[float] = mapped_column(Float)
    disk_total: Mapped[float] = mapped_column(Float)
    net_rx: Mapped[int] = mapped_column(BigInteger)
    net_tx: Mapped[int] = mapped_column(BigInteger)
    net_rx_bps: Mapped[float] = mapped_column(Float)
    net_tx_bps: Mapped[float] = mapped_column(Float)
    load_1: Mapped[float] = mapped_column(Float)


class ContainerPoint(Base):
    __tablename__ = "metric_container_points"
    __table_args__ = (
        Index("ix_metric_container_points_node", "node_id", "res", "ts"),
        Index("ix_metric_container_points_service", "service_id", "res", "ts"),
    )

    container_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    res: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    node_id: Mapped[int] = mapped_column(Integer)
    service_id: Mapped[int | None] = mapped_column(Integer)
    cpu_pct: Mapped[float] = mapped_column(Float)
    mem_used: Mapped[float] = mapped_column(Float)
    mem_limit: Mapped[float] = mapped_column(Float)
    net_rx: Mapped[int] = mapped_column(BigInteger)
    net_tx: Mapped[int] = mapped_column(BigInteger)
    blk_read: Mapped[int] = mapped_column(BigInteger)
    blk_write: Mapped[int] = mapped_column(BigInteger)
    net_rx_bps: Mapped[float] = mapped_column(Float)
    net_tx_bps: Mapped[float] = mapped_column(Float)
    blk_read_bps: Mapped[float] = mapped_column(Float)
    blk_write_bps: Mapped[float] = mapped_column(Float)
    pids: Mapped[float] = mapped_column(Float)
