"""Storing a node's metrics sample (placeholder: the metrics domain fills this in)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.metrics.samples import MetricsSample

if TYPE_CHECKING:
    from dockyard.runtime import Runtime


async def ingest_sample(runtime: Runtime, node_id: int, sample: MetricsSample) -> None:
    """Store `sample` as node `node_id`'s raw metrics point."""
    del runtime, node_id, sample
