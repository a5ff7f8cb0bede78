"""Host port ranges and allocations.

Every published host port of a service is a `port_allocations` row, written in the same
transaction as the service's revision. `UNIQUE(node_id, host_port, protocol)` is what makes
two concurrent saves unable to take one port: an `auto` port picks a random free port of
the node's ranges and retries with another when its insert loses the race; a fixed port
that loses is a 409 naming the service holding it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.kit.errors import ConflictError, DockyardError
from dockyard.placement.models import NodePortRange, PortAllocation
from dockyard.services.compose import ComposeDefinition
from dockyard.services.compose.validate import published_ports
from dockyard.services.models import Service

MIN_PORT = 1024
MAX_PORT = 65535
AUTO_ATTEMPTS = 25


def parse_range(text: str) -> tuple[int, int]:
    """`20000-29999` (or one port `8080`) as (start, end); ValueError when invalid."""
    first, dash, last = text.strip().partition("-")
    if not first.strip().isdigit() or (dash and not last.strip().isdigit()):
        raise ValueError(f"`{text}` is not a port range like 20000-29999")
    start = int(first)
    end = int(last) if dash else start
    return start, end


def range_problems(ranges: Iterable[tuple[int, int]]) -> list[dict[str, str]]:
    """`[{"path", "message"}]` for ranges out of 1024-65535, reversed or overlapping."""
    problems: list[dict[str, str]] = []
    items = list(ranges)
    for index, (start, end) in enumerate(items):
        path = f"ranges.{index}"
        if not (MIN_PORT <= start <= MAX_PORT and MIN_PORT <= end <= MAX_PORT):
            problems.append(
                {"path": path, "message": f"ports must be within {MIN_PORT}-{MAX_PORT}"}
            )
        elif end < start:
            problems.append({"path": path, "message": f"the range {start}-{end} is reversed"})
    ordered = sorted(enumerate(items), key=lambda item: item[1])
    for (_, (a_start, a_end)), (b_index, (b_start, b_end)) in itertools.pairwise(ordered):
        if b_start <= a_end:
            problems.append(
                {
                    "path": f"ranges.{b_index}",
                    "message": f"{b_start}-{b_end} overlaps {a_start}-{a_end}",
                }
            )
    return problems


def default_range(text: str) -> tuple[int, int]:
    return parse_range(text)


async def node_ranges(
    session: AsyncSession, node_id: int, default: str
) -> tuple[list[tuple[int, int]], bool]:
    """The node's ranges, and whether they are the default (the node has none of its own)."""
    rows = (
        await session.scalars(
            select(NodePortRange)
            .where(NodePortRange.node_id == node_id)
            .order_by(NodePortRange.start)
        )
    ).all()
    if rows:
        return [(r.start, r.end) for r in rows], False
    return [default_range(default)], True


def port_key(container: str, target: int, protocol: str, host_ip: str | None) -> str:
    return f"{container}/{target}/{protocol}@{host_ip or '*'}"


@dataclass(frozen=True)
class Wanted:
    """One published port of a definition, in order."""

    container: str
    index: int
    target: int
    protocol: str
    host_ip: str | None
    published: int | None
    auto: bool

    @property
    def key(self) -> str:
        return port_key(self.container, self.target, self.protocol, self.host_ip)


def wanted_ports(defn: ComposeDefinition) -> list[Wanted]:
    """Published ports: fixed ones and `auto` ones (a port without a host port is neither)."""
    result: list[Wanted] = []
    for name, spec in defn.services.items():
        for index, port in enumerate(spec.ports):
            if port.published is None and not port.auto:
                continue
            result.append(
                Wanted(
                    name,
                    index,
                    port.target,
                    port.protocol,
                    port.host_ip,
                    port.published,
                    port.auto,
                )
            )
    return result


async def allocations_of_node(session: AsyncSession, node_id: int) -> list[PortAllocation]:
    return list(
        (
            await session.scalars(
                select(PortAllocation)
                .where(PortAllocation.node_id == node_id)
                .order_by(PortAllocation.host_port)
            )
        ).all()
    )


async def _holder_name(
    session: AsyncSession,
    node_id: int,
    port: int,
    protocol: str,
    can_see: Callable[[int | None], bool] | None,
) -> str:
    row = (
        await session.execute(
            select(Service.name, Service.owner_id)
            .join(PortAllocation, PortAllocation.service_id == Service.id)
            .where(
                PortAllocation.node_id == node_id,
                PortAllocation.host_port == port,
                PortAllocation.protocol == protocol,
            )
        )
    ).first()
    if row is None or (can_see is not None and not can_see(row[1])):
        return "another service"
    return f"service {row[0]}"


async def _taken(
    session: AsyncSession, node_id: int, service_id: int, legacy: Iterable[tuple[int, str]]
) -> set[tuple[int, str]]:
    rows = (
        await session.execute(
            select(PortAllocation.host_port, PortAllocation.protocol).where(
                PortAllocation.node_id == node_id, PortAllocation.service_id != service_id
            )
        )
    ).all()
    return {(int(p), str(proto)) for p, proto in rows} | set(legacy)


