"""Usage events: idempotent bulk insert maintaining rollups, and every analytics query.

Every insert adds the new events (ON CONFLICT DO NOTHING ... RETURNING, so duplicates are
counted once) and upserts their sums into three rollup tables in the same transaction:
`usage_server_hourly` (time series), `usage_hourly` (hour x server x tool x user) and
`usage_daily` (day x server x tool x user). Queries read rollups only. Ranges are aligned to
whole hours: `since` is floored, `until` is exclusive and rounded up.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.kit.clock import utcnow
from dockyard.mcp_registry.models import (
    BUCKET_COLUMNS,
    DURATION_BUCKETS_MS,
    UsageEvent,
    UsageServerHourly,
    UsageToolDaily,
    UsageToolHourly,
    UsageUserDaily,
    UsageUserHourly,
)

METRIC_COLUMNS: tuple[str, ...] = (
    "count",
    "errors",
    "duration_sum",
    "cost",
    "tokens_in",
    "tokens_out",
    "tokens_cached",
    *BUCKET_COLUMNS,
)
_CHUNK = 2000
_N_METRICS = len(METRIC_COLUMNS)


@dataclass(frozen=True)
class NewEvent:
    """A validated event ready to store."""

    id: str
    ts: datetime
    user: str
    mcp_server_id: int
    tool: str
    duration_ms: float
    success: bool
    error: str | None
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    cost: float


def floor_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def floor_day(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def ceil_hour(ts: datetime) -> datetime:
    floored = floor_hour(ts)
    return floored if floored == ts else floored + timedelta(hours=1)


def bucket_index(duration_ms: float) -> int:
    return bisect_left(DURATION_BUCKETS_MS, duration_ms)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _insert(session: AsyncSession, table: Table) -> Any:
    return (pg_insert if _dialect(session) == "postgresql" else sqlite_insert)(table)


def _empty_metrics() -> dict[str, Any]:
    return {column: 0 for column in METRIC_COLUMNS}


def _add(metrics: dict[str, Any], event: NewEvent) -> None:
    metrics["count"] += 1
    metrics["errors"] += 0 if event.success else 1
    metrics["duration_sum"] += event.duration_ms
    metrics["cost"] += event.cost
    metrics["tokens_in"] += event.tokens_in
    metrics["tokens_out"] += event.tokens_out
    metrics["tokens_cached"] += event.tokens_cached
    metrics[BUCKET_COLUMNS[bucket_index(event.duration_ms)]] += 1


async def _upsert(
    session: AsyncSession, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    rows.sort(key=lambda row: tuple(str(row[k]) for k in keys))  # stable lock order
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: table.c[column] + stmt.excluded[column] for column in METRIC_COLUMNS},
    )
    for start in range(0, len(rows), _CHUNK):
        await session.execute(stmt, rows[start : start + _CHUNK])


async def insert_events(session: AsyncSession, events: Sequence[NewEvent]) -> int:
    """Store the events not stored yet and fold them into the rollups; returns how many."""
    unique: dict[str, NewEvent] = {}
    for event in events:
        unique.setdefault(event.id, event)
    if not unique:
        return 0
    table: Table = UsageEvent.__table__  # type: ignore[assignment]
    stmt = _insert(session, table).on_conflict_do_nothing(index_elements=["id"])
    stmt = stmt.returning(table.c.id)
    rows = [
        {
            "id": e.id,
            "ts": e.ts,
            "user": e.user,
            "mcp_server_id": e.mcp_server_id,
            "tool": e.tool,
            "duration_ms": e.duration_ms,
            "success": e.success,
            "error": e.error,
            "tokens_in": e.tokens_in,
            "tokens_out": e.tokens_out,
            "tokens_cached": e.tokens_cached,
            "cost": e.cost,
        }
        for e in unique.values()
    ]
    inserted: set[str] = set()
    for start in range(0, len(rows), _CHUNK):
        result = await session.execute(stmt, rows[start : start + _CHUNK])
        inserted.update(result.scalars().all())
    stored = [unique[i] for i in inserted]
    await apply_rollups(session, stored)
    return len(stored)


ROLLUPS: tuple[tuple[Any, tuple[str, ...], bool], ...] = (
    # (model, key columns after `bucket`, daily?)
    (UsageServerHourly, ("mcp_server_id",), False),
    (UsageToolHourly, ("mcp_server_id", "tool"), False),
    (UsageToolDaily, ("mcp_server_id", "tool"), True),
    (UsageUserHourly, ("mcp_server_id", "user"), False),
    (UsageUserDaily, ("mcp_server_id", "user"), True),
)


async def apply_rollups(session: AsyncSession, events: Iterable[NewEvent]) -> None:
    """Upsert the sums of `events` (already stored) into every rollup table."""
    groups: list[dict[tuple[Any, ...], dict[str, Any]]] = [
        defaultdict(_empty_metrics) for _ in ROLLUPS
    ]
    for event in events:
        hour = floor_hour(event.ts)
        day = floor_day(event.ts)
        for (_, keys, daily), group in zip(ROLLUPS, groups, strict=True):
            key = (day if daily else hour, *(getattr(event, k) for k in keys))
            _add(group[key], event)
    for (model, keys, _), group in zip(ROLLUPS, groups, strict=True):
        columns = ("bucket", *keys)
        await _upsert(
            session,
            model.__table__,
            columns,
            [dict(zip(columns, k, strict=True), **m) for k, m in group.items()],
        )


# ---------------------------------------------------------------- queries


@dataclass
class Totals:
    count: int = 0
    errors: int = 0
    duration_sum: float = 0.0
    cost: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKET_COLUMNS))

    def add_row(self, row: Any) -> None:
        """Add a result row whose last columns are the METRIC_COLUMNS sums, in order."""
        values = tuple(row)[-_N_METRICS:]
        self.count += int(values[0] or 0)
        self.errors += int(values[1] or 0)
        self.duration_sum += float(values[2] or 0.0)
        self.cost += float(values[3] or 0.0)
        self.tokens_in += int(values[4] or 0)
        self.tokens_out += int(values[5] or 0)
        self.tokens_cached += int(values[6] or 0)
        self.buckets = [a + int(b or 0) for a, b in zip(self.buckets, values[7:], strict=True)]

    def merge(self, other: Totals) -> None:
        self.count += other.count
        self.errors += other.errors
        self.duration_sum += other.duration_sum
        self.cost += other.cost
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.tokens_cached += other.tokens_cached
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]

    @property
    def avg_ms(self) -> float | None:
        return self.duration_sum / self.count if self.count else None

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    @property
    def p95_ms(self) -> float | None:
        return percentile(self.buckets, 0.95)


def percentile(buckets: Sequence[int], q: float) -> float | None:
    """Estimate the `q` quantile from histogram counts (linear within the bucket)."""
    total = sum(buckets)
    if total == 0:
        return None
    target = q * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= target:
            lower = DURATION_BUCKETS_MS[index - 1] if index > 0 else 0.0
            if index >= len(DURATION_BUCKETS_MS):
                return float(lower)
            upper = DURATION_BUCKETS_MS[index]
            return float(lower + (upper - lower) * (target - seen) / count)
        seen += count
    return float(DURATION_BUCKETS_MS[-1])


def _sums(model: Any) -> list[Any]:
    return [func.sum(getattr(model, column)).label(column) for column in METRIC_COLUMNS]


def _range(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    return floor_hour(since), ceil_hour(until)


async def server_hourly(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    mcp_server_id: int | None = None,
    *,
    by_server: bool = False,
    metrics: Sequence[str] = METRIC_COLUMNS,
) -> list[Any]:
    """Rows of (bucket[, mcp_server_id], sums of `metrics`...) per hour in the range."""
    start, end = _range(since, until)
    m = UsageServerHourly
    keys: list[Any] = [m.bucket, m.mcp_server_id] if by_server else [m.bucket]
    sums = [func.sum(getattr(m, column)).label(column) for column in metrics]
    stmt = select(*keys, *sums).where(m.bucket >= start, m.bucket < end)
    if mcp_server_id is not None:
        stmt = stmt.where(m.mcp_server_id == mcp_server_id)
    stmt = stmt.group_by(*keys).order_by(*keys)
    return list((await session.execute(stmt)).all())


async def totals(
    session: AsyncSession, since: datetime, until: datetime, mcp_server_id: int | None = None
) -> Totals:
    start, end = _range(since, until)
    m = UsageServerHourly
    stmt = select(*_sums(m)).where(m.bucket >= start, m.bucket < end)
    if mcp_server_id is not None:
        stmt = stmt.where(m.mcp_server_id == mcp_server_id)
    result = Totals()
    row = (await session.execute(stmt)).one()
    result.add_row(row)
    return result


async def usage_cost(
    session: AsyncSession, since: datetime, until: datetime, mcp_server_id: int | None = None
) -> float:
    """Total cost estimate of the events in [since, until) (hour-aligned)."""
    return (await totals(session, since, until, mcp_server_id)).cost


async def error_rate(
    session: AsyncSession, since: datetime, until: datetime, mcp_server_id: int | None = None
) -> float:
    """Failed / all events in [since, until) (hour-aligned), 0.0 without events."""
    return (await totals(session, since, until, mcp_server_id)).error_rate


async def grouped(
    session: AsyncSession,
    dimension: str,
    since: datetime,
    until: datetime,
    mcp_server_id: int | None = None,
) -> dict[Any, Totals]:
    """Totals per `dimension`: `tool` (keyed by (tool, server id)) or `user`.

    Whole UTC days inside the range are read from the daily rollup, the partial days at its
    edges from the hourly one.
    """
    hourly, daily = (
        (UsageToolHourly, UsageToolDaily)
        if dimension == "tool"
        else (UsageUserHourly, UsageUserDaily)
    )
    start, end = _range(since, until)
    first_day = floor_day(start)
    if first_day < start:
        first_day += timedelta(days=1)
    last_day = floor_day(end)
    spans: list[tuple[Any, datetime, datetime]] = []
    if first_day < last_day:
        spans.append((daily, first_day, last_day))
        if start < first_day:
            spans.append((hourly, start, first_day))
        if last_day < end:
            spans.append((hourly, last_day, end))
    else:
        spans.append((hourly, start, end))
    out: dict[Any, Totals] = defaultdict(Totals)
    for model, lo, hi in spans:
        if dimension == "tool":
            keys: list[Any] = [model.tool, model.mcp_server_id]
        elif dimension == "user":
            keys = [model.user]
        else:
            raise ValueError(dimension)
        stmt = select(*keys, *_sums(model)).where(model.bucket >= lo, model.bucket < hi)
        if mcp_server_id is not None:
            stmt = stmt.where(model.mcp_server_id == mcp_server_id)
        stmt = stmt.group_by(*keys)
        for row in (await session.execute(stmt)).all():
            key = (row[0], row[1]) if dimension == "tool" else row[0]
            out[key].add_row(row)
    return dict(out)


def default_range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """Default: the last 7 days up to the end of the current hour."""
    end = until or ceil_hour(utcnow() + timedelta(seconds=1))
    start = since or end - timedelta(days=7)
    return start, end
