"""The agent metrics writer's in-memory last points (SQLite and PostgreSQL): rates across
batches, a restart seeding from the database, another process storing in between,
duplicates dropped, and a failed transaction leaving the cache as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dockyard.kit.db import Database
from dockyard.metrics import service
from dockyard.metrics.ingest import MetricsIngest
from dockyard.metrics.models import RAW, ContainerPoint, HostPoint
from dockyard.metrics.samples import ContainerSample, HostSample, MetricsSample

T0 = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
C1, C2, C3 = (f"{n:064x}" for n in (1, 2, 3))


class FakeRuntime:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.instance_id = "this-install"


def sample(
    second: int, host_rx: int, containers: dict[str, int], *, other_instance: str | None = None
) -> MetricsSample:
    """Host net_rx `host_rx`; each container's four counters are `n`, 2n, 3n, 4n."""
    return MetricsSample(
        taken_at=T0 + timedelta(seconds=second),
        host=HostSample(
            cpu_percent=10.0,
            cpu_count=2,
            memory_used_bytes=1,
            memory_total_bytes=2,
            disk_used_bytes=1,
            disk_total_bytes=2,
            net_rx_bytes=host_rx,
            net_tx_bytes=2 * host_rx,
            load_1=0.1,
            load_5=0.1,
            load_15=0.1,
        ),
        containers=[
            ContainerSample(
                container_id=cid,
                name=cid[-4:],
                service_id=5,
                instance=other_instance,
                cpu_percent=1.0,
                memory_used_bytes=10,
                memory_limit_bytes=100,
                net_rx_bytes=n,
                net_tx_bytes=2 * n,
                block_read_bytes=3 * n,
                block_write_bytes=4 * n,
                pids=2,
            )
            for cid, n in containers.items()
        ],
    )


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


def writer(db: Database) -> MetricsIngest:
    ingest = MetricsIngest()
    ingest.runtime = FakeRuntime(db)  # type: ignore[assignment]
    return ingest


async def store(ingest: MetricsIngest, *items: tuple[int, MetricsSample]) -> None:
    for node_id, s in items:
        ingest.put(node_id, s)
    while batch := ingest._take():
        await ingest._store(batch)


async def hosts(db: Database, node_id: int) -> dict[int, tuple[float, float]]:
    async with db.read_session() as session:
        rows = await session.execute(
            select(HostPoint.ts, HostPoint.net_rx_bps, HostPoint.net_tx_bps).where(
                HostPoint.node_id == node_id, HostPoint.res == RAW
            )
        )
        return {int(r.ts) - service.epoch(T0): (r.net_rx_bps, r.net_tx_bps) for r in rows}


async def containers(db: Database, node_id: int, second: int) -> dict[str, Any]:
    async with db.read_session() as session:
        rows = await session.execute(
            select(ContainerPoint).where(
                ContainerPoint.node_id == node_id,
                ContainerPoint.res == RAW,
                ContainerPoint.ts == service.epoch(T0) + second,
            )
        )
        return {
            p.container_id: (
                p.net_rx_bps,
                p.net_tx_bps,
                p.blk_read_bps,
                p.blk_write_bps,
                p.service_id,
            )
            for p in rows.scalars()
        }


async def test_rates_across_batches_match_the_database_path(db: Database) -> None:
    ingest = writer(db)
    await store(ingest, (1, sample(0, 1000, {C1: 100, C2: 0})))
    await store(ingest, (1, sample(10, 2000, {C1: 300, C3: 50})))
    # Two samples of one node in one transaction: the second's rates use the first.
    await store(ingest, (1, sample(20, 2500, {C1: 400, C3: 50})), (1, sample(25, 2600, {C1: 400})))
    assert ingest.seeded == 0  # every previous point came from memory
    assert ingest.stored == 4
    assert await hosts(db, 1) == {
        0: (0.0, 0.0),
        10: (100.0, 200.0),
        20: (50.0, 100.0),
        25: (20.0, 40.0),
    }
    assert await containers(db, 1, 0) == {C1: (0.0,) * 4 + (5,), C2: (0.0,) * 4 + (5,)}
    # C1: +200 over 10 s; C3 is new (no previous): 0; C2 is gone.
    assert await containers(db, 1, 10) == {
        C1: (20.0, 40.0, 60.0, 80.0, 5),
        C3: (0.0, 0.0, 0.0, 0.0, 5),
    }
    assert await containers(db, 1, 20) == {
        C1: (10.0, 20.0, 30.0, 40.0, 5),
        C3: (0.0, 0.0, 0.0, 0.0, 5),
    }
    assert await containers(db, 1, 25) == {C1: (0.0, 0.0, 0.0, 0.0, 5)}

    # The same samples through the one-at-a-time database path give the same rows (an hour
    # later: a container point's key is its id and second, not its node).
    for second, rx, ctrs in ((0, 1000, {C1: 100, C2: 0}), (10, 2000, {C1: 300, C3: 50})):
        assert await service.ingest(db, 2, sample(3600 + second, rx, ctrs), "this-install")
    assert await hosts(db, 2) == {3600: (0.0, 0.0), 3610: (100.0, 200.0)}
    assert await containers(db, 2, 3610) == await containers(db, 1, 10)


