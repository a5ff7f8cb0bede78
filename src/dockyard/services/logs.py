"""Service logs: the last lines of every container, running or stopped."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import TypeAdapter

from dockyard.engine import streams
from dockyard.nodes import repository as nodes
from dockyard.services.models import Service
from dockyard.services.schemas import LogLine

# One validation call for the whole list: building 10,000 models one by one costs more.
_LINES = TypeAdapter(list[LogLine])


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

    async def one(c: Any) -> tuple[str, list[streams.LogLine]]:
        # Timestamps are always fetched so containers interleave in time order (RFC 3339
        # from one engine sorts as text), and so `fetch_logs` needs no inspect for the TTY
        # flag; they are dropped below if not wanted.
        return c.name, await streams.fetch_logs(
            base_url, c.id, tail=tail, since=since, timestamps=True
        )

    batches = await asyncio.gather(*(one(c) for c in containers))
    entries = [(name, line) for name, lines in batches for line in lines]
    if len(batches) > 1:
        entries.sort(key=lambda entry: entry[1].ts or "")
    return _LINES.validate_python(
        [
            {
                "container": name,
                "stream": line.stream,
                "ts": line.ts if timestamps else None,
                "message": line.message,
            }
            for name, line in entries
        ]
    )


def render_text(lines: list[LogLine]) -> str:
    """Plain text for the download button: `container | ts message`."""
    return "".join(
        f"{line.container} | {line.ts + ' ' if line.ts else ''}{line.message.rstrip(chr(10))}\n"
        for line in lines
    )
