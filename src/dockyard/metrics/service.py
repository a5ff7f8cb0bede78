"""Metrics storage: ingest, downsampling, retention and series queries.

Tiers (see `metrics.models`): raw samples, 1-minute and 1-hour averages. `maintain` rolls
raw points up into closed minutes and minutes into closed hours, per node, from the last
bucket already written (a watermark), so re-running it writes nothing twice; then it
deletes points past each tier's retention. Averages of averages are unweighted (a minute
with fewer samples counts as much as a full one), which charts do not notice.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from sqlalchemy import ColumnElement, Table, delete, func, insert, literal_column, select
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


@dataclass(frozen=True, slots=True)
class LastPoint:
    """A node's newest stored raw sample: its second and raw counters, enough to compute
    the next sample's rates. `containers`: container id -> (net_rx, net_tx, blk_read,
    blk_write) of the containers in that sample."""

    ts: int
    net_rx: int
    net_tx: int
    containers: dict[str, tuple[int, int, int, int]]


# A sample's figures as plain tuples of numbers and strings. What the agent metrics writer
# queues: a parsed `MetricsSample` is hundreds of objects the garbage collector tracks, and
# thousands of them kept for a while make its full collections long pauses of the event
# loop; tuples of numbers and strings it stops tracking at once.
# Host: cpu_percent, cpu_count, memory used, memory total, disk used, disk total, net rx,
# net tx, load_1.
HostFigures = tuple[float, int, int, int, int, int, int, int, float]
# Container: id, service id, instance label, cpu_percent, memory used, memory limit, net rx,
# net tx, block read, block write, pids.
ContainerFigures = tuple[str, int | None, str | None, float, int, int, int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Figures:
    """One sample, compact: `ts` in epoch seconds."""

    ts: int
    host: HostFigures
    containers: tuple[ContainerFigures, ...]


def figures(sample: MetricsSample) -> Figures:
    h = sample.host
    return Figures(
        ts=epoch(sample.taken_at),
        host=(
            h.cpu_percent,
            h.cpu_count,
            h.memory_used_bytes,
            h.memory_total_bytes,
            h.disk_used_bytes,
            h.disk_total_bytes,
            h.net_rx_bytes,
            h.net_tx_bytes,
            h.load_1,
        ),
        containers=tuple(
            (
                c.container_id,
                c.service_id,
                c.instance,
                c.cpu_percent,
                c.memory_used_bytes,
                c.memory_limit_bytes,
                c.net_rx_bytes,
                c.net_tx_bytes,
                c.block_read_bytes,
                c.block_write_bytes,
                c.pids,
            )
            for c in sample.containers
        ),
    )


def sample_rows(
    node_id: int,
    sample: Figures,
    last: LastPoint | None,
    instance_id: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], LastPoint] | None:
    """The host row and container rows of `sample` (rates against `last`, the node's newest
    stored sample), and the sample as the node's new `LastPoint`. None: `last` is of the
    same second or later, the sample must be dropped.

    With `instance_id`, a container labelled with another installation's instance keeps no
    service id (its service id names a service of that other installation).
    """
    ts = sample.ts
    if last is not None and last.ts >= ts:
        return None
    cpu, cores, mem_used, mem_total, disk_used, disk_total, rx, tx, load_1 = sample.host
    gap = ts - last.ts if last is not None else 0
    host_row = {
        "node_id": node_id,
        "res": RAW,
        "ts": ts,
        "cpu_pct": cpu,
        "cpu_count": cores,
        "mem_used": float(mem_used),
        "mem_total": float(mem_total),
        "disk_used": float(disk_used),
        "disk_total": float(disk_total),
        "net_rx": rx,
        "net_tx": tx,
        "net_rx_bps": _rate(rx, last.net_rx if last else None, gap),
        "net_tx_bps": _rate(tx, last.net_tx if last else None, gap),
        "load_1": load_1,
    }
    previous = last.containers if last is not None else {}
    counters: dict[str, tuple[int, int, int, int]] = {}
    rows: list[dict[str, Any]] = []
    for (
        cid,
        service_id,
        instance,
        c_cpu,
        c_mem,
        c_limit,
        c_rx,
        c_tx,
        c_br,
        c_bw,
        pids,
    ) in sample.containers:
        counters[cid] = (c_rx, c_tx, c_br, c_bw)
        prev = previous.get(cid)
        if prev is None or gap <= 0:
            rates = (0.0, 0.0, 0.0, 0.0)
        else:
            rates = (
                _rate(c_rx, prev[0], gap),
                _rate(c_tx, prev[1], gap),
                _rate(c_br, prev[2], gap),
                _rate(c_bw, prev[3], gap),
            )
        rows.append(
            {
                "container_id": cid,
                "res": RAW,
                "ts": ts,
                "node_id": node_id,
                "service_id": (
                    service_id if instance_id is None or instance in (None, instance_id) else None
                ),
                "cpu_pct": c_cpu,
                "mem_used": float(c_mem),
                "mem_limit": float(c_limit),
                "net_rx": c_rx,
                "net_tx": c_tx,
                "blk_read": c_br,
                "blk_write": c_bw,
                "net_rx_bps": rates[0],
                "net_tx_bps": rates[1],
                "blk_read_bps": rates[2],
                "blk_write_bps": rates[3],
                "pids": float(pids),
            }
        )
    return host_row, rows, LastPoint(ts, rx, tx, counters)


async def newest_raw_ts(session: AsyncSession, node_ids: Iterable[int]) -> dict[int, int]:
    """Each node's newest stored raw second (nodes without points are left out): one
    statement, an index seek per node."""
    ids = sorted(set(node_ids))
    if not ids:
        return {}
    h = HostPoint
    rows = await session.execute(
        select(h.node_id, func.max(h.ts))
        .where(h.node_id.in_(ids), h.res == RAW)
        .group_by(h.node_id)
    )
    return {int(node_id): int(ts) for node_id, ts in rows if ts is not None}


async def last_point(
    session: AsyncSession, node_id: int, ts: int | None = None
) -> LastPoint | None:
    """Node `node_id`'s raw sample at second `ts` (default: its newest) from the database."""
    h = HostPoint
    query = select(h.ts, h.net_rx, h.net_tx).where(h.node_id == node_id, h.res == RAW)
    query = query.where(h.ts == ts) if ts is not None else query.order_by(h.ts.desc()).limit(1)
    host = (await session.execute(query)).first()
    if host is None:
        return None
    c = ContainerPoint
    rows = await session.execute(
        select(c.container_id, c.net_rx, c.net_tx, c.blk_read, c.blk_write).where(
            c.node_id == node_id, c.res == RAW, c.ts == host.ts
        )
    )
    return LastPoint(
        ts=int(host.ts),
        net_rx=int(host.net_rx),
        net_tx=int(host.net_tx),
        containers={row[0]: (row[1], row[2], row[3], row[4]) for row in rows},
    )