async def test_another_installations_service_id_is_not_kept(db: Database) -> None:
    ingest = writer(db)
    await store(ingest, (1, sample(0, 0, {C1: 1}, other_instance="elsewhere")))
    await store(ingest, (3, sample(0, 0, {C2: 1}, other_instance="this-install")))
    assert (await containers(db, 1, 0))[C1][4] is None
    assert (await containers(db, 3, 0))[C2][4] == 5


async def test_a_restarted_writer_seeds_from_the_database(db: Database) -> None:
    first = writer(db)
    await store(first, (1, sample(0, 1000, {C1: 100})), (2, sample(0, 0, {})))
    await store(first, (1, sample(10, 2000, {C1: 300})))
    restarted = writer(db)
    await store(restarted, (1, sample(20, 4000, {C1: 700})), (2, sample(20, 0, {})))
    assert restarted.seeded == 2
    assert (await hosts(db, 1))[20] == (200.0, 400.0)
    assert (await containers(db, 1, 20))[C1] == (40.0, 80.0, 120.0, 160.0, 5)
    # From then on the point is in memory.
    await store(restarted, (1, sample(30, 5000, {C1: 800})))
    assert restarted.seeded == 2
    assert (await hosts(db, 1))[30] == (100.0, 200.0)


async def test_a_sample_stored_by_another_process_is_seen(db: Database) -> None:
    ingest = writer(db)
    await store(ingest, (1, sample(0, 1000, {C1: 100})))
    # Another replica stores the node's next sample (the agent reconnected there).
    assert await service.ingest(db, 1, sample(10, 3000, {C1: 300}))
    await store(ingest, (1, sample(20, 3500, {C1: 400})))
    assert ingest.seeded == 1
    # Against the sample of second 10, not the cached one of second 0.
    assert (await hosts(db, 1))[20] == (50.0, 100.0)
    assert (await containers(db, 1, 20))[C1] == (10.0, 20.0, 30.0, 40.0, 5)
    # That process also stored second 30: this writer's sample of second 30 is a duplicate.
    assert await service.ingest(db, 1, sample(30, 4000, {C1: 500}))
    await store(ingest, (1, sample(30, 9999, {C1: 999})))
    assert ingest.duplicates == 1
    assert (await hosts(db, 1))[30] == (50.0, 100.0)


async def test_duplicates_and_older_samples_store_nothing(db: Database) -> None:
    ingest = writer(db)
    await store(ingest, (1, sample(10, 1000, {C1: 100})))
    await store(ingest, (1, sample(10, 5000, {C1: 900})))  # same second
    await store(ingest, (1, sample(5, 5000, {C1: 900})))  # older
    # In one batch: a repeat of the sample just before it.
    await store(ingest, (1, sample(20, 2000, {C1: 200})), (1, sample(20, 7000, {C1: 999})))
    assert ingest.duplicates == 3
    assert ingest.stored == 2
    assert await hosts(db, 1) == {10: (0.0, 0.0), 20: (100.0, 200.0)}
    assert (await containers(db, 1, 20))[C1] == (10.0, 20.0, 30.0, 40.0, 5)
    assert ingest.seeded == 0


async def test_a_failed_transaction_does_not_advance_the_cache(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest = writer(db)
    await store(ingest, (1, sample(0, 1000, {C1: 100})))
    insert_rows = service.insert_rows

    async def insert_then_fail(*args: Any) -> None:
        await insert_rows(*args)
        raise RuntimeError("disk full")

    monkeypatch.setattr(service, "insert_rows", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        await store(ingest, (1, sample(10, 9000, {C1: 900})))
    monkeypatch.undo()
    assert ingest._last[1][0].ts == service.epoch(T0)  # still the committed second 0
    assert set(await hosts(db, 1)) == {0}  # rolled back
    await store(ingest, (1, sample(20, 3000, {C1: 300})))
    assert ingest.seeded == 0  # the cache still matched the database
    assert await hosts(db, 1) == {0: (0.0, 0.0), 20: (100.0, 200.0)}
    assert (await containers(db, 1, 20))[C1] == (10.0, 20.0, 30.0, 40.0, 5)


async def test_a_conflicting_batch_falls_back_to_one_sample_at_a_time(db: Database) -> None:
    ingest = writer(db)
    await store(ingest, (1, sample(0, 1000, {C1: 100})), (2, sample(0, 0, {C2: 0})))
    # Node 2 reports node 1's container id at the same second: the batch's insert fails on
    # the container point's key; each sample is then stored on its own (node 2's fails).
    await store(ingest, (1, sample(10, 2000, {C1: 300})), (2, sample(10, 0, {C1: 5})))
    assert set(await hosts(db, 1)) == {0, 10}
    assert set(await hosts(db, 2)) == {0}
    assert (await containers(db, 1, 10))[C1] == (20.0, 40.0, 60.0, 80.0, 5)
    assert not {1, 2} & set(ingest._last)  # read again next time
    await store(ingest, (1, sample(20, 2500, {C1: 400})), (2, sample(20, 100, {C2: 10})))
    assert ingest.seeded == 2
    assert (await hosts(db, 1))[20] == (50.0, 100.0)
    assert (await hosts(db, 2))[20] == (5.0, 10.0)  # against second 0, 20 s before
    assert (await containers(db, 2, 20))[C2] == (0.5, 1.0, 1.5, 2.0, 5)
