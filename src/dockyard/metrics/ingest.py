"""Storing a node's metrics sample (agent nodes' `metrics` messages, the local collector)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.metrics.samples import MetricsSample

if TYPE_CHECKING:
    from dockyard.runtime import Runtime


async def ingest_sample(runtime: Runtime, node_id: int, sample: MetricsSample) -> None:
    """Store `sample` as node `node_id`'s raw metrics point, in one transaction.

    A sample of the same second as (or older than) the node's newest one is dropped, so a
    repeated message stores nothing twice.
    """
    from dockyard.metrics.service import ingest

    await ingest(runtime.db, node_id, sample, runtime.instance_id or None)
