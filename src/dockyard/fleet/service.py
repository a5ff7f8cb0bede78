"""Fleet-wide views: every container of every node in one table, and log search.

Every node, local or agent, is reached the same way (`runtime.nodes.engine_for(node)`; an
agent node's `docker_host` is its tunnel socket). Nodes are asked in parallel, each with a
timeout; a node that does not answer (engine down, agent offline: the tunnel answers 503)
is reported in `unavailable_nodes` and the rest of the answer stands.

A node whose state watcher follows its engine is read from the state cache (no engine
call at all); any other node is listed from its engine (never with `size=true`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select

from dockyard.access.service import sees_all, service_permissions
from dockyard.auth.service import Principal
from dockyard.engine import streams
from dockyard.fleet.schemas import (
    ContainerAccess,
    ContainerConfigOut,
    ContainerDetail,
    ContainerNetworkOut,
    ContainerStateOut,
    EnvVar,
    FleetContainer,
    FleetContainerList,
    FleetNode,
    LogSearchError,
    LogSearchMatch,
    LogSearchSummary,
    MountOut,
    SortField,
    SortOrder,
    UnavailableNode,
)
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import DockyardError, ValidationFailedError
from dockyard.nodes.models import Node
from dockyard.services.models import Service
from dockyard.services.schemas import PortOut
from dockyard.services.status import INSTANCE_LABEL, SERVICE_ID_LABEL
from dockyard.state.schemas import (
    COMPOSE_SERVICE_LABEL,
    PROJECT_LABEL,
    ContainerState,
    health_from_status,
)

log = structlog.get_logger(__name__)

# How long one node may take to list its containers before it is reported unavailable.
NODE_TIMEOUT_S = 5.0
# Log search: containers read at once (each is one engine stream and one thread).
SEARCH_CONCURRENCY = 6
# Log search: bytes of log read per container at most (the rest of its range is skipped).
CONTAINER_BYTE_CAP = 16 * 1024 * 1024
MAX_REGEX_LENGTH = 256
MAX_QUERY_LENGTH = 1000
SECRET_MASK = "********"  # noqa: S105 - the mask shown instead of a secret
# Environment variables whose name looks like this are shown masked (as audit scrubs them).
_SECRET_NAME = re.compile(
    r"pass(word)?|secret|token|api[_-]?key|private|credential|otp|authorization|cookie|dsn"
    r"|access[_-]?key|auth",
    re.I,
)
# A quantified group that itself contains a quantifier: `(a+)+`, `(x*y)*`, `(a{2,})+`.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[*+}](?:[^()\\]|\\.)*\)(?:[*+]|\{\d*,)")


# ---------------------------------------------------------------- who sees what


@dataclass(frozen=True)
class ServiceRef:
    id: int
    name: str
    node_id: int


@dataclass
class Visibility:
    """The services the caller sees and whether it sees every container."""

    full: bool
    services: dict[int, ServiceRef]
    visible: set[int]  # the service ids whose containers the caller sees (when not `full`)

    def allows(self, service_id: int | None) -> bool:
        return self.full or (service_id is not None and service_id in self.visible)


async def visibility(
    runtime: Any, principal: Principal, *, full_permission: str, service_permission: str
) -> Visibility:
    """`full_permission` (containers:*) with a see-all scope: every container of every node;
    otherwise only containers of services on which the caller holds `service_permission`."""
    full = sees_all(principal) and principal.can(full_permission)
    async with runtime.db.read_session() as session:
        rows = (
            await session.execute(
                select(Service.id, Service.name, Service.node_id, Service.owner_id)
            )
        ).all()
    services = {r.id: ServiceRef(r.id, r.name, r.node_id) for r in rows}
    visible: set[int] = set()
    if not full:
        for r in rows:
            held = service_permissions(
                principal, service_id=r.id, node_id=r.node_id, owner_id=r.owner_id
            )
            if held is not None and service_permission in held:
                visible.add(r.id)
    return Visibility(full=full, services=services, visible=visible)


# ---------------------------------------------------------------- one node's containers


@dataclass
class RawContainer:
    """What either source (state cache or engine list) says about one container."""

    id: str
    name: str
    image: str
    state: str
    status: str
    health: str | None
    created: datetime | None
    ports: list[dict[str, Any]]
    labels: Mapping[str, str]
    finished_at: datetime | None = None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def from_state(state: ContainerState) -> RawContainer:
    return RawContainer(
        id=state.id,
        name=state.name,
        image=state.image,
        state=state.state,
        status=state.status,
        health=state.health,
        created=state.created,
        ports=[dict(p) for p in state.ports],
        labels=state.labels,
        finished_at=state.finished_at,
    )


def from_summary(summary: Mapping[str, Any]) -> RawContainer:
    """One entry of `GET /containers/json`."""
    names = summary.get("Names") or []
    status = str(summary.get("Status") or "")
    state = str(summary.get("State") or "")
    created = summary.get("Created")
    ports: dict[tuple[Any, ...], dict[str, Any]] = {}
    for port in summary.get("Ports") or []:
        entry = {
            "host_ip": port.get("IP") or None,
            "host_port": _int(port.get("PublicPort")),
            "container_port": _int(port.get("PrivatePort")) or 0,
            "protocol": port.get("Type") or "tcp",
        }
        ports[tuple(entry.values())] = entry
    return RawContainer(
        id=str(summary.get("Id") or ""),
        name=str(names[0]).lstrip("/") if names else "",
        image=str(summary.get("Image") or ""),
        state=state,
        status=status,
        health=health_from_status(status) if state == "running" else None,
        created=datetime.fromtimestamp(created, UTC) if isinstance(created, int | float) else None,
        ports=sorted(
            ports.values(),
            key=lambda p: (
                p["container_port"],
                p["protocol"],
                p["host_ip"] or "",
                p["host_port"] or 0,
            ),
        ),
        labels=dict(summary.get("Labels") or {}),
    )


@dataclass
class NodeListing:
    node: Node
    containers: list[RawContainer] = field(default_factory=list)
    source: str = "none"
    error: str | None = None


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, DockyardError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return f"The node did not answer within {NODE_TIMEOUT_S:g} seconds."
    return f"{exc.__class__.__name__}: {exc}"[:300]


async def list_node(runtime: Any, node: Node, *, timeout_s: float = NODE_TIMEOUT_S) -> NodeListing:
    """One node's containers: from its state cache when followed live, else its engine."""
    watcher = runtime.state.watcher(node.id)
    cache = runtime.state.cache(node.id)
    if (
        watcher is not None
        and cache is not None
        and watcher.connected
        and watcher.base_url == node.docker_host
    ):
        return NodeListing(node, [from_state(c) for c in cache.containers()], "cache")
    try:
        summaries = await asyncio.wait_for(
            runtime.nodes.engine_for(node).list_containers(all=True), timeout_s
        )
    except Exception as exc:  # one node failing must never fail the whole answer
        return NodeListing(node, [], "none", _error_text(exc))
    return NodeListing(node, [from_summary(s) for s in summaries if s.get("Id")], "engine")


