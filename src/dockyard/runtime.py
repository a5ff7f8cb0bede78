"""The objects one running server shares: settings, database, engines, services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from dockyard.agent.hub import AgentHub
from dockyard.auth.service import AuthService
from dockyard.engine.adapter import EngineRegistry
from dockyard.jobs.runner import CeleryJobRunner, EmbeddedJobRunner, JobRunner, make_runner_id
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database
from dockyard.kit.events import EventBus
from dockyard.nodes.models import Node
from dockyard.nodes.service import NodeService
from dockyard.realtime.service import RealtimeHub
from dockyard.realtime.tickets import TicketStore
from dockyard.services.views import ServiceViews, StateContainers
from dockyard.settings import Settings
from dockyard.state.service import StateService
from dockyard.system.models import Instance


@dataclass
class Runtime:
    settings: Settings
    db: Database
    engines: EngineRegistry
    auth: AuthService
    nodes: NodeService
    events: EventBus
    state: StateService
    service_views: ServiceViews
    realtime: RealtimeHub
    agents: AgentHub
    started_at: datetime = field(default_factory=utcnow)
    jobs: JobRunner = field(init=False)
    instance_id: str = ""
    # Stamped on the jobs this process runs (see jobs.runner.recover_interrupted).
    runner_id: str = field(default_factory=make_runner_id)
    role: str = "server"  # server | worker | beat
    bridge: Any = None  # the event bridge across processes (kit.bridge), if any

    @classmethod
    def build(cls, settings: Settings, secret: str, *, role: str = "server") -> Runtime:
        events = EventBus()
        db = Database(settings.resolved_database_url, events=events)
        engines = EngineRegistry(timeout_s=settings.engine_timeout_s)
        auth = AuthService(db, settings, secret)
        state = StateService(
            events,
            reconcile_interval_s=settings.state_reconcile_interval_s,
            call_timeout_s=settings.engine_timeout_s,
        )
        agents = AgentHub(settings)
        runtime = cls(
            settings=settings,
            db=db,
            engines=engines,
            auth=auth,
            nodes=NodeService(engines, agents),
            events=events,
            state=state,
            service_views=ServiceViews(StateContainers(state)),
            realtime=RealtimeHub(
                bus=events,
                auth=auth,
                engine_url_for=state.base_url_for,
                allowed_origins=settings.allowed_origins,
                container_service=state.container_service,
                # Signed with the shared secret: any replica redeems another's ticket.
                tickets=TicketStore(secret=secret, redis_url=settings.redis_url),
            ),
            agents=agents,
        )
        runtime.role = role
        runtime.runner_id = make_runner_id(role)
        # One code path, two runners: jobs run in-process, or on Celery workers via Redis.
        runtime.jobs = (
            CeleryJobRunner(runtime, settings.redis_url)
            if settings.redis_url and role != "worker"
            else EmbeddedJobRunner(runtime)
        )
        return runtime

    async def load_instance_id(self) -> str:
        """This installation's id (from the database), stamped on its Docker objects."""
        async with self.db.read_session() as session:
            self.instance_id = (await session.execute(select(Instance.instance_id))).scalar_one()
        self.service_views.source.instance_id = self.instance_id
        return self.instance_id

    async def start(self) -> None:
        """Start watching every node's engine; recover jobs a dead process left behind.

        Also start the event bridge across processes (Redis pub/sub or PostgreSQL
        LISTEN/NOTIFY, see `dockyard.kit.bridge`). Workers do not recover: servers and beat do.
        """
        await self.load_instance_id()
        async with self.db.read_session() as session:
            nodes = (await session.execute(select(Node))).scalars().all()
        # Every process listens on its own agent tunnels; servers also accept the agents and
        # relay the others' streams to them (see dockyard.agent.hub).
        await self.agents.start(self, accept_agents=self.role == "server")
        await self.state.start(nodes)
        from dockyard.kit.bridge import make_bridge

        self.bridge = make_bridge(
            self.events,
            redis_url=self.settings.redis_url,
            database_url=self.settings.resolved_database_url,
            instance_id=self.instance_id,
            origin=self.runner_id,
        )
        if self.bridge is not None:
            await self.bridge.start()
        if self.role != "worker":
            await self.jobs.recover_interrupted()

    async def close(self) -> None:
        """Shut down. Jobs first: running ones get `shutdown_grace_s` to finish while the
        engines, agents and the event bridge still work (their events reach browsers on other
        replicas); then browsers' sockets (1001), agents, the bridge, engines, the shared rate
        limits' Redis connection, database."""
        await self.jobs.stop(self.settings.shutdown_grace_s)
        await self.realtime.close()
        await self.agents.close()
        if self.bridge is not None:
            await self.bridge.stop()
        await self.state.stop()
        await self.engines.close()
        await self.auth.close()
        await self.db.dispose()
