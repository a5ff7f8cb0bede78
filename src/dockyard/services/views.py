"""Building API views of services from the database and the state cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.jobs.models import Job
from dockyard.jobs.schemas import JobOut
from dockyard.services import repository
from dockyard.services.models import Service
from dockyard.services.schemas import PortOut, ServiceDetail, ServiceOut
from dockyard.services.service import lock_key
from dockyard.services.status import (
    INSTANCE_LABEL,
    ContainerLike,
    Expected,
    compute_status,
    container_out,
    expected_for,
)
from dockyard.state.service import StateService


class ContainerSource(Protocol):
    """Where container state comes from (the per-node cache fed by Docker events)."""

    instance_id: str

    def containers_for_service(self, node_id: int, service_id: int) -> Sequence[ContainerLike]: ...


class ServiceViews:
    """Turns services into `ServiceOut`; remembers what each deployed revision expects."""

    def __init__(self, source: ContainerSource) -> None:
        self.source = source
        self._expected: dict[tuple[int, int], Expected] = {}

    async def _expected_for(self, session: AsyncSession, service: Service) -> Expected | None:
        if service.deployed_revision is None:
            return None
        key = (service.id, service.deployed_revision)
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
        self, session: AsyncSession, service: Service, active: Job | None
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
            created_at=service.created_at,
            updated_at=service.updated_at,
        )

    async def detail(self, session: AsyncSession, service: Service) -> ServiceDetail:
        active = (await self.active_jobs(session, [service])).get(service.id)
        out = await self.build(session, service, active)
        revision = await repository.revision(session, service.id, service.latest_revision)
        return ServiceDetail(**out.model_dump(), definition=revision.definition if revision else {})


class StateContainers:
    """`ContainerSource` over the state service's per-node caches.

    Only containers of this installation count: another Dockyard on the same engine
    numbers its services independently.
    """

    def __init__(self, state: StateService, instance_id: str = "") -> None:
        self.state = state
        self.instance_id = instance_id

    def containers_for_service(self, node_id: int, service_id: int) -> Sequence[ContainerLike]:
        cache = self.state.cache(node_id)
        if cache is None:
            return []
        return [
            c
            for c in cache.for_service(service_id)
            if c.labels.get(INSTANCE_LABEL) == self.instance_id
        ]