async def list_nodes(
    runtime: Any, node_id: int | None, restrict_to: set[int] | None
) -> list[NodeListing]:
    """Every (or one) node's listing, asked in parallel."""
    async with runtime.db.read_session() as session:
        stmt = select(Node).order_by(Node.id)
        if node_id is not None:
            stmt = stmt.where(Node.id == node_id)
        nodes = list((await session.execute(stmt)).scalars().all())
    if restrict_to is not None:
        nodes = [n for n in nodes if n.id in restrict_to]
    return list(await asyncio.gather(*(list_node(runtime, n) for n in nodes)))


def managed_service_id(labels: Mapping[str, Any], instance_id: str) -> int | None:
    """The service id in a container's labels, when this installation made it."""
    if labels.get(INSTANCE_LABEL) != instance_id:
        return None
    return _int(labels.get(SERVICE_ID_LABEL))


def service_of(
    runtime: Any, raw: RawContainer, node_id: int, services: Mapping[int, ServiceRef]
) -> ServiceRef | None:
    """The Dockyard service managing the container: its labels name this installation and a
    service that lives on this node."""
    sid = managed_service_id(raw.labels, runtime.instance_id)
    ref = services.get(sid) if sid is not None else None
    return ref if ref is not None and ref.node_id == node_id else None


