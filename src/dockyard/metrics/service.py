"""Metrics storage: ingest, downsampling, retention and series queries.

Tiers (see `metrics.models`): raw samples, 1-minute and 1-hour averages. `maintain` rolls
raw points up into closed minutes and minutes into closed hours, per node, from the last
bucket already written (a watermark), so re-running it writes nothing twice; then it
deletes points past each tier's retention. Averages of averages are unweighted (a minute
with fewer samples counts as much as a full one), which charts do not notice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import ColumnElement, delete, func, insert, literal_column, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.kit.db import Database
from dockyard.metrics.models import HOUR, MINUTE, RAW, ContainerPoint, HostPoint
from dockyard.metrics.samples import MetricsSample
from dockyard.settings import Settings

log = structlog.get_logger(__name__)

RANGES: dict[str, int] = {
    "1h": 3600,
    "6h": 6 * 3600,
    "24h": 86400,
    "7d": 7 * 86400,
    "30d": 30 * 86400,
    "90d": 90 * 86400,
}
MAX_POINTS = 400
NICE_STEPS = (
    10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
)  # fmt: skip
# Buckets per rollup statement (12 h of minutes, 30 days of hours).
ROLLUP_BATCH = 720
# A raw sample may arrive this late and still be in its minute's average.
ROLLUP_GRACE_S = {MINUTE: 60, HOUR: 180}
RETENTION_BATCH_S = 6 * 3600


def epoch(ts: datetime) -> int:
    return int(ts.timestamp())


def from_epoch(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _rate(current: int, previous: int | None, seconds: int) -> float:
    """Bytes per second between two counter readings; 0 on a reset or the first one."""
    if previous is None or seconds <= 0 or current < previous:
        return 0.0
    return (current - previous) / seconds


# ------------------------------------------------------------------------------ ingest


async def store_sample(
    session: AsyncSession, node_id: int, sample: MetricsSample, instance_id: str | None = None
) -> bool:
    """Add `sample` as raw points of node `node_id` (the caller commits). False: a sample of
    that second (or a later one) is already stored.

    With `instance_id`, a container labelled with another installation's instance keeps no
    service id (its service id names a service of that other installation).
    """
    ts = epoch(sample.taken_at)
    last = (
        await session.execute(
            select(HostPoint.ts, HostPoint.net_rx, HostPoint.net_tx)
            .where(HostPoint.node_id == node_id, HostPoint.res == RAW)
            .order_by(HostPoint.ts.desc())
            .limit(1)
        )
    ).first()
    if last is not None and last.ts >= ts:
        return False
    host = sample.host
    gap = ts - last.ts if last is not None else 0
    session.add(
        HostPoint(
            node_id=node_id,
            res=RAW,
            ts=ts,
            cpu_pct=host.cpu_percent,
            cpu_count=host.cpu_count,
            mem_used=float(host.memory_used_bytes),
            mem_total=float(host.memory_total_bytes),
            disk_used=float(host.disk_used_bytes),
            disk_total=float(host.disk_total_bytes),
            net_rx=host.net_rx_bytes,
            net_tx=host.net_tx_bytes,
            net_rx_bps=_rate(host.net_rx_bytes, last.net_rx if last else None, gap),
            net_tx_bps=_rate(host.net_tx_bytes, last.net_tx if last else None, gap),
            load_1=host.load_1,
        )
    )
    previous: dict[str, Any] = {}
    if last is not None and sample.containers:
        rows = await session.execute(
            select(
                ContainerPoint.container_id,
                ContainerPoint.net_rx,
                ContainerPoint.net_tx,
                ContainerPoint.blk_read,
                ContainerPoint.blk_write,
            ).where(
                ContainerPoint.node_id == node_id,
                ContainerPoint.res == RAW,
                ContainerPoint.ts == last.ts,
            )
        )
        previous = {row.container_id: row for row in rows}
    rows_out: list[dict[str, Any]] = []
    for c in sample.containers:
        prev = previous.get(c.container_id)
        rows_out.append(
            {
                "container_id": c.container_id,
                "res": RAW,
                "ts": ts,
                "node_id": node_id,
                "service_id": (
                    c.service_id
                    if instance_id is None or c.instance in (None, instance_id)
                    else None
                ),
                "cpu_pct": c.cpu_percent,
                "mem_used": float(c.memory_used_bytes),
                "mem_limit": float(c.memory_limit_bytes),
                "net_rx": c.net_rx_bytes,
                "net_tx": c.net_tx_bytes,
                "blk_read": c.block_read_bytes,
                "blk_write": c.block_write_bytes,
                "net_rx_bps": _rate(c.net_rx_bytes, prev.net_rx if prev else None, gap),
                "net_tx_bps": _rate(c.net_tx_bytes, prev.net_tx if prev else None, gap),
                "blk_read_bps": _rate(c.block_read_bytes, prev.blk_read if prev else None, gap),
                "blk_write_bps": _rate(c.block_write_bytes, prev.blk_write if prev else None, gap),
                "pids": float(c.pids),
            }
        )
    await session.flush()
    if rows_out:
        await session.execute(insert(ContainerPoint), rows_out)
    return True


async def ingest(
    db: Database, node_id: int, sample: MetricsSample, instance_id: str | None = None
) -> bool:
    """Store one sample in one transaction; a duplicate (same second) is dropped."""
    try:
        async with db.session() as session:
            stored = await store_sample(session, node_id, sample, instance_id)
            await session.commit()
            return stored
    except IntegrityError:  # another process stored that second first
        return False


# ------------------------------------------------------------------------------ rollup


def _bucket(column: Any, step: int) -> ColumnElement[Any]:
    """`ts - ts % step` with `step` inlined, so GROUP BY repeats the very same expression."""
    return column - column % literal_column(str(int(step)))  # type: ignore[no-any-return]


def _host_rollup_columns(src: int, dst: int) -> list[Any]:
    h = HostPoint
    return [
        h.node_id,
        literal_column(str(dst)),
        _bucket(h.ts, dst),
        func.avg(h.cpu_pct),
        func.max(h.cpu_count),
        func.avg(h.mem_used),
        func.max(h.mem_total),
        func.avg(h.disk_used),
        func.max(h.disk_total),
        func.max(h.net_rx),
        func.max(h.net_tx),
        func.avg(h.net_rx_bps),
        func.avg(h.net_tx_bps),
        func.avg(h.load_1),
    ]


HOST_COLUMNS = [
    "node_id", "res", "ts", "cpu_pct", "cpu_count", "mem_used", "mem_total", "disk_used",
    "disk_total", "net_rx", "net_tx", "net_rx_bps", "net_tx_bps", "load_1",
]  # fmt: skip
CONTAINER_COLUMNS = [
    "container_id", "res", "ts", "node_id", "service_id", "cpu_pct", "mem_used", "mem_limit",
    "net_rx", "net_tx", "blk_read", "blk_write", "net_rx_bps", "net_tx_bps", "blk_read_bps",
    "blk_write_bps", "pids",
]  # fmt: skip


def _container_rollup_columns(dst: int) -> list[Any]:
    c = ContainerPoint
    return [
        c.container_id,
        literal_column(str(dst)),
        _bucket(c.ts, dst),
        c.node_id,
        func.max(c.service_id),
        func.avg(c.cpu_pct),
        func.avg(c.mem_used),
        func.max(c.mem_limit),
        func.max(c.net_rx),
        func.max(c.net_tx),
        func.max(c.blk_read),
        func.max(c.blk_write),
        func.avg(c.net_rx_bps),
        func.avg(c.net_tx_bps),
        func.avg(c.blk_read_bps),
        func.avg(c.blk_write_bps),
        func.avg(c.pids),
    ]


async def _node_ids(db: Database) -> list[int]:
    """Nodes with any points: from the small host table (every sample has a host point), so
    the container table is only ever read through its (node_id, res, ts) index."""
    async with db.read_session() as session:
        return list((await session.execute(select(HostPoint.node_id).distinct())).scalars())


async def _rollup_table(db: Database, table: Any, src: int, dst: int, now_ts: int) -> int:
    """Roll `src` points of `table` into closed `dst` buckets, node by node. Returns rows."""
    end_all = (now_ts - ROLLUP_GRACE_S[dst]) // dst * dst
    written = 0
    for node_id in await _node_ids(db):
        async with db.read_session() as session:
            mark = (
                await session.execute(
                    select(func.max(table.ts)).where(table.node_id == node_id, table.res == dst)
                )
            ).scalar()
            if mark is None:
                first = (
                    await session.execute(
                        select(func.min(table.ts)).where(table.node_id == node_id, table.res == src)
                    )
                ).scalar()
                if first is None:
                    continue
                start = int(first) // dst * dst
            else:
                start = int(mark) + dst
        while start < end_all:
            end = min(end_all, start + ROLLUP_BATCH * dst)
            if table is HostPoint:
                columns, names, group = (
                    _host_rollup_columns(src, dst),
                    HOST_COLUMNS,
                    [HostPoint.node_id, _bucket(HostPoint.ts, dst)],
                )
            else:
                columns, names, group = (
                    _container_rollup_columns(dst),
                    CONTAINER_COLUMNS,
                    [
                        ContainerPoint.container_id,
                        ContainerPoint.node_id,
                        _bucket(ContainerPoint.ts, dst),
                    ],
                )
            query = (
                select(*columns)
                .where(
                    table.node_id == node_id,
                    table.res == src,
                    table.ts >= start,
                    table.ts < end,
                )
                .group_by(*group)
            )
            try:
                async with db.session() as session:
                    result = await session.execute(
                        insert(table).from_select(names, query)  # one statement, one batch
                    )
                    await session.commit()
                    written += max(0, int(getattr(result, "rowcount", 0) or 0))
            except IntegrityError:  # another runner wrote these buckets first
                break
            start = end
    return written


async def rollup(db: Database, now: datetime | None = None) -> dict[str, int]:
    """Write every closed minute and hour bucket not yet written; returns rows per tier."""
    now_ts = epoch(now or datetime.now(UTC))
    out = {"minute": 0, "hour": 0}
    for table in (HostPoint, ContainerPoint):
        out["minute"] += await _rollup_table(db, table, RAW, MINUTE, now_ts)
        out["hour"] += await _rollup_table(db, table, MINUTE, HOUR, now_ts)
    return out


def retention_cutoffs(settings: Settings, now_ts: int) -> dict[int, int]:
    """Tier -> the oldest `ts` kept."""
    return {
        RAW: now_ts - settings.metrics_raw_retention_h * 3600,
        MINUTE: now_ts - settings.metrics_minute_retention_days * 86400,
        HOUR: now_ts - settings.metrics_hour_retention_days * 86400,
    }


async def purge(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """Delete points past each tier's retention, per node and in time slices."""
    now_ts = epoch(now or datetime.now(UTC))
    deleted = 0
    nodes = await _node_ids(db)
    # Containers first: the host points tell which nodes have data at all.
    for table in (ContainerPoint, HostPoint):
        for res, cutoff in retention_cutoffs(settings, now_ts).items():
            for node_id in nodes:
                async with db.read_session() as session:
                    oldest = (
                        await session.execute(
                            select(func.min(table.ts)).where(
                                table.node_id == node_id, table.res == res
                            )
                        )
                    ).scalar()
                if oldest is None:
                    continue
                start = int(oldest)
                while start < cutoff:
                    stop = min(cutoff, start + RETENTION_BATCH_S)
                    async with db.session() as session:
                        result = await session.execute(
                            delete(table).where(
                                table.node_id == node_id,
                                table.res == res,
                                table.ts < stop,
                            )
                        )
                        await session.commit()
                        deleted += max(0, int(getattr(result, "rowcount", 0) or 0))
                    start = stop
    return deleted