async def _insert(session: AsyncSession, row: PortAllocation) -> bool:
    """Insert in a savepoint; False when the unique key says the port is taken."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def sync_allocations(
    session: AsyncSession,
    service: Service,
    defn: ComposeDefinition,
    *,
    default_range_text: str,
    host_listening: set[int] | None = None,
    legacy_ports: Iterable[tuple[int, str]] = (),
    can_see: Callable[[int | None], bool] | None = None,
) -> ComposeDefinition:
    """Record the service's host ports; give `auto` ports a free port. Returns the definition
    with every `auto` port's `published` set (an `auto` port keeps the port it already had).

    Ports the definition no longer publishes are released. A fixed port held by another
    service is a 409 `port_allocated`; no free port in the ranges is a 409 `ports_exhausted`.
    `host_listening` are TCP ports in use on the host (not chosen for `auto` ports);
    `legacy_ports` are ports other services publish without an allocation row; `can_see`
    (owner id -> bool) decides whether a conflict may name the other service.
    """
    node_id = service.node_id
    existing = {
        row.port_key: row
        for row in (
            await session.scalars(
                select(PortAllocation).where(PortAllocation.service_id == service.id)
            )
        ).all()
    }
    wanted = wanted_ports(defn)
    keep: set[int] = set()
    # Mine, chosen in this call: (port, protocol) -> key (one row per host port and protocol).
    mine: dict[tuple[int, str], str] = {}
    chosen: dict[tuple[str, int], int] = {}
    fixed = [w for w in wanted if not w.auto]
    auto = [w for w in wanted if w.auto]
    for w in fixed:
        assert w.published is not None
        pair = (w.published, w.protocol)
        if pair in mine:
            continue
        mine[pair] = w.key
        row = existing.get(w.key)
        if row is not None and row.host_port == w.published and not row.auto:
            keep.add(row.id)
            continue
        same = next((r for r in existing.values() if (r.host_port, r.protocol) == pair), None)
        if same is not None:  # the same port under another key: re-key it
            same.port_key, same.auto, same.host_ip = w.key, False, w.host_ip
            keep.add(same.id)
            continue
        new = PortAllocation(
            node_id=node_id,
            host_port=w.published,
            protocol=w.protocol,
            host_ip=w.host_ip,
            service_id=service.id,
            port_key=w.key,
            auto=False,
        )
        if not await _insert(session, new):
            holder = await _holder_name(session, node_id, w.published, w.protocol, can_see)
            raise ConflictError(
                f"Host port {w.published}/{w.protocol} is already allocated to {holder} on "
                "this node.",
                code="port_allocated",
                details={
                    "errors": [
                        {
                            "path": f"services.{w.container}.ports.{w.index}",
                            "message": f"host port {w.published}/{w.protocol} is held by {holder}",
                        }
                    ],
                    "holder": holder,
                },
            )
        keep.add(new.id)
    ranges: list[tuple[int, int]] | None = None
    for w in auto:
        row = existing.get(w.key)
        if (
            row is not None
            and row.auto
            and (w.published is None or w.published == row.host_port)
            and (row.host_port, row.protocol) not in mine
        ):
            keep.add(row.id)
            mine[(row.host_port, row.protocol)] = w.key
            chosen[(w.container, w.index)] = row.host_port
            continue
        if w.published is not None and (w.published, w.protocol) not in mine:
            # An auto port whose earlier choice is in the definition: try to keep it.
            candidate = PortAllocation(
                node_id=node_id,
                host_port=w.published,
                protocol=w.protocol,
                host_ip=w.host_ip,
                service_id=service.id,
                port_key=w.key,
                auto=True,
            )
            if await _insert(session, candidate):
                keep.add(candidate.id)
                mine[(w.published, w.protocol)] = w.key
                chosen[(w.container, w.index)] = w.published
                continue
        if ranges is None:
            ranges, _ = await node_ranges(session, node_id, default_range_text)
        port = await _allocate_auto(
            session, service, w, ranges, mine, host_listening or set(), legacy_ports
        )
        mine[(port, w.protocol)] = w.key
        chosen[(w.container, w.index)] = port
    stale = [row.id for row in existing.values() if row.id not in keep]
    if stale:
        await session.execute(delete(PortAllocation).where(PortAllocation.id.in_(stale)))
    if not chosen:
        return defn
    services = {}
    for name, spec in defn.services.items():
        ports = [
            port.model_copy(update={"published": chosen[(name, index)]})
            if (name, index) in chosen
            else port
            for index, port in enumerate(spec.ports)
        ]
        services[name] = spec.model_copy(update={"ports": ports})
    return defn.model_copy(update={"services": services})


async def _allocate_auto(
    session: AsyncSession,
    service: Service,
    w: Wanted,
    ranges: list[tuple[int, int]],
    mine: dict[tuple[int, str], str],
    host_listening: set[int],
    legacy_ports: Iterable[tuple[int, str]],
) -> int:
    legacy = list(legacy_ports)
    for _ in range(AUTO_ATTEMPTS):
        taken = await _taken(session, service.node_id, service.id, legacy)
        free = [
            port
            for start, end in ranges
            for port in range(start, end + 1)
            if (port, w.protocol) not in taken
            and (port, w.protocol) not in mine
            and not (w.protocol == "tcp" and port in host_listening)
        ]
        if not free:
            break
        # Random, not lowest-first: concurrent saves rarely pick the same port, and the
        # unique key catches the rare one that does.
        port = random.choice(free)  # noqa: S311 (not a secret)
        row = PortAllocation(
            node_id=service.node_id,
            host_port=port,
            protocol=w.protocol,
            host_ip=w.host_ip,
            service_id=service.id,
            port_key=w.key,
            auto=True,
        )
        if await _insert(session, row):
            return port
    text = ", ".join(f"{a}-{b}" for a, b in ranges)
    raise DockyardError(
        f"No free host port for services.{w.container}.ports.{w.index} in this node's "
        f"range {text}.",
        code="ports_exhausted",
        status_code=409,
        details={
            "errors": [
                {
                    "path": f"services.{w.container}.ports.{w.index}",
                    "message": f"no free host port in {text}",
                }
            ]
        },
    )


def legacy_published(others: Iterable[ComposeDefinition]) -> list[tuple[int, str]]:
    """Host ports other services' definitions publish (for rows saved before allocations)."""
    return [(port, protocol) for other in others for _, port, protocol, _ in published_ports(other)]
