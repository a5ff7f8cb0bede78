"""Building API views of services from the database and the state cache.

The service list is also cached, serialized, per query. An entry is valid while its
fingerprint is unchanged: the generation of committed writes to the tables the list reads
(bumped after every commit in this process that wrote them) and the version of every node
state cache involved (bumped by every container change). Writes made by another process
are only noticed after `LIST_MAX_AGE_S`.
"""

from __future__ import annotations

import itertools
import time
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.jobs.models import Job
from dockyard.jobs.schemas import JobOut
from dockyard.kit.db import write_generation
from dockyard.nodes.models import Node
from dockyard.registries import repository as update_checks
from dockyard.registries.models import ImageUpdateCheck
from dockyard.services import repository
from dockyard.services.models import Service, ServiceRevision
from dockyard.services.schemas import PortOut, ServiceDetail, ServiceList, ServiceOut
from dockyard.services.service import lock_key
from dockyard.services.status import (
    INSTANCE_LABEL,
    ContainerLike,
    Expected,
    compute_status,
    container_out,
    expected_for,
)
from dockyard.state.cache import NodeStateCache
from dockyard.state.service import StateService
from dockyard.users.models import User

# Bounds staleness for writes this process cannot see (another process on the database).
LIST_MAX_AGE_S = 5.0
LIST_CACHE_ENTRIES = 256

# What a service list reads from the database. Users only for owner_id (SET NULL).
_LIST_MODELS = (Service, ServiceRevision, Job, Node, User, ImageUpdateCheck)
_LIST_TABLES = frozenset(str(m.__tablename__) for m in _LIST_MODELS)


def db_generation() -> int:
    """Moves after every commit in this process that wrote a table the list reads."""
    return write_generation(_LIST_TABLES)


class ContainerSource(Protocol):
    """Where container state comes from (the per-node cache fed by Docker events)."""

    instance_id: str

    def containers_for_service(self, node_id: int, service_id: int) -> Sequence[ContainerLike]: ...

    def fingerprint(self, node_id: int | None) -> Hashable:
        """Changes whenever the containers of the node (None: of every node) may have."""
        ...


