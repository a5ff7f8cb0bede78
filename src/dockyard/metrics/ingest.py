"""Storing a node's metrics sample (agent nodes' `metrics` messages, the local collector).

`MetricsIngest` is the one writer for every agent's samples. It keeps each node's newest
stored sample (second and raw counters, `service.LastPoint`) in memory, so a sample's rates
need no read of the previous points: per transaction one grouped statement checks that the
cached second is still the node's newest in the database (a sample stored by another
process, or a deleted point, makes it differ: that node's point is then read again), then
the batch's rows go in with two Core executemany inserts. The cache changes only after a
commit. Transactions are small (`BATCH` samples, at most `BATCH_ROWS` container rows) and
the writer yields to the event loop between them, so API requests and their own writes
interleave with a steady stream of metrics instead of queueing behind one long write.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import structlog

from dockyard.metrics.samples import MetricsSample

if TYPE_CHECKING:
    from dockyard.metrics.service import Figures, LastPoint
    from dockyard.runtime import Runtime

log = structlog.get_logger(__name__)

METRICS_QUEUE = 4
# A node's cached point unused this long is forgotten (a deleted or silent node).
CACHE_IDLE_S = 3600.0


async def ingest_sample(runtime: Runtime, node_id: int, sample: MetricsSample) -> None:
    """Store `sample` as node `node_id`'s raw metrics point, in one transaction.

    A sample of the same second as (or older than) the node's newest one is dropped, so a
    repeated message stores nothing twice.
    """
    from dockyard.metrics.service import ingest

    await ingest(runtime.db, node_id, sample, runtime.instance_id or None)


class MetricsIngest:
    """One writer for every agent's metrics: pending samples (at most `METRICS_QUEUE` per
    node, the oldest dropped first) are stored in small batches, one transaction per batch,
    so many agents never queue up as many database writers."""

    BATCH = 16  # samples per transaction
    BATCH_ROWS = 1600  # container rows per transaction (a batch has at least one sample)
    # Behind (more than BACKLOG samples pending: a starved process, a slow disk), batches
    # grow up to this many times: fewer round trips per sample, so the writer catches up.
    BACKLOG = 4 * BATCH
    CATCH_UP = 4
    GATHER_S = 0.5

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        # Queued as compact `Figures`, not as the parsed model (see `service.Figures`).
        self._pending: dict[int, deque[Figures]] = {}
        self._wake = asyncio.Event()
        # node id -> (its newest stored sample, monotonic time it was last used)
        self._last: dict[int, tuple[LastPoint, float]] = {}
        self._pruned_at = time.monotonic()
        self._queued = 0  # samples in `_pending`
        self.dropped = 0
        self.stored = 0
        self.duplicates = 0
        self.seeded = 0  # nodes whose newest point was read from the database

    def put(self, node_id: int, sample: MetricsSample) -> None:
        from dockyard.metrics.service import figures

        queue = self._pending.get(node_id)
        if queue is None:
            queue = self._pending[node_id] = deque(maxlen=METRICS_QUEUE)
        if len(queue) == queue.maxlen:
            self.dropped += 1
        else:
            self._queued += 1
        queue.append(figures(sample))
        self._wake.set()

    def _take(self) -> list[tuple[int, Figures]]:
        """The next batch: round robin over the nodes, oldest sample of each first."""
        scale = self.CATCH_UP if self._queued > self.BACKLOG else 1
        most, most_rows = self.BATCH * scale, self.BATCH_ROWS * scale
        batch: list[tuple[int, Figures]] = []
        rows = 0
        while self._pending:
            for node_id in list(self._pending):
                queue = self._pending[node_id]
                size = len(queue[0].containers)
                if batch and (len(batch) >= most or rows + size > most_rows):
                    return batch
                batch.append((node_id, queue.popleft()))
                self._queued -= 1
                rows += size
                if not queue:
                    del self._pending[node_id]
        return batch

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.GATHER_S)  # let a burst gather
            self._wake.clear()
            while batch := self._take():
                try:
                    await asyncio.wait_for(self._store(batch), timeout=60)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "agent_metrics_ingest_failed",
                        samples=len(batch),
                        error=str(exc)[:200] or exc.__class__.__name__,
                    )
                await asyncio.sleep(0)  # let API requests in between two transactions
            if self.dropped:
                log.warning("agent_metrics_dropped", samples=self.dropped)
                self.dropped = 0
            self._prune()

    def _prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < CACHE_IDLE_S / 4:
            return
        self._pruned_at = now
        for node_id, (_, used) in list(self._last.items()):
            if now - used > CACHE_IDLE_S:
                del self._last[node_id]

    def forget(self, node_id: int) -> None:
        """Drop node `node_id`'s cached point (its next sample reads it from the database)."""
        self._last.pop(node_id, None)

    async def _store(self, batch: list[tuple[int, Figures]]) -> None:
        from sqlalchemy.exc import IntegrityError

        from dockyard.metrics import service

        runtime = self.runtime
        if runtime is None:
            return
        instance = runtime.instance_id or None
        node_ids = {node_id for node_id, _ in batch}
        try:
            async with runtime.db.session() as session:
                # Inside the write transaction: on SQLite (BEGIN IMMEDIATE) nobody can store
                # a point of these nodes before the commit.
                newest = await service.newest_raw_ts(session, node_ids)
                last: dict[int, LastPoint | None] = {}
                for node_id in node_ids:
                    ts = newest.get(node_id)
                    cached = self._last.get(node_id)
                    if ts is None:
                        last[node_id] = None
                    elif cached is not None and cached[0].ts == ts:
                        last[node_id] = cached[0]
                    else:  # first sample since start, or another process stored one
                        last[node_id] = await service.last_point(session, node_id, ts)
                        self.seeded += 1
                host_rows: list[dict[str, Any]] = []
                container_rows: list[dict[str, Any]] = []
                duplicates = 0
                for node_id, sample in batch:
                    built = service.sample_rows(node_id, sample, last[node_id], instance)
                    if built is None:
                        duplicates += 1
                        continue
                    host_rows.append(built[0])
                    container_rows.extend(built[1])
                    last[node_id] = built[2]
                await service.insert_rows(session, host_rows, container_rows)
                await session.commit()
        except IntegrityError:
            # A second another process stored first: one at a time, read from the database.
            for node_id in node_ids:
                self.forget(node_id)
            for node_id, sample in batch:
                with contextlib.suppress(IntegrityError):
                    await service.ingest(runtime.db, node_id, sample, instance)
            self.stored += len(batch)
            return
        # Only now, after the commit (a failed batch leaves the cache as it was: still the
        # committed state, and checked against the database before its next use anyway).
        now = time.monotonic()
        for node_id, point in last.items():
            if point is not None:
                self._last[node_id] = (point, now)
        self.stored += len(host_rows)
        self.duplicates += duplicates