async def maintain(db: Database, settings: Settings, now: datetime | None = None) -> None:
    """Downsample, then apply retention (the periodic system job's body)."""
    written = await rollup(db, now)
    deleted = await purge(db, settings, now)
    if written["minute"] or written["hour"] or deleted:
        log.info("metrics_maintained", **written, deleted=deleted)


# ------------------------------------------------------------------------------ queries


@dataclass(frozen=True)
class Tier:
    res: int
    step: int
    since: int


def choose_tier(range_s: int, settings: Settings, now_ts: int) -> Tier:
    """The finest tier that still holds the whole range, and a bucket of about
    `range_s / MAX_POINTS` (never finer than the tier, nor than the sampling interval)."""
    tiers = (
        (
            RAW,
            settings.metrics_raw_retention_h * 3600,
            max(1, math.ceil(settings.metrics_interval)),
        ),
        (MINUTE, settings.metrics_minute_retention_days * 86400, MINUTE),
        (HOUR, settings.metrics_hour_retention_days * 86400, HOUR),
    )
    res, base = tiers[-1][0], tiers[-1][2]
    for tier_res, keep_s, tier_base in tiers:
        if range_s <= keep_s:
            res, base = tier_res, tier_base
            break
    wanted = max(base, math.ceil(range_s / MAX_POINTS))
    step = next((s for s in NICE_STEPS if s >= wanted and s % base == 0), None)
    if step is None:
        step = math.ceil(wanted / base) * base
    return Tier(res=res, step=step, since=(now_ts - range_s) // step * step)


async def node_series(session: AsyncSession, node_id: int, tier: Tier) -> list[dict[str, Any]]:
    h = HostPoint
    bucket = _bucket(h.ts, tier.step)
    rows = await session.execute(
        select(
            bucket.label("ts"),
            func.avg(h.cpu_pct).label("cpu_pct"),
            func.max(h.cpu_count).label("cpu_count"),
            func.avg(h.mem_used).label("mem_used"),
            func.max(h.mem_total).label("mem_total"),
            func.avg(h.disk_used).label("disk_used"),
            func.max(h.disk_total).label("disk_total"),
            func.avg(h.net_rx_bps).label("net_rx_bps"),
            func.avg(h.net_tx_bps).label("net_tx_bps"),
            func.avg(h.load_1).label("load_1"),
        )
        .where(h.node_id == node_id, h.res == tier.res, h.ts >= tier.since)
        .group_by(bucket)
        .order_by(bucket)
    )
    return [dict(row._mapping) for row in rows]


def _container_series_columns(step: int) -> list[Any]:
    c = ContainerPoint
    return [
        _bucket(c.ts, step).label("ts"),
        func.avg(c.cpu_pct).label("cpu_pct"),
        func.avg(c.mem_used).label("mem_used"),
        func.max(c.mem_limit).label("mem_limit"),
        func.avg(c.net_rx_bps).label("net_rx_bps"),
        func.avg(c.net_tx_bps).label("net_tx_bps"),
        func.avg(c.blk_read_bps).label("blk_read_bps"),
        func.avg(c.blk_write_bps).label("blk_write_bps"),
        func.avg(c.pids).label("pids"),
    ]


async def container_series(
    session: AsyncSession, node_id: int, container_id: str, tier: Tier
) -> list[dict[str, Any]]:
    c = ContainerPoint
    bucket = _bucket(c.ts, tier.step)
    rows = await session.execute(
        select(*_container_series_columns(tier.step))
        .where(
            c.container_id == container_id,
            c.node_id == node_id,
            c.res == tier.res,
            c.ts >= tier.since,
        )
        .group_by(bucket)
        .order_by(bucket)
    )
    return [dict(row._mapping) for row in rows]


async def service_series(
    session: AsyncSession, service_id: int, tier: Tier
) -> list[dict[str, Any]]:
    """Sums over the service's containers per bucket (each container averaged first)."""
    c = ContainerPoint
    bucket = _bucket(c.ts, tier.step)
    per_container = (
        select(c.container_id, *_container_series_columns(tier.step))
        .where(c.service_id == service_id, c.res == tier.res, c.ts >= tier.since)
        .group_by(c.container_id, bucket)
        .subquery()
    )
    p = per_container.c
    rows = await session.execute(
        select(
            p.ts,
            func.sum(p.cpu_pct).label("cpu_pct"),
            func.sum(p.mem_used).label("mem_used"),
            func.sum(p.net_rx_bps).label("net_rx_bps"),
            func.sum(p.net_tx_bps).label("net_tx_bps"),
            func.sum(p.blk_read_bps).label("blk_read_bps"),
            func.sum(p.blk_write_bps).label("blk_write_bps"),
            func.sum(p.pids).label("pids"),
            func.count().label("containers"),
        )
        .group_by(p.ts)
        .order_by(p.ts)
    )
    return [dict(row._mapping) for row in rows]


async def full_container_id(session: AsyncSession, node_id: int, prefix: str) -> str:
    """The full id of the stored container whose id starts with `prefix` (else `prefix`)."""
    c = ContainerPoint
    found = (
        await session.execute(
            select(c.container_id)
            .where(c.node_id == node_id, c.container_id.startswith(prefix, autoescape=True))
            .limit(1)
        )
    ).scalar()
    return str(found) if found else prefix


async def container_service_id(
    session: AsyncSession, node_id: int, container_id: str
) -> int | None:
    """The service the container's latest stored point belongs to, if any."""
    c = ContainerPoint
    return (
        await session.execute(
            select(c.service_id)
            .where(c.container_id == container_id, c.node_id == node_id)
            .order_by(c.res, c.ts.desc())
            .limit(1)
        )
    ).scalar()


async def latest_host_points(session: AsyncSession, since_ts: int) -> list[HostPoint]:
    """Each node's newest raw point at or after `since_ts`."""
    h = HostPoint
    newest = (
        select(h.node_id, func.max(h.ts).label("ts"))
        .where(h.res == RAW, h.ts >= since_ts)
        .group_by(h.node_id)
        .subquery()
    )
    rows = await session.execute(
        select(h).join(
            newest, (h.node_id == newest.c.node_id) & (h.ts == newest.c.ts) & (h.res == RAW)
        )
    )
    return list(rows.scalars().all())


async def latest_container_points(session: AsyncSession, since_ts: int) -> list[ContainerPoint]:
    """Every container of each node's newest raw sample at or after `since_ts`."""
    c = ContainerPoint
    newest = (
        select(c.node_id, func.max(c.ts).label("ts"))
        .where(c.res == RAW, c.ts >= since_ts)
        .group_by(c.node_id)
        .subquery()
    )
    rows = await session.execute(
        select(c).join(
            newest, (c.node_id == newest.c.node_id) & (c.ts == newest.c.ts) & (c.res == RAW)
        )
    )
    return list(rows.scalars().all())


def freshness_s(settings: Settings) -> int:
    """How old the newest sample of a node may be and still count as "now"."""
    return int(max(60.0, 3 * settings.metrics_interval))


async def fleet_series(session: AsyncSession, tier: Tier) -> list[dict[str, Any]]:
    """Per bucket: CPU% of all nodes' cores together, memory used and total summed."""
    h = HostPoint
    bucket = _bucket(h.ts, tier.step)
    per_node = (
        select(
            h.node_id,
            bucket.label("ts"),
            func.avg(h.cpu_pct).label("cpu_pct"),
            func.max(h.cpu_count).label("cpu_count"),
            func.avg(h.mem_used).label("mem_used"),
            func.max(h.mem_total).label("mem_total"),
        )
        .where(h.res == tier.res, h.ts >= tier.since)
        .group_by(h.node_id, bucket)
        .subquery()
    )
    p = per_node.c
    rows = await session.execute(
        select(
            p.ts,
            func.sum(p.cpu_pct * p.cpu_count).label("cpu_weighted"),
            func.sum(p.cpu_count).label("cpu_count"),
            func.sum(p.mem_used).label("mem_used"),
            func.sum(p.mem_total).label("mem_total"),
            func.count().label("nodes"),
        )
        .group_by(p.ts)
        .order_by(p.ts)
    )
    out = []
    for row in rows:
        cores = float(row.cpu_count or 0)
        total = float(row.mem_total or 0)
        out.append(
            {
                "ts": row.ts,
                "cpu_pct": float(row.cpu_weighted or 0) / cores if cores else 0.0,
                "mem_used": float(row.mem_used or 0),
                "mem_total": total,
                "mem_pct": 100.0 * float(row.mem_used or 0) / total if total else 0.0,
                "nodes": int(row.nodes),
            }
        )
    return out


def fleet_now(points: list[HostPoint]) -> dict[str, Any]:
    """Totals over each node's newest point (None percentages when no node reports)."""
    cores = sum(p.cpu_count for p in points)
    mem_used = sum(p.mem_used for p in points)
    mem_total = sum(p.mem_total for p in points)
    disk_used = sum(p.disk_used for p in points)
    disk_total = sum(p.disk_total for p in points)
    return {
        "nodes_reporting": len(points),
        "cpu_count": cores,
        "cpu_pct": sum(p.cpu_pct * p.cpu_count for p in points) / cores if cores else None,
        "mem_used": mem_used,
        "mem_total": mem_total,
        "mem_pct": 100.0 * mem_used / mem_total if mem_total else None,
        "disk_used": disk_used,
        "disk_total": disk_total,
        "disk_pct": 100.0 * disk_used / disk_total if disk_total else None,
    }