# ---------------------------------------------------------------- the container table


@dataclass
class FleetQuery:
    node_id: int | None = None
    service_id: int | None = None
    state: str | None = None
    image: str | None = None
    q: str | None = None
    sort: SortField = "node"
    order: SortOrder = "asc"
    limit: int = 100
    offset: int = 0


def _row(runtime: Any, listing: NodeListing, raw: RawContainer, vis: Visibility) -> FleetContainer:
    ref = service_of(runtime, raw, listing.node.id, vis.services)
    return FleetContainer(
        node_id=listing.node.id,
        node_name=listing.node.name,
        id=raw.id,
        name=raw.name,
        image=raw.image,
        state=raw.state,
        status=raw.status,
        health=raw.health,
        created=raw.created,
        ports=[PortOut.model_validate(p) for p in raw.ports],
        service_id=ref.id if ref else None,
        service_name=ref.name if ref else None,
        compose_project=raw.labels.get(PROJECT_LABEL),
        compose_service=raw.labels.get(COMPOSE_SERVICE_LABEL),
    )


def matches(row: FleetContainer, query: FleetQuery) -> bool:
    """Whether a row passes the query's filters (node is filtered before listing)."""
    if query.node_id is not None and row.node_id != query.node_id:
        return False
    if query.service_id is not None and row.service_id != query.service_id:
        return False
    if query.state and row.state != query.state:
        return False
    if query.image and query.image.lower() not in row.image.lower():
        return False
    if query.q:
        needle = query.q.lower()
        if needle not in row.name.lower() and not row.id.startswith(needle):
            return False
    return True


_SORT_KEYS: dict[str, Callable[[FleetContainer], Any]] = {
    "node": lambda r: (r.node_name.lower(), r.node_id, r.name.lower()),
    "name": lambda r: (r.name.lower(), r.node_id),
    "image": lambda r: (r.image.lower(), r.name.lower()),
    "state": lambda r: (r.state, r.name.lower()),
    "created": lambda r: (r.created or datetime.min.replace(tzinfo=UTC), r.name.lower()),
    "service": lambda r: (
        r.service_name is None,
        (r.service_name or "").lower(),
        r.name.lower(),
    ),
}


def sort_rows(rows: list[FleetContainer], sort: str, order: str) -> list[FleetContainer]:
    return sorted(rows, key=_SORT_KEYS[sort], reverse=order == "desc")


def _restrict(vis: Visibility) -> set[int] | None:
    """Nodes worth asking: for a scoped caller only those its services live on."""
    if vis.full:
        return None
    return {vis.services[s].node_id for s in vis.visible if s in vis.services}


async def list_containers(
    runtime: Any, principal: Principal, query: FleetQuery
) -> FleetContainerList:
    vis = await visibility(
        runtime, principal, full_permission="containers:read", service_permission="services:read"
    )
    listings = await list_nodes(runtime, query.node_id, _restrict(vis))
    rows: list[FleetContainer] = []
    nodes: list[FleetNode] = []
    unavailable: list[UnavailableNode] = []
    for listing in listings:
        count = 0
        for raw in listing.containers:
            row = _row(runtime, listing, raw, vis)
            if vis.allows(row.service_id) and matches(row, query):
                rows.append(row)
                count += 1
        if listing.error is not None:
            unavailable.append(
                UnavailableNode(
                    node_id=listing.node.id, name=listing.node.name, error=listing.error
                )
            )
        nodes.append(
            FleetNode(
                node_id=listing.node.id,
                name=listing.node.name,
                available=listing.error is None,
                source=listing.source,
                containers=count,
            )
        )
    rows = sort_rows(rows, query.sort, query.order)
    return FleetContainerList(
        items=rows[query.offset : query.offset + query.limit],
        total=len(rows),
        limit=query.limit,
        offset=query.offset,
        nodes=nodes,
        unavailable_nodes=unavailable,
    )


