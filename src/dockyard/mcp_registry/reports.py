"""The analytics views (overview, cost, performance, errors, tools, users) and their CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.kit.clock import utcnow
from dockyard.mcp_registry import analytics
from dockyard.mcp_registry.analytics import Totals, floor_day, percentile
from dockyard.mcp_registry.models import BUCKET_COLUMNS, McpServer
from dockyard.mcp_registry.schemas import (
    CostOut,
    DayCost,
    ErrorsOut,
    HourPoint,
    OverviewOut,
    PerformanceOut,
    Range,
    ServerDayCost,
    ToolRow,
    ToolsOut,
    UserRow,
    UsersOut,
)

VIEWS = ("overview", "cost", "performance", "errors", "tools", "users")
TOP_LIMIT = 100


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _hour_points(rows: list[Any], total: Totals) -> list[HourPoint]:
    """One point per row (bucket first, sums last), adding every row into `total`."""
    points = []
    for row in rows:
        t = Totals()
        t.add_row(row)
        total.merge(t)
        points.append(
            HourPoint(
                hour=row[0],
                queries=t.count,
                errors=t.errors,
                cost=round(t.cost, 6),
                avg_ms=_round(t.avg_ms),
                p95_ms=_round(t.p95_ms),
                error_rate=round(t.error_rate, 6),
            )
        )
    return points


async def _names(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(select(McpServer.id, McpServer.name))
    return {int(i): str(n) for i, n in rows.all()}


async def _cost_today(session: AsyncSession, server: int | None) -> float:
    start = floor_day(utcnow())
    return await analytics.usage_cost(session, start, start + timedelta(days=1), server)


async def overview(s: AsyncSession, r: Range) -> OverviewOut:
    rows = await analytics.server_hourly(s, r.since, r.until, r.mcp_server_id)
    total = Totals()
    per_hour = _hour_points(rows, total)
    return OverviewOut(
        range=r,
        queries=total.count,
        errors=total.errors,
        error_rate=round(total.error_rate, 6),
        cost=round(total.cost, 6),
        cost_today=round(await _cost_today(s, r.mcp_server_id), 6),
        avg_ms=_round(total.avg_ms),
        p95_ms=_round(total.p95_ms),
        tokens_in=total.tokens_in,
        tokens_out=total.tokens_out,
        tokens_cached=total.tokens_cached,
        per_hour=per_hour,
    )


async def cost(s: AsyncSession, r: Range) -> CostOut:
    rows = await analytics.server_hourly(
        s, r.since, r.until, r.mcp_server_id, by_server=True, metrics=("count", "cost")
    )
    names = await _names(s)
    per_day: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    per_server: dict[tuple[str, int], float] = defaultdict(float)
    total = 0.0
    for row in rows:
        day = row.bucket.date().isoformat()
        per_day[day][0] += float(row.cost or 0)
        per_day[day][1] += int(row.count or 0)
        per_server[(day, int(row.mcp_server_id))] += float(row.cost or 0)
        total += float(row.cost or 0)
    return CostOut(
        range=r,
        total=round(total, 6),
        cost_today=round(await _cost_today(s, r.mcp_server_id), 6),
        per_day=[
            DayCost(day=d, cost=round(v[0], 6), queries=int(v[1]))
            for d, v in sorted(per_day.items())
        ],
        by_server_per_day=[
            ServerDayCost(
                day=d, mcp_server_id=sid, mcp_server=names.get(sid, f"#{sid}"), cost=round(c, 6)
            )
            for (d, sid), c in sorted(per_server.items())
        ],
    )


async def performance(s: AsyncSession, r: Range) -> PerformanceOut:
    rows = await analytics.server_hourly(s, r.since, r.until, r.mcp_server_id)
    total = Totals()
    per_hour = _hour_points(rows, total)
    return PerformanceOut(
        range=r,
        avg_ms=_round(total.avg_ms),
        p95_ms=_round(total.p95_ms),
        per_hour=per_hour,
    )


async def errors(s: AsyncSession, r: Range) -> ErrorsOut:
    rows = await analytics.server_hourly(s, r.since, r.until, r.mcp_server_id)
    total = Totals()
    per_hour = _hour_points(rows, total)
    return ErrorsOut(
        range=r,
        queries=total.count,
        errors=total.errors,
        error_rate=round(total.error_rate, 6),
        per_hour=per_hour,
    )


async def tools(s: AsyncSession, r: Range) -> ToolsOut:
    groups = await analytics.grouped(s, "tool", r.since, r.until, r.mcp_server_id)
    names = await _names(s)
    items = [
        ToolRow(
            tool=tool,
            mcp_server_id=int(sid),
            mcp_server=names.get(int(sid), f"#{sid}"),
            queries=t.count,
            errors=t.errors,
            error_rate=round(t.error_rate, 6),
            avg_ms=_round(t.avg_ms),
            p95_ms=_round(percentile(t.buckets, 0.95)),
            cost=round(t.cost, 6),
        )
        for (tool, sid), t in groups.items()
    ]
    items.sort(key=lambda i: (-i.queries, i.tool))
    return ToolsOut(range=r, items=items[:TOP_LIMIT])


async def users(s: AsyncSession, r: Range) -> UsersOut:
    groups = await analytics.grouped(s, "user", r.since, r.until, r.mcp_server_id)
    items = [
        UserRow(
            user=str(user),
            queries=t.count,
            errors=t.errors,
            error_rate=round(t.error_rate, 6),
            avg_ms=_round(t.avg_ms),
            cost=round(t.cost, 6),
            tokens_in=t.tokens_in,
            tokens_out=t.tokens_out,
            tokens_cached=t.tokens_cached,
        )
        for user, t in groups.items()
    ]
    items.sort(key=lambda i: (-i.queries, i.user))
    return UsersOut(range=r, items=items)


async def build(view: str, session: AsyncSession, r: Range) -> BaseModel:
    builders = {
        "overview": overview,
        "cost": cost,
        "performance": performance,
        "errors": errors,
        "tools": tools,
        "users": users,
    }
    return await builders[view](session, r)


def _rows(view: str, data: Any) -> tuple[list[str], list[list[Any]]]:
    if view in ("overview", "performance", "errors"):
        header = ["hour", "queries", "errors", "error_rate", "cost", "avg_ms", "p95_ms"]
        return header, [
            [p.hour.isoformat(), p.queries, p.errors, p.error_rate, p.cost, p.avg_ms, p.p95_ms]
            for p in data.per_hour
        ]
    if view == "cost":
        header = ["day", "mcp_server_id", "mcp_server", "cost"]
        return header, [
            [c.day, c.mcp_server_id, c.mcp_server, c.cost] for c in data.by_server_per_day
        ]
    if view == "tools":
        header = [
            "tool",
            "mcp_server",
            "queries",
            "errors",
            "error_rate",
            "avg_ms",
            "p95_ms",
            "cost",
        ]
        return header, [
            [t.tool, t.mcp_server, t.queries, t.errors, t.error_rate, t.avg_ms, t.p95_ms, t.cost]
            for t in data.items
        ]
    header = [
        "user",
        "queries",
        "errors",
        "error_rate",
        "avg_ms",
        "cost",
        "tokens_in",
        "tokens_out",
    ]
    return header, [
        [u.user, u.queries, u.errors, u.error_rate, u.avg_ms, u.cost, u.tokens_in, u.tokens_out]
        for u in data.items
    ]


def _cell(value: Any) -> Any:
    # Spreadsheet formula injection: a text cell never starts with = + - @.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def to_csv(view: str, data: Any) -> str:
    header, rows = _rows(view, data)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def resolve_range(since: datetime | None, until: datetime | None, server: int | None) -> Range:
    start, end = analytics.default_range(since, until)
    return Range(since=start, until=end, mcp_server_id=server)


__all__ = ["BUCKET_COLUMNS", "VIEWS", "build", "resolve_range", "to_csv"]
