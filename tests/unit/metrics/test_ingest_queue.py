"""The agent hub's metrics queue: bounded per node (oldest dropped), fair batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dockyard.metrics.ingest import METRICS_QUEUE, MetricsIngest
from dockyard.metrics.samples import HostSample, MetricsSample

T0 = datetime(2026, 11, 22, tzinfo=UTC)


def sample(second: int) -> MetricsSample:
    host = HostSample(
        cpu_percent=1.0,
        cpu_count=2,
        memory_used_bytes=1,
        memory_total_bytes=2,
        disk_used_bytes=1,
        disk_total_bytes=2,
        net_rx_bytes=0,
        net_tx_bytes=0,
        load_1=0.0,
        load_5=0.0,
        load_15=0.0,
    )
    return MetricsSample(taken_at=T0 + timedelta(seconds=second), host=host)


def test_a_slow_store_drops_the_oldest_samples_of_a_node_only() -> None:
    ingest = MetricsIngest()
    for second in range(METRICS_QUEUE + 3):
        ingest.put(1, sample(second))
    ingest.put(2, sample(100))
    assert ingest.dropped == 3
    batch = ingest._take()
    node1 = [s.ts - int(T0.timestamp()) for n, s in batch if n == 1]
    assert node1 == list(range(3, METRICS_QUEUE + 3))  # the newest ones, in order
    assert [n for n, _ in batch].count(2) == 1
    assert ingest._take() == []


def test_batches_are_bounded_and_take_from_every_node() -> None:
    ingest = MetricsIngest()
    for node_id in range(1, 2 * MetricsIngest.BATCH + 1):
        ingest.put(node_id, sample(node_id % 60))
    first = ingest._take()
    assert len(first) == MetricsIngest.BATCH
    assert len({n for n, _ in first}) == MetricsIngest.BATCH
    second = ingest._take()
    assert len(second) == MetricsIngest.BATCH
    assert not {n for n, _ in first} & {n for n, _ in second}
    assert ingest._take() == []


def big_sample(second: int, containers: int) -> MetricsSample:
    from dockyard.metrics.samples import ContainerSample

    base = sample(second)
    return base.model_copy(
        update={
            "containers": [
                ContainerSample(
                    container_id=f"{n:064x}",
                    name=f"c{n}",
                    cpu_percent=0.0,
                    memory_used_bytes=0,
                    memory_limit_bytes=0,
                    net_rx_bytes=0,
                    net_tx_bytes=0,
                    block_read_bytes=0,
                    block_write_bytes=0,
                    pids=1,
                )
                for n in range(containers)
            ]
        }
    )


def test_batches_are_bounded_by_container_rows_too() -> None:
    ingest = MetricsIngest()
    per_sample = MetricsIngest.BATCH_ROWS // 4 + 1  # four of them are over the budget
    for node_id in range(1, 9):
        ingest.put(node_id, big_sample(1, per_sample))
    assert [len(ingest._take()) for _ in range(4)] == [3, 3, 2, 0]
    # One sample larger than the whole budget still goes, alone.
    ingest.put(1, big_sample(2, MetricsIngest.BATCH_ROWS + 1))
    ingest.put(2, big_sample(2, 1))
    assert [len(ingest._take()) for _ in range(3)] == [1, 1, 0]


def test_a_writer_that_fell_behind_takes_bigger_batches_until_it_caught_up() -> None:
    ingest = MetricsIngest()
    backlog = MetricsIngest.BACKLOG + MetricsIngest.BATCH
    for node_id in range(1, backlog + 1):
        ingest.put(node_id, sample(1))
    first = ingest._take()
    assert len(first) == MetricsIngest.BATCH * MetricsIngest.CATCH_UP
    # BATCH left, not more than BACKLOG: normal batches again.
    assert len(ingest._take()) == MetricsIngest.BATCH
    assert ingest._take() == []
    assert ingest._queued == 0
    # The count of queued samples stays right when a full queue drops its oldest one.
    for second in range(METRICS_QUEUE + 2):
        ingest.put(1, sample(second))
    assert ingest._queued == METRICS_QUEUE
