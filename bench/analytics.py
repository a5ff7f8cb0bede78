"""Analytics over 1,000,000 usage events: every dashboard query ≤ 100 ms (SQLite, PostgreSQL).

Generates the events (30 days, 4 MCP servers, 12 tools each, 50 users) and stores them in
batches of 10,000 through the ingest code path (`analytics.insert_events`, which maintains
the rollups), then times each analytics view (the p50 of several runs) over the whole 30
days, over the last 7 days, and filtered to one server. PostgreSQL runs when
DOCKYARD_TEST_POSTGRES_URL is set (a scratch database is created and dropped).

    uv run python -m bench.analytics [--events N] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from dockyard.kit.db import Database
from dockyard.mcp_registry import analytics, reports
from dockyard.mcp_registry.models import McpServer
from dockyard.mcp_registry.schemas import Range
from dockyard.migrations.runner import upgrade

BATCH = 10_000
DAYS = 30
SERVERS = 4
TOOLS = 12
USERS = 50
RUNS = 7
TARGET_MS = 100.0
END = datetime(2026, 11, 1, tzinfo=UTC)


def make_batch(
    rng: random.Random, start: int, size: int, server_ids: list[int]
) -> list[analytics.NewEvent]:
    span = DAYS * 86400
    out = []
    for i in range(start, start + size):
        server = rng.choice(server_ids)
        ok = rng.random() > 0.03
        out.append(
            analytics.NewEvent(
                id=f"bench-{i}",
                ts=END - timedelta(seconds=rng.random() * span),
                user=f"user-{int(rng.paretovariate(1.2)) % USERS}",
                mcp_server_id=server,
                tool=f"tool-{int(rng.paretovariate(1.5)) % TOOLS}",
                duration_ms=rng.lognormvariate(4.5, 1.0),
                success=ok,
                error=None if ok else "upstream error",
                tokens_in=rng.randint(50, 4000),
                tokens_out=rng.randint(10, 2000),
                tokens_cached=rng.randint(0, 1000),
                cost=round(rng.random() * 0.02, 6),
            )
        )
    return out


async def populate(db: Database, events: int) -> tuple[list[int], float]:
    async with db.session() as session:
        servers = [
            McpServer(
                name=f"bench-{n}",
                description="",
                url=f"http://127.0.0.1:9/{n}",
                transport="streamable_http",
                header_names=[],
                tags=[],
                enabled=False,
            )
            for n in range(SERVERS)
        ]
        session.add_all(servers)
        await session.commit()
        ids = [s.id for s in servers]
    rng = random.Random(7)
    started = time.perf_counter()
    for start in range(0, events, BATCH):
        batch = make_batch(rng, start, min(BATCH, events - start), ids)
        async with db.session() as session:
            await analytics.insert_events(session, batch)
            await session.commit()
        done = start + len(batch)
        if done % 100_000 == 0:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:,} events stored ({rate:,.0f}/s)", file=sys.stderr)
    return ids, time.perf_counter() - started


async def time_views(db: Database, label: str, r: Range) -> list[tuple[str, str, float, float]]:
    """(range, view, p50 wall ms, p50 CPU ms of this process: the server's share on SQLite)."""
    rows = []
    for view in reports.VIEWS:
        samples, cpu = [], []
        for _ in range(RUNS):
            async with db.read_session() as session:
                t0, c0 = time.perf_counter(), time.process_time()
                await reports.build(view, session, r)
                samples.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
        rows.append((label, view, statistics.median(samples), statistics.median(cpu)))
    return rows


async def run_backend(url: str, events: int) -> bool:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        ids, load_s = await populate(db, events)
        print(f"  stored {events:,} events in {load_s:.1f} s ({events / load_s:,.0f}/s)")
        ranges = [
            ("30 days", Range(since=END - timedelta(days=DAYS), until=END)),
            ("7 days", Range(since=END - timedelta(days=7), until=END)),
            (
                "30 days, 1 server",
                Range(since=END - timedelta(days=DAYS), until=END, mcp_server_id=ids[0]),
            ),
            (
                "odd hours",
                Range(since=END - timedelta(days=12, hours=5), until=END - timedelta(hours=7)),
            ),
        ]
        ok = True
        for label, r in ranges:
            for rlabel, view, p50, cpu in await time_views(db, label, r):
                flag = "ok" if p50 <= TARGET_MS else "SLOW"
                ok &= p50 <= TARGET_MS
                print(f"  {rlabel:<18} {view:<12} p50 {p50:7.1f} ms (cpu {cpu:6.1f} ms)  {flag}")
        return ok
    finally:
        await db.dispose()


async def postgres_scratch(admin_url: str) -> tuple[str, str]:
    import asyncpg  # type: ignore[import-untyped]

    name = f"dockyard_bench_{secrets.token_hex(4)}"
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), dsn


async def drop_postgres(dsn: str, url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    ok = True
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            print(f"analytics on SQLite, {args.events:,} events")
            ok &= await run_backend(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.events)
    pg = os.environ.get("DOCKYARD_TEST_POSTGRES_URL")
    if args.backend in ("postgresql", "both"):
        if not pg:
            print("DOCKYARD_TEST_POSTGRES_URL is not set: PostgreSQL not measured", file=sys.stderr)
            return 1 if args.backend == "postgresql" else (0 if ok else 1)
        url, dsn = await postgres_scratch(pg)
        try:
            print(f"analytics on PostgreSQL, {args.events:,} events")
            ok &= await run_backend(url, args.events)
        finally:
            await drop_postgres(dsn, url)
    print("analytics: every query within 100 ms" if ok else "analytics: SOME QUERIES OVER 100 ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