# ---------------------------------------------------------------- one container


def mask_env(entries: Iterable[str]) -> list[EnvVar]:
    """`NAME=value` entries; values under secret-looking names are masked."""
    out: list[EnvVar] = []
    for entry in entries:
        name, _, value = str(entry).partition("=")
        secret = bool(_SECRET_NAME.search(name)) and value != ""
        out.append(EnvVar(name=name, value=SECRET_MASK if secret else value, masked=secret))
    return out


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def detail_from_inspect(
    data: Mapping[str, Any],
    *,
    node: Node,
    service: ServiceRef | None,
    access: ContainerAccess,
) -> ContainerDetail:
    state = ContainerState.from_inspect(data)
    raw_state = data.get("State") or {}
    config = data.get("Config") or {}
    host = data.get("HostConfig") or {}
    restart = host.get("RestartPolicy") or {}
    restart_name = restart.get("Name") or None
    if restart_name == "on-failure" and restart.get("MaximumRetryCount"):
        restart_name = f"on-failure:{restart['MaximumRetryCount']}"
    networks = ((data.get("NetworkSettings") or {}).get("Networks")) or {}
    return ContainerDetail(
        node_id=node.id,
        node_name=node.name,
        id=state.id,
        name=state.name,
        created=state.created,
        state=ContainerStateOut(
            status=state.state,
            running=bool(raw_state.get("Running")),
            paused=bool(raw_state.get("Paused")),
            restarting=bool(raw_state.get("Restarting")),
            exit_code=state.exit_code,
            error=state.error,
            oom_killed=state.oom_killed,
            started_at=state.started_at,
            finished_at=state.finished_at,
            health=state.health,
            restart_count=state.restart_count,
        ),
        config=ContainerConfigOut(
            image=state.image,
            image_id=state.image_id,
            command=_strings(config.get("Cmd")),
            entrypoint=_strings(config.get("Entrypoint")),
            working_dir=config.get("WorkingDir") or None,
            user=config.get("User") or None,
            hostname=config.get("Hostname") or None,
            tty=bool(config.get("Tty")),
            env=mask_env(config.get("Env") or []),
            restart_policy=restart_name if restart_name not in (None, "no") else None,
        ),
        mounts=[
            MountOut(
                type=str(m.get("Type") or "bind"),
                source=m.get("Source") or None,
                destination=str(m.get("Destination") or ""),
                name=m.get("Name") or None,
                mode=m.get("Mode") or None,
                read_only=not m.get("RW", True),
            )
            for m in data.get("Mounts") or []
        ],
        networks=[
            ContainerNetworkOut(
                name=str(name),
                ip_address=(net or {}).get("IPAddress") or None,
                gateway=(net or {}).get("Gateway") or None,
                mac_address=(net or {}).get("MacAddress") or None,
                aliases=[str(a) for a in ((net or {}).get("Aliases") or [])],
            )
            for name, net in sorted(networks.items())
        ],
        ports=[PortOut.model_validate(p) for p in state.ports],
        labels={str(k): str(v) for k, v in state.labels.items()},
        service_id=service.id if service else None,
        service_name=service.name if service else None,
        compose_project=state.compose_project,
        compose_service=state.compose_service,
        access=access,
    )


# ---------------------------------------------------------------- log search


