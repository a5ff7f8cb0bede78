"""The objects one running server shares: settings, database, engines, services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dockyard.auth.service import AuthService
from dockyard.engine.adapter import EngineRegistry
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Database
from dockyard.kit.events import EventBus
from dockyard.nodes.service import NodeService
from dockyard.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    engines: EngineRegistry
    auth: AuthService
    nodes: NodeService
    events: EventBus
    started_at: datetime = field(default_factory=utcnow)

    @classmethod
    def build(cls, settings: Settings, secret: str) -> Runtime:
        events = EventBus()
        db = Database(settings.resolved_database_url, events=events)
        engines = EngineRegistry(timeout_s=settings.engine_timeout_s)
        return cls(
            settings=settings,
            db=db,
            engines=engines,
            auth=AuthService(db, settings, secret),
            nodes=NodeService(engines),
            events=events,
        )

    async def close(self) -> None:
        await self.engines.close()
        await self.db.dispose()
