"""`NodeStateCache`: the containers of one node, in memory, kept current by a watcher.

Only the event loop touches a cache (no locks). Readers get `ContainerState` objects that
are replaced, never mutated, so a reference taken stays consistent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

from dockyard.state.schemas import ContainerState


class NodeStateCache:
    """Containers of one node by id, with per-service and per-project indexes."""

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self._containers: dict[str, ContainerState] = {}
        self._by_service: dict[int, set[str]] = {}
        self._by_project: dict[str, set[str]] = {}
        self._version = 0
        self._changed = asyncio.Event()
        # None until the watcher first tried the engine; then whether it is following it.
        self.reachable: bool | None = None
        self.synced_at: datetime | None = None

    # ---------------------------------------------------------------- reads

    @property
    def version(self) -> int:
        """Bumped by every change; pair with `wait_changed`."""
        return self._version

    def containers(self) -> list[ContainerState]:
        """Every known container of the node."""
        return list(self._containers.values())

    def ids(self) -> set[str]:
        return set(self._containers)

    def get(self, container_id: str) -> ContainerState | None:
        """One container by full id."""
        return self._containers.get(container_id)

    def find(self, ref: str) -> ContainerState | None:
        """One container by full id, unique id prefix (at least 4 characters) or name."""
        found = self._containers.get(ref)
        if found is not None:
            return found
        name = ref.lstrip("/")
        for state in self._containers.values():
            if state.name == name:
                return state
        if len(ref) >= 4:
            matches = [c for cid, c in self._containers.items() if cid.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
        return None

    def for_service(self, service_id: int) -> list[ContainerState]:
        """Containers labelled `io.dockyard.service-id=<service_id>`, by name."""
        ids = self._by_service.get(service_id, ())
        return sorted((self._containers[i] for i in ids), key=lambda c: c.name)

    def for_project(self, project: str) -> list[ContainerState]:
        """Containers of one compose project, by name."""
        ids = self._by_project.get(project, ())
        return sorted((self._containers[i] for i in ids), key=lambda c: c.name)

    def service_ids(self) -> set[int]:
        """Every Dockyard service with at least one container here."""
        return set(self._by_service)

    def __len__(self) -> int:
        return len(self._containers)

    # ---------------------------------------------------------------- writes (the watcher)

    def put(self, state: ContainerState) -> bool:
        """Insert or replace; return whether anything changed."""
        old = self._containers.get(state.id)
        if old == state:
            return False
        if old is not None:
            self._unindex(old)
        self._containers[state.id] = state
        self._index(state)
        self._bump()
        return True

    def remove(self, container_id: str) -> ContainerState | None:
        """Drop a container; return what was cached, if anything."""
        old = self._containers.pop(container_id, None)
        if old is not None:
            self._unindex(old)
            self._bump()
        return old

    def set_reachable(self, reachable: bool) -> bool:
        """Record whether the engine is being followed; return whether that changed."""
        if self.reachable is reachable:
            return False
        self.reachable = reachable
        self._bump()
        return True

    def _index(self, state: ContainerState) -> None:
        if (sid := state.service_id) is not None:
            self._by_service.setdefault(sid, set()).add(state.id)
        if (project := state.compose_project) is not None:
            self._by_project.setdefault(project, set()).add(state.id)

    def _unindex(self, state: ContainerState) -> None:
        if (sid := state.service_id) is not None:
            ids = self._by_service.get(sid)
            if ids is not None:
                ids.discard(state.id)
                if not ids:
                    del self._by_service[sid]
        if (project := state.compose_project) is not None:
            ids = self._by_project.get(project)
            if ids is not None:
                ids.discard(state.id)
                if not ids:
                    del self._by_project[project]

    def _bump(self) -> None:
        self._version += 1
        # Wake everyone waiting on this version, then start a fresh event for the next.
        self._changed.set()
        self._changed = asyncio.Event()

    # ---------------------------------------------------------------- waiting

    async def wait_changed(self, after_version: int, timeout_s: float) -> int:
        """Wait until `version > after_version`; return the new version.

        Raises `TimeoutError` when nothing changed within `timeout_s` seconds.
        """
        deadline = time.monotonic() + timeout_s
        while self._version <= after_version:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"node {self.node_id}: no change within {timeout_s}s")
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue
        return self._version

    async def wait_for(self, predicate: Callable[[NodeStateCache], bool], timeout_s: float) -> None:
        """Wait until `predicate(cache)` holds; raises `TimeoutError` after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        version = self._version
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"node {self.node_id}: condition not met within {timeout_s}s")
            try:
                version = await self.wait_changed(version, remaining)
            except TimeoutError:
                continue