def check_regex(pattern: str) -> re.Pattern[str]:
    """Compile a user's pattern (case-insensitive) or raise 422 naming the `q` field.

    Python's `re` cannot be interrupted, so patterns that can backtrack exponentially
    (a quantified group containing a quantifier) are refused, and the length is capped.
    """

    def fail(message: str) -> ValidationFailedError:
        return ValidationFailedError(
            message,
            code="invalid_regex",
            details={"errors": [{"path": "q", "message": message}]},
        )

    if len(pattern) > MAX_REGEX_LENGTH:
        raise fail(f"A regular expression may be at most {MAX_REGEX_LENGTH} characters long.")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise fail(f"Not a valid regular expression: {exc}.") from None
    if _NESTED_QUANTIFIER.search(pattern):
        raise fail(
            "Nested quantifiers such as (a+)+ can take exponential time: "
            "rewrite the pattern without a repeated group that repeats inside."
        )
    return compiled


def make_matcher(q: str, *, regex: bool) -> Callable[[str], bool]:
    """Case-insensitive substring, or a checked regex."""
    if regex:
        compiled = check_regex(q)
        return lambda text: compiled.search(text) is not None
    needle = q.lower()
    return lambda text: needle in text.lower()


def parse_engine_ts(ts: str | None) -> datetime | None:
    """The engine's RFC 3339 (nanosecond) timestamp; None when absent or unreadable."""
    if not ts:
        return None
    try:
        value = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def ndjson(model: Any) -> bytes:
    """One NDJSON frame: a JSON document on one line (JSON escapes every newline)."""
    return json.dumps(model.model_dump(mode="json"), separators=(",", ":")).encode() + b"\n"


@dataclass
class SearchTarget:
    node: Node
    container_id: str
    name: str
    service: ServiceRef | None


@dataclass
class SearchParams:
    q: str
    regex: bool
    since: datetime
    until: datetime
    limit: int
    node_id: int | None = None
    service_id: int | None = None
    container: str | None = None
    byte_cap: int = CONTAINER_BYTE_CAP
    concurrency: int = SEARCH_CONCURRENCY


def in_range(raw: RawContainer, since: datetime, until: datetime) -> bool:
    """Whether the container can have log lines in [since, until]."""
    if raw.created is not None and raw.created > until:
        return False
    running = raw.state in ("running", "paused", "restarting")
    return running or raw.finished_at is None or raw.finished_at >= since


async def search_targets(
    runtime: Any, principal: Principal, params: SearchParams
) -> tuple[list[SearchTarget], list[LogSearchError]]:
    """The containers to read, and the nodes that could not be listed."""
    vis = await visibility(
        runtime, principal, full_permission="containers:logs", service_permission="services:logs"
    )
    listings = await list_nodes(runtime, params.node_id, _restrict(vis))
    targets: list[SearchTarget] = []
    errors: list[LogSearchError] = []
    wanted = (params.container or "").lower()
    for listing in listings:
        if listing.error is not None:
            errors.append(
                LogSearchError(
                    node_id=listing.node.id, node_name=listing.node.name, error=listing.error
                )
            )
            continue
        for raw in listing.containers:
            ref = service_of(runtime, raw, listing.node.id, vis.services)
            sid = ref.id if ref else None
            if not vis.allows(sid):
                continue
            if params.service_id is not None and sid != params.service_id:
                continue
            if wanted and wanted not in raw.name.lower() and not raw.id.startswith(wanted):
                continue
            if not in_range(raw, params.since, params.until):
                continue
            targets.append(SearchTarget(listing.node, raw.id, raw.name, ref))
    targets.sort(key=lambda t: (t.node.id, t.name))
    return targets, errors


@dataclass
class _Progress:
    searched: int = 0
    scanned_bytes: int = 0
    truncated: list[str] = field(default_factory=list)
    errors: list[LogSearchError] = field(default_factory=list)


_DONE = object()
_GONE = object()
# How often a running search checks whether its client is still there.
DISCONNECT_POLL_S = 1.0