_HOST_TABLE = cast(Table, HostPoint.__table__)
_CONTAINER_TABLE = cast(Table, ContainerPoint.__table__)


# Placeholders of the drivers' parameter styles that `_insert_sql` writes.
_MARKS: dict[str, Callable[[int], str]] = {
    "qmark": lambda _n: "?",
    "numeric_dollar": lambda n: f"${n}",
    "format": lambda _n: "%s",
}


@functools.cache
def _insert_sql(table: Table, columns: tuple[str, ...], paramstyle: str) -> str:
    unknown = set(columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"not columns of {table.name}: {sorted(unknown)}")
    mark = _MARKS[paramstyle]
    # Names checked against the table above; values go as parameters.
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)})"  # noqa: S608
        f" VALUES ({', '.join(mark(n) for n in range(1, len(columns) + 1))})"
    )


async def _insert(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    connection = await session.connection()
    paramstyle = connection.dialect.paramstyle
    if paramstyle not in _MARKS:
        await session.execute(insert(table), rows)
        return
    # Straight to the driver's executemany: the rows are plain numbers and strings already,
    # and SQLAlchemy's per-row parameter processing was a third of a sample's store cost.
    # Every row comes from `sample_rows`, so all have the same keys in the same order.
    columns = tuple(rows[0])
    await connection.exec_driver_sql(
        _insert_sql(table, columns, paramstyle), [tuple(row.values()) for row in rows]
    )


async def insert_rows(
    session: AsyncSession, host_rows: list[dict[str, Any]], container_rows: list[dict[str, Any]]
) -> None:
    """Executemany inserts of `sample_rows`' row dicts; the caller commits."""
    if host_rows:
        await _insert(session, _HOST_TABLE, host_rows)
    if container_rows:
        await _insert(session, _CONTAINER_TABLE, container_rows)


async def store_sample(
    session: AsyncSession,
    node_id: int,
    sample: MetricsSample | Figures,
    instance_id: str | None = None,
) -> bool:
    """Add `sample` as raw points of node `node_id`, its rates against the newest stored
    sample read from the database (the caller commits). False: a sample of that second (or
    a later one) is already stored.
    """
    compact = sample if isinstance(sample, Figures) else figures(sample)
    built = sample_rows(node_id, compact, await last_point(session, node_id), instance_id)
    if built is None:
        return False
    host_row, container_rows, _ = built
    await insert_rows(session, [host_row], container_rows)
    return True


async def ingest(
    db: Database,
    node_id: int,
    sample: MetricsSample | Figures,
    instance_id: str | None = None,
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
