"""Service logs: the last lines of every container, running or stopped."""

from __future__ import annotations

import asyncio
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from dockyard.engine import streams
from dockyard.nodes import repository as nodes
from dockyard.services.models import Service


class ServiceLogLine(NamedTuple):
    """One line of one container of the service."""

    container: str
    line: streams.LogLine


async def fetch_service_logs(
    runtime: Any,
    service: Service,
    *,
    tail: int,
    container: str | None,
    since: int | None,
    timestamps: bool = True,
) -> list[ServiceLogLine]:
    """`tail` lines per container, merged in time order when there are several."""
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

    # Several containers interleave by timestamp (RFC 3339 from one engine sorts as text),
    # so they are fetched even when not shown; `render_json` drops them then.
    fetch_ts = timestamps or len(containers) > 1

    async def one(c: Any) -> list[ServiceLogLine]:
        lines = await streams.fetch_logs(
            base_url, c.id, tail=tail, since=since, timestamps=fetch_ts
        )
        return [ServiceLogLine(c.name, line) for line in lines]

    batches = await asyncio.gather(*(one(c) for c in containers))
    if len(batches) == 1:
        return batches[0]
    entries = [entry for batch in batches for entry in batch]
    entries.sort(key=lambda entry: entry.line.ts or "")
    return entries


def render_json(lines: list[ServiceLogLine], *, timestamps: bool) -> bytes:
    """The `LogsOut` JSON document, written directly.

    10,000 lines through Pydantic models cost about a third of the request's CPU, and a
    dict per line for `json.dumps` most of the rest; these are plain strings from the
    engine, so each object is formatted with the C string encoder alone.
    """
    quote = encode_basestring
    names: dict[str, str] = {}
    parts: list[str] = []
    append = parts.append
    for name, line in lines:
        head = names.get(name)
        if head is None:
            head = names[name] = '{"container":' + quote(name) + ',"stream":"'
        ts = quote(line.ts) if timestamps and line.ts is not None else "null"
        append(f'{head}{line.stream}","ts":{ts},"message":{quote(line.message)}}}')
    return ('{"lines":[' + ",".join(parts) + "]}").encode()


def render_text(lines: list[ServiceLogLine], *, timestamps: bool) -> str:
    """Plain text for the download button: `container | ts message`."""
    return "".join(
        f"{name} | {line.ts + ' ' if timestamps and line.ts else ''}"
        f"{line.message.rstrip(chr(10))}\n"
        for name, line in lines
    )