async def _scan(
    target: SearchTarget,
    params: SearchParams,
    matcher: Callable[[str], bool],
    queue: asyncio.Queue[Any],
    stop: asyncio.Event,
    progress: _Progress,
) -> None:
    """Read one container's log from `since`, stop after `until`, the byte cap or `stop`."""
    scanned = 0
    stream = await streams.open_log_stream(
        target.node.docker_host,
        target.container_id,
        follow=False,
        since=params.since,
        timestamps=True,
    )
    async with stream:
        async for batch in stream:
            if stop.is_set():
                return
            for line in batch:
                at = parse_engine_ts(line.ts)
                if at is not None and at > params.until:
                    return
                if at is not None and at < params.since:
                    continue
                size = len(line.message) + 1
                scanned += size
                progress.scanned_bytes += size
                if scanned > params.byte_cap:
                    progress.truncated.append(target.name)
                    return
                if matcher(line.message):
                    await queue.put(
                        LogSearchMatch(
                            ts=line.ts,
                            node_id=target.node.id,
                            node_name=target.node.name,
                            container_id=target.container_id,
                            container=target.name,
                            service_id=target.service.id if target.service else None,
                            service_name=target.service.name if target.service else None,
                            stream=line.stream,
                            line=line.message,
                        )
                    )


async def run_search(
    targets: Sequence[SearchTarget],
    params: SearchParams,
    matcher: Callable[[str], bool],
    node_errors: Sequence[LogSearchError] = (),
    is_disconnected: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[bytes]:
    """NDJSON: a `match` line per match as found, then one `summary` line.

    At most `params.concurrency` containers are read at once; the search stops at
    `params.limit` matches. Closing the generator (the server does when a write to a gone
    client fails) cancels every read at once; `is_disconnected` is also polled, so a
    search that finds nothing for a long time stops too when its client leaves.
    """
    started = time.monotonic()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=256)
    stop = asyncio.Event()
    slots = asyncio.Semaphore(max(1, params.concurrency))
    progress = _Progress(errors=list(node_errors))

    async def one(target: SearchTarget) -> None:
        async with slots:
            if stop.is_set():
                return
            try:
                await _scan(target, params, matcher, queue, stop, progress)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                progress.errors.append(
                    LogSearchError(
                        node_id=target.node.id,
                        node_name=target.node.name,
                        container=target.name,
                        error=_error_text(exc),
                    )
                )
            finally:
                progress.searched += 1

    async def everything() -> None:
        await asyncio.gather(*(one(t) for t in targets))
        await queue.put(_DONE)

    async def watch(check: Callable[[], Awaitable[bool]]) -> None:
        while not task.done():
            await asyncio.sleep(DISCONNECT_POLL_S)
            if await check():
                stop.set()
                task.cancel()
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(_GONE)  # full: the consumer is not waiting on it
                return

    task = asyncio.create_task(everything(), name="log-search")
    watcher = (
        asyncio.create_task(watch(is_disconnected), name="log-search-client")
        if is_disconnected is not None
        else None
    )
    found = 0
    limit_reached = False
    try:
        while True:
            item = await queue.get()
            if item is _GONE:
                return  # nobody to send a summary to
            if item is _DONE:
                break
            found += 1
            yield ndjson(item)
            if found >= params.limit:
                limit_reached = True
                stop.set()
                break
    finally:
        for pending in (task, watcher):
            if pending is not None and not pending.done():
                pending.cancel()
        await asyncio.gather(task, *([watcher] if watcher else []), return_exceptions=True)
    yield ndjson(
        LogSearchSummary(
            matches=found,
            containers_searched=progress.searched,
            containers_total=len(targets),
            limit_reached=limit_reached,
            truncated=limit_reached or bool(progress.truncated),
            truncated_containers=sorted(progress.truncated),
            scanned_bytes=progress.scanned_bytes,
            errors=progress.errors,
            since=params.since,
            until=params.until,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )
    )


def default_range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """`until` defaults to now, `since` to an hour before `until`; 422 when reversed."""
    end = as_utc(until) if until is not None else utcnow()
    start = as_utc(since) if since is not None else end - timedelta(hours=1)
    if start >= end:
        raise ValidationFailedError(
            "`since` must be before `until`.",
            details={"errors": [{"path": "since", "message": "must be before `until`"}]},
        )
    return start, end
