"""`StateService`: one watcher and one cache per node, for the whole server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

import structlog

from dockyard.kit.events import EventBus
from dockyard.state.cache import NodeStateCache
from dockyard.state.schemas import ContainerState
from dockyard.state.watcher import StateWatcher

log = structlog.get_logger(__name__)


class NodeTarget(Protocol):
    """What the service needs of a node (a `nodes.models.Node` fits)."""

    @property
    def id(self) -> int: ...

    @property
    def docker_host(self) -> str: ...


class StateService:
    """Owns the per-node state caches and the watchers feeding them."""

    def __init__(self, bus: EventBus, **watcher_options: Any) -> None:
        """`watcher_options` go to every `StateWatcher` (e.g. `reconcile_interval_s`)."""
        self.bus = bus
        self._options = watcher_options
        self._watchers: dict[int, StateWatcher] = {}
        self._caches: dict[int, NodeStateCache] = {}

    async def start(self, nodes: Iterable[NodeTarget]) -> None:
        """Start watching every node (returns at once; an unreachable one keeps retrying).

        Agent nodes' watchers are set up by the agent hub first (`push` while the agent
        is connected to this process or to none, following through the tunnel while
        another replica holds it)."""
        for node in nodes:
            if node.id not in self._watchers:  # agent nodes: the hub chose their mode
                await self.add_node(node.id, node.docker_host)

    async def add_node(self, node_id: int, docker_host: str, *, push: bool = False) -> StateWatcher:
        """Watch a node; a known node with a new address or mode is re-watched (cache kept).

        `push`: the watcher takes what an agent connected to this process pushes
        (`apply_state`, `apply_events`) instead of following the engine's events itself."""
        current = self._watchers.get(node_id)
        if current is not None:
            if current.base_url == docker_host and current.push == push:
                return current
            await current.stop()
        cache = self._caches.setdefault(node_id, NodeStateCache(node_id))
        watcher = StateWatcher(node_id, docker_host, cache, self.bus, push=push, **self._options)
        self._watchers[node_id] = watcher
        await watcher.start()
        return watcher

    async def restart_node(self, node_id: int) -> None:
        """Re-watch a node now (its cache kept), e.g. when it is known to be back."""
        current = self._watchers.get(node_id)
        if current is not None:
            await current.stop()
            del self._watchers[node_id]
            await self.add_node(node_id, current.base_url, push=current.push)

    async def remove_node(self, node_id: int) -> None:
        """Stop watching a node and forget its cache."""
        watcher = self._watchers.pop(node_id, None)
        self._caches.pop(node_id, None)
        if watcher is not None:
            await watcher.stop()

    async def stop(self) -> None:
        """Stop every watcher."""
        watchers = list(self._watchers.values())
        self._watchers.clear()
        await asyncio.gather(*(w.stop() for w in watchers), return_exceptions=True)

    def cache(self, node_id: int) -> NodeStateCache | None:
        """The node's cache, or None when the node is not watched."""
        return self._caches.get(node_id)

    def containers_for_service(self, node_id: int, service_id: int) -> list[ContainerState]:
        """A service's containers on a node, by name (empty for an unwatched node)."""
        cache = self._caches.get(node_id)
        return cache.for_service(service_id) if cache is not None else []

    def reachable(self, node_id: int) -> bool | None:
        """Whether the node's events are being followed; None before the first attempt."""
        cache = self._caches.get(node_id)
        return cache.reachable if cache is not None else None

    def watcher(self, node_id: int) -> StateWatcher | None:
        return self._watchers.get(node_id)

    def container_service(self, node_id: int, ref: str) -> int | None:
        """The Dockyard service id of a container (id, prefix or name), if known."""
        cache = self._caches.get(node_id)
        found = cache.find(ref) if cache is not None else None
        return found.service_id if found is not None else None

    def node_ids(self) -> list[int]:
        return sorted(self._watchers)

    def base_url_for(self, node_id: int) -> str | None:
        """The Docker host of a watched node (the realtime hub's `engine_url_for`)."""
        watcher = self._watchers.get(node_id)
        return watcher.base_url if watcher is not None else None
