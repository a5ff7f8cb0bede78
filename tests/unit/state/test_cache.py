"""`NodeStateCache`: indexes, versions and waiting for a change."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from dockyard.state.cache import NodeStateCache
from dockyard.state.schemas import ContainerState


def container(
    cid: str, *, service: int | None = None, project: str | None = None, state: str = "running"
) -> ContainerState:
    labels = {}
    if service is not None:
        labels["io.dockyard.service-id"] = str(service)
    if project is not None:
        labels["com.docker.compose.project"] = project
    return ContainerState(
        id=cid,
        name=f"name-{cid[:4]}",
        labels=labels,
        image="busybox",
        image_id=None,
        state=state,
        status="Up",
        health=None,
        exit_code=None,
        restart_count=0,
        started_at=None,
        finished_at=None,
    )


def test_indexes_follow_puts_and_removes() -> None:
    cache = NodeStateCache(1)
    a = container("a" * 64, service=1, project="p1")
    b = container("b" * 64, service=1, project="p1")
    c = container("c" * 64, service=2, project="p2")
    for item in (a, b, c):
        assert cache.put(item)
    assert cache.for_service(1) == [a, b]
    assert cache.for_project("p2") == [c]
    assert cache.service_ids() == {1, 2}
    assert len(cache) == 3

    assert cache.remove(c.id) is c
    assert cache.for_service(2) == []
    assert cache.service_ids() == {1}
    assert cache.remove(c.id) is None

    # A replacement re-indexes (labels cannot change in Docker, but the cache doesn't care).
    moved = dataclasses.replace(b, labels={"io.dockyard.service-id": "3"})
    cache.put(moved)
    assert cache.for_service(1) == [a]
    assert cache.for_service(3) == [moved]
    assert cache.for_project("p1") == [a]


def test_version_moves_only_on_real_change() -> None:
    cache = NodeStateCache(1)
    a = container("a" * 64)
    assert cache.version == 0
    cache.put(a)
    assert cache.version == 1
    assert not cache.put(dataclasses.replace(a))  # equal: no change
    assert cache.version == 1
    cache.put(dataclasses.replace(a, state="exited"))
    assert cache.version == 2
    assert cache.set_reachable(True)
    assert not cache.set_reachable(True)
    assert cache.version == 3


def test_find_by_id_prefix_and_name() -> None:
    cache = NodeStateCache(1)
    a = container("abcd" + "0" * 60)
    b = container("abce" + "0" * 60)
    cache.put(a)
    cache.put(b)
    assert cache.find(a.id) is a
    assert cache.find("abcd") is a
    assert cache.find("abc") is None  # too short, and ambiguous anyway
    assert cache.find(b.name) is b
    assert cache.find("/" + b.name) is b
    assert cache.find("nope") is None


async def test_wait_changed_wakes_on_the_next_change() -> None:
    cache = NodeStateCache(1)
    start = cache.version
    waiter = asyncio.create_task(cache.wait_changed(start, 2))
    await asyncio.sleep(0)
    cache.put(container("a" * 64))
    assert await waiter == start + 1
    # Already past: returns at once.
    assert await cache.wait_changed(start, 0.01) == start + 1
    with pytest.raises(TimeoutError):
        await cache.wait_changed(cache.version, 0.05)


async def test_wait_for_a_condition() -> None:
    cache = NodeStateCache(1)
    cid = "a" * 64

    async def later() -> None:
        await asyncio.sleep(0.01)
        cache.put(container(cid))
        await asyncio.sleep(0.01)
        cache.put(container(cid, state="exited"))

    task = asyncio.create_task(later())
    await cache.wait_for(lambda c: (s := c.get(cid)) is not None and s.state == "exited", 2)
    await task
    with pytest.raises(TimeoutError):
        await cache.wait_for(lambda c: False, 0.05)