class ServiceViews:
    """Turns services into `ServiceOut`; remembers what each deployed revision expects."""

    def __init__(self, source: ContainerSource) -> None:
        self.source = source
        self._expected: dict[tuple[int, int, datetime], Expected] = {}
        # query -> (fingerprint, built at (monotonic), JSON body of the `ServiceList`)
        self._lists: OrderedDict[Hashable, tuple[Hashable, float, bytes]] = OrderedDict()

    def list_fingerprint(self, node_id: int | None) -> Hashable:
        """Take before reading anything: a change during the build then fails the entry."""
        return (db_generation(), self.source.fingerprint(node_id))

    def cached_list(self, key: Hashable, fingerprint: Hashable) -> bytes | None:
        """The cached JSON of a list query, if still current."""
        entry = self._lists.get(key)
        if entry is None:
            return None
        if entry[0] != fingerprint or time.monotonic() - entry[1] > LIST_MAX_AGE_S:
            del self._lists[key]
            return None
        self._lists.move_to_end(key)
        return entry[2]

    def store_list(self, key: Hashable, fingerprint: Hashable, started: float, body: bytes) -> None:
        """Remember a list built from reads that began at `started` under `fingerprint`."""
        self._lists[key] = (fingerprint, started, body)
        self._lists.move_to_end(key)
        while len(self._lists) > LIST_CACHE_ENTRIES:
            self._lists.popitem(last=False)

    async def list_json(
        self,
        session: AsyncSession,
        *,
        node_id: int | None,
        search: str | None,
        limit: int,
        offset: int,
        visible: ColumnElement[bool] | None = None,
        visibility_key: Hashable = None,
    ) -> bytes:
        """A page of services as `ServiceList` JSON, from the cache when still current.

        `visible` limits the rows in the query (the caller's visibility, see
        access.service); `visibility_key` names it in the cache key (None: sees everything).
        """
        key = (node_id, search, limit, offset, visibility_key)
        fingerprint = self.list_fingerprint(node_id)
        body = self.cached_list(key, fingerprint)
        if body is not None:
            return body
        started = time.monotonic()
        rows, total = await repository.list_page(
            session, node_id=node_id, search=search, limit=limit, offset=offset, where=visible
        )
        active = await self.active_jobs(session, rows)
        updates = await update_checks.update_index(session, {s.node_id for s in rows})
        items = [await self.build(session, s, active.get(s.id), updates) for s in rows]
        page = ServiceList(items=items, total=total, limit=limit, offset=offset)
        body = page.model_dump_json().encode()
        self.store_list(key, fingerprint, started, body)
        return body

    async def _expected_for(self, session: AsyncSession, service: Service) -> Expected | None:
        if service.deployed_revision is None:
            return None
        # `created_at` too: SQLite reuses the id of a deleted newest row.
        key = (service.id, service.deployed_revision, service.created_at)
        cached = self._expected.get(key)
        if cached is None:
            revision = await repository.revision(session, service.id, service.deployed_revision)
            if revision is None:
                return None
            cached = self._expected[key] = expected_for(service, revision)
            if len(self._expected) > 10_000:  # bounded: drop the oldest entries
                for stale in list(self._expected)[:1000]:
                    del self._expected[stale]
        return cached

    async def active_jobs(
        self, session: AsyncSession, services: Sequence[Service]
    ) -> dict[int, Job]:
        if not services:
            return {}
        keys = [lock_key(s.id) for s in services]
        rows = (await session.execute(select(Job).where(Job.lock_key.in_(keys)))).scalars().all()
        return {job.service_id: job for job in rows if job.service_id is not None}

    async def build(
        self,
        session: AsyncSession,
        service: Service,
        active: Job | None,
        updates: update_checks.UpdateIndex | None = None,
    ) -> ServiceOut:
        containers = sorted(
            self.source.containers_for_service(service.node_id, service.id),
            key=lambda c: c.name,
        )
        expected = await self._expected_for(session, service)
        status, drift = compute_status(service, containers, expected)
        outs = [container_out(c) for c in containers]
        ports = [
            PortOut(
                host_ip=p.host_ip,
                host_port=p.host_port,
                container_port=p.container_port,
                protocol=p.protocol,
            )
            for c in outs
            for p in c.ports
            if p.host_port
        ]
        images = expected.images if expected else sorted({c.image for c in outs})
        if updates is None:
            updates = await update_checks.update_index(session, [service.node_id])
        return ServiceOut(
            id=service.id,
            name=service.name,
            description=service.description,
            node_id=service.node_id,
            owner_id=service.owner_id,
            labels=dict(service.labels or {}),
            status=status,
            drift=bool(drift),
            drift_reasons=drift,
            revision=service.latest_revision,
            deployed_revision=service.deployed_revision,
            deployed_at=service.deployed_at,
            containers_running=sum(1 for c in outs if c.state == "running"),
            containers_total=len(outs),
            containers=outs,
            images=images,
            ports=ports,
            active_job=JobOut.model_validate(active) if active else None,
            update_available=update_checks.update_flag(updates, service.node_id, images),
            created_at=service.created_at,
            updated_at=service.updated_at,
        )

    async def detail(self, session: AsyncSession, service: Service) -> ServiceDetail:
        active = (await self.active_jobs(session, [service])).get(service.id)
        out = await self.build(session, service, active)
        revision = await repository.revision(session, service.id, service.latest_revision)
        return ServiceDetail(
            **out.model_dump(),
            definition=revision.definition if revision else {},
            cluster_id=service.cluster_id,
            placement=service.placement,
        )


_cache_numbers = itertools.count(1)


class StateContainers:
    """`ContainerSource` over the state service's per-node caches.

    Only containers of this installation count: another Dockyard on the same engine
    numbers its services independently.
    """

    def __init__(self, state: StateService, instance_id: str = "") -> None:
        self.state = state
        self.instance_id = instance_id
        # A node removed and added again gets a new cache whose version restarts at 0.
        self._cache_ids: weakref.WeakKeyDictionary[NodeStateCache, int] = (
            weakref.WeakKeyDictionary()
        )

    def _cache_key(self, node_id: int) -> tuple[int, int, int] | tuple[int, None]:
        cache = self.state.cache(node_id)
        if cache is None:
            return (node_id, None)
        ident = self._cache_ids.get(cache)
        if ident is None:
            ident = self._cache_ids[cache] = next(_cache_numbers)
        return (node_id, ident, cache.version)

    def fingerprint(self, node_id: int | None) -> Hashable:
        if node_id is not None:
            return (self.instance_id, self._cache_key(node_id))
        return (self.instance_id, tuple(self._cache_key(n) for n in self.state.node_ids()))

    def containers_for_service(self, node_id: int, service_id: int) -> Sequence[ContainerLike]:
        cache = self.state.cache(node_id)
        if cache is None:
            return []
        return [
            c
            for c in cache.for_service(service_id)
            if c.labels.get(INSTANCE_LABEL) == self.instance_id
        ]
