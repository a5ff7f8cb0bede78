"""Periodic metrics work: the local node's collector and downsampling with retention.

Both are system jobs of `install_system_jobs` (one code path, run by `dockyard serve` with
its scheduler, or by `dockyard beat` in scale-out mode), never by job workers. Agent nodes
collect on their own host and send samples over their WebSocket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select

from dockyard.metrics.collector import collect_sample
from dockyard.metrics.ingest import ingest_sample
from dockyard.metrics.service import maintain
from dockyard.nodes.models import Node

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

log = structlog.get_logger(__name__)

MAINTENANCE_INTERVAL_S = 60.0


async def collect_local(runtime: Runtime) -> None:
    """Sample the local node(s) (the engine this process watches) and store the sample."""
    async with runtime.db.read_session() as session:
        nodes = (await session.execute(select(Node).where(Node.kind == "local"))).scalars().all()
    for node in nodes:
        engine = runtime.nodes.engine_for(node)
        sample = await collect_sample(engine, concurrency=runtime.settings.metrics_concurrency)
        await ingest_sample(runtime, node.id, sample)


async def metrics_maintenance(runtime: Runtime) -> None:
    """Downsample raw points into minutes and hours, then drop points past retention."""
    await maintain(runtime.db, runtime.settings)
