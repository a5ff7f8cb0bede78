"""Service logs: the last lines of every container, running or stopped."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard.engine.streams import fetch_logs
from dockyard.nodes import repository as nodes
from dockyard.services.models import Service
from dockyard.services.schemas import LogLine


async def fetch_service_logs(
    runtime: Any,
    service: Service,
    *,
    tail: int,
    container: str | None,
    since: int | None,
    timestamps: bool,
) -> list[LogLine]:
    """`tail` lines per container, merged in time order when timestamps are on."""
    async with runtime.db.read_session() as session:
        node = await nodes.get(session, service.node_id)
    if node is None:
        return []
    containers = runtime.service_views.source.containers_for_service(node.id, service.id)
    if container:
        containers = [
            c for c in containers if container in (c.id, c.name) or c.id.startswith(container)
        ]
    base_url = node.docker_host

    async def one(c: Any) -> list[LogLine]:
        entries = await fetch_logs(base_url, c.id, tail=tail, since=since, timestamps=True)
        return [
            LogLine(container=c.name, stream=stream, ts=ts, message=message)
            for stream, ts, message in entries
        ]

    batches = await asyncio.gather(*(one(c) for c in containers))
    lines = [line for batch in batches for line in batch]
    if len(batches) > 1:
        # Timestamps are always fetched so containers interleave in time order
        # (RFC 3339 from one engine sorts as text), then dropped if not wanted.
        lines.sort(key=lambda line: line.ts or "")
    if not timestamps:
        lines = [line.model_copy(update={"ts": None}) for line in lines]
    return lines


def render_text(lines: list[LogLine]) -> str:
    """Plain text for the download button: `container | ts message`."""
    return "".join(
        f"{line.container} | {line.ts + ' ' if line.ts else ''}{line.message.rstrip(chr(10))}\n"
        for line in lines
    )
