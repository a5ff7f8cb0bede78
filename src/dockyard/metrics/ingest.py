"""Storing a node's metrics sample (agent nodes' `metrics` messages, the local collector)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TYPE_CHECKING

import structlog

from dockyard.metrics.samples import MetricsSample

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

log = structlog.get_logger(__name__)

METRICS_QUEUE = 4


async def ingest_sample(runtime: Runtime, node_id: int, sample: MetricsSample) -> None:
    """Store `sample` as node `node_id`'s raw metrics point, in one transaction.

    A sample of the same second as (or older than) the node's newest one is dropped, so a
    repeated message stores nothing twice.
    """
    from dockyard.metrics.service import ingest

    await ingest(runtime.db, node_id, sample, runtime.instance_id or None)


class MetricsIngest:
    """One writer for every agent's metrics: pending samples (at most `METRICS_QUEUE` per
    node, the oldest dropped first) are stored in batches, one transaction per batch, so
    many agents never queue up as many database writers."""

    BATCH = 100
    GATHER_S = 0.5

    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self._pending: dict[int, deque[MetricsSample]] = {}
        self._wake = asyncio.Event()
        self.dropped = 0
        self.stored = 0

    def put(self, node_id: int, sample: MetricsSample) -> None:
        queue = self._pending.get(node_id)
        if queue is None:
            queue = self._pending[node_id] = deque(maxlen=METRICS_QUEUE)
        if len(queue) == queue.maxlen:
            self.dropped += 1
        queue.append(sample)
        self._wake.set()

    def _take(self) -> list[tuple[int, MetricsSample]]:
        batch: list[tuple[int, MetricsSample]] = []
        while self._pending and len(batch) < self.BATCH:
            for node_id in list(self._pending):
                queue = self._pending[node_id]
                batch.append((node_id, queue.popleft()))
                if not queue:
                    del self._pending[node_id]
                if len(batch) >= self.BATCH:
                    break
        return batch

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.GATHER_S)  # let a burst gather into one transaction
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
            if self.dropped:
                log.warning("agent_metrics_dropped", samples=self.dropped)
                self.dropped = 0

    async def _store(self, batch: list[tuple[int, MetricsSample]]) -> None:
        from sqlalchemy.exc import IntegrityError

        from dockyard.metrics.service import store_sample

        runtime = self.runtime
        if runtime is None:
            return
        instance = runtime.instance_id or None
        try:
            async with runtime.db.session() as session:
                for node_id, sample in batch:
                    await store_sample(session, node_id, sample, instance)
                await session.commit()
        except IntegrityError:
            # A deleted node, or a second another process stored first: one at a time.
            for node_id, sample in batch:
                with contextlib.suppress(IntegrityError):
                    await ingest_sample(runtime, node_id, sample)
        self.stored += len(batch)
