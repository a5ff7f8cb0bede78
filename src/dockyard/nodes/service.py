"""Nodes: the local node bootstrap and engine facts (cached briefly)."""

from __future__ import annotations

import asyncio
import socket
import time

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.engine.adapter import DockerEngine, EngineRegistry
from dockyard.engine.schemas import EngineFacts
from dockyard.kit.clock import utcnow
from dockyard.nodes import repository
from dockyard.nodes.models import Node
from dockyard.nodes.schemas import NodeOut

FACTS_TTL_S = 3.0


class NodeService:
    """Node views and the engines behind them."""

    def __init__(self, engines: EngineRegistry) -> None:
        self.engines = engines
        self._facts: dict[int, tuple[float, EngineFacts]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def engine_for(self, node: Node) -> DockerEngine:
        return self.engines.get(node.id, node.docker_host)

    async def facts(self, node: Node) -> EngineFacts:
        """Engine facts, at most `FACTS_TTL_S` old; concurrent callers share one fetch."""
        cached = self._facts.get(node.id)
        if cached and time.monotonic() - cached[0] < FACTS_TTL_S:
            return cached[1]
        lock = self._locks.setdefault(node.id, asyncio.Lock())
        async with lock:
            cached = self._facts.get(node.id)
            if cached and time.monotonic() - cached[0] < FACTS_TTL_S:
                return cached[1]
            facts = await self.engine_for(node).facts()
            self._facts[node.id] = (time.monotonic(), facts)
            return facts

    async def to_out(self, node: Node) -> NodeOut:
        facts = await self.facts(node)
        online = facts.reachable
        return NodeOut(
            id=node.id,
            name=node.name,
            kind="agent" if node.kind == "agent" else "local",
            docker_host=node.docker_host,
            labels=node.labels or {},
            status="online" if online else "offline",
            last_seen=facts.checked_at if online else node.last_seen,
            created_at=node.created_at,
            engine=facts,
        )


async def ensure_local_node(session: AsyncSession, docker_host: str) -> Node:
    """Create the local node on first start; keep its docker host in step with settings."""
    node = await repository.get_local(session)
    if node is None:
        node = Node(
            name=socket.gethostname()[:128] or "local", kind="local", docker_host=docker_host
        )
        session.add(node)
        await session.flush()
        await record(
            session,
            action="node.created",
            actor=Actor.system(),
            target_type="node",
            target_id=node.id,
            details={"name": node.name, "kind": "local", "docker_host": docker_host},
        )
    elif node.docker_host != docker_host:
        previous = node.docker_host
        node.docker_host = docker_host
        node.updated_at = utcnow()
        await record(
            session,
            action="node.updated",
            actor=Actor.system(),
            target_type="node",
            target_id=node.id,
            details={"docker_host": {"from": previous, "to": docker_host}},
        )
    return node
