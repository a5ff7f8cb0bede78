"""Metrics storage on SQLite and PostgreSQL: ingest, series, downsampling, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dockyard.kit.db import Database
from dockyard.metrics import service
from dockyard.metrics.models import HOUR, MINUTE, RAW, ContainerPoint, HostPoint
from dockyard.metrics.samples import ContainerSample, HostSample, MetricsSample
from tests.conftest import make_settings

# A whole hour (UTC) a few days back, so every tier's buckets are closed.
T0 = datetime(2026, 11, 18, 10, 0, 0, tzinfo=UTC)


def sample(at: datetime, i: int, *, node_cpu: float, containers: int = 2) -> MetricsSample:
    return MetricsSample(
        taken_at=at,
        host=HostSample(
            cpu_percent=node_cpu,
            cpu_count=4,
            memory_used_bytes=1000 + i,
            memory_total_bytes=8000,
            disk_used_bytes=500,
            disk_total_bytes=1000,
            net_rx_bytes=10_000 + 100 * i,  # 100 bytes per 10 s sample: 10 B/s
            net_tx_bytes=20_000 + 50 * i,
            load_1=0.5,
            load_5=0.4,
            load_15=0.3,
        ),
        containers=[
            ContainerSample(
                container_id=f"{c:064x}",
                name=f"c{c}",
                service_id=7 if c < 2 else None,
                cpu_percent=10.0 * (c + 1),
                memory_used_bytes=100 * (c + 1),
                memory_limit_bytes=8000,
                net_rx_bytes=1000 * i,  # 100 B/s
                net_tx_bytes=0,
                block_read_bytes=0,
                block_write_bytes=2000 * i,  # 200 B/s
                pids=3,
            )
            for c in range(containers)
        ],
    )


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


async def _count(db: Database, table: type, res: int) -> int:
    async with db.read_session() as session:
        return int(
            (await session.execute(select(func.count()).where(table.res == res))).scalar() or 0
        )


async def test_ingest_query_rollup_and_retention(db: Database, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, db.url)
    # Two hours of samples every 10 s; node 1 CPU alternates 20/40, node 2 is at 80.
    for i in range(720):
        at = T0 + timedelta(seconds=10 * i)
        assert await service.ingest(db, 1, sample(at, i, node_cpu=20.0 if i % 2 else 40.0))
        if i < 360:
            assert await service.ingest(db, 2, sample(at, i, node_cpu=80.0, containers=0))
    # The same second again is dropped, and nothing is written twice.
    assert not await service.ingest(db, 1, sample(T0, 0, node_cpu=99.0))
    assert await _count(db, HostPoint, RAW) == 720 + 360

    now = T0 + timedelta(hours=2, minutes=10)
    tier = service.choose_tier(3600, settings, service.epoch(now))
    assert (tier.res, tier.step) == (RAW, 10)
    async with db.read_session() as session:
        points = await service.node_series(session, 1, tier)
        assert len(points) == 360 - 60  # the last 10 minutes have no samples
        assert {round(p["cpu_pct"]) for p in points} == {20, 40}
        assert all(p["net_rx_bps"] == pytest.approx(10.0) for p in points)
        svc = await service.service_series(session, 7, tier)
        assert svc
        assert all(p["containers"] == 2 for p in svc)
        assert svc[-1]["cpu_pct"] == pytest.approx(30.0)  # 10 + 20
        assert svc[-1]["mem_used"] == pytest.approx(300.0)
        assert svc[-1]["blk_write_bps"] == pytest.approx(400.0)
        one = await service.container_series(session, 1, f"{0:064x}", tier)
        assert one[-1]["net_rx_bps"] == pytest.approx(100.0)
        assert await service.full_container_id(session, 1, f"{0:064x}"[:12]) == f"{0:064x}"

    written = await service.rollup(db, now)
    # 120 minutes x 2 node-1 containers + 120 + 60 host minutes; 2 + 1 host hours, 4 ctr hours.
    assert written == {"minute": 120 + 60 + 240, "hour": 2 + 1 + 4}
    # Idempotent: a second pass writes nothing.
    assert await service.rollup(db, now) == {"minute": 0, "hour": 0}
    async with db.read_session() as session:
        minutes = (
            (
                await session.execute(
                    select(HostPoint)
                    .where(HostPoint.node_id == 1, HostPoint.res == MINUTE)
                    .order_by(HostPoint.ts)
                )
            )
            .scalars()
            .all()
        )
        assert len(minutes) == 120
        assert minutes[0].ts == service.epoch(T0)
        assert minutes[0].cpu_pct == pytest.approx(30.0)  # 3 x 40, 3 x 20
        assert minutes[0].mem_used == pytest.approx(1002.5)  # 1000..1005
        hours = (
            (
                await session.execute(
                    select(HostPoint)
                    .where(HostPoint.node_id == 2, HostPoint.res == HOUR)
                    .order_by(HostPoint.ts)
                )
            )
            .scalars()
            .all()
        )
        assert [h.cpu_pct for h in hours] == [pytest.approx(80.0)]
        week = service.choose_tier(7 * 86400, settings, service.epoch(now))
        assert week.res == MINUTE
        fleet = await service.fleet_series(session, week)
        first = fleet[0]
        # 30% on 4 cores and 80% on 4 cores: 55% of 8 cores.
        assert first["cpu_pct"] == pytest.approx(55.0)
        assert first["nodes"] == 2

    # Retention: 25 hours later raw points are gone, minutes and hours stay.
    later = T0 + timedelta(hours=27)
    deleted = await service.purge(db, settings, later)
    assert deleted == 720 + 360 + 720 * 2
    assert await _count(db, HostPoint, RAW) == 0
    assert await _count(db, ContainerPoint, RAW) == 0
    assert await _count(db, HostPoint, MINUTE) == 180
    # 8 days later the minutes are gone too; 91 days later everything.
    await service.purge(db, settings, T0 + timedelta(days=8))
    assert await _count(db, HostPoint, MINUTE) == 0
    assert await _count(db, ContainerPoint, MINUTE) == 0
    assert await _count(db, HostPoint, HOUR) == 3
    await service.purge(db, settings, T0 + timedelta(days=91))
    assert await _count(db, HostPoint, HOUR) == 0
    assert await _count(db, ContainerPoint, HOUR) == 0
