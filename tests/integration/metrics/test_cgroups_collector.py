"""The cgroup fast path on the real engine: figures match one-shot stats, restarts are
followed, and unreadable cgroups fall back to the stats endpoint."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from dockyard.engine.adapter import DockerEngine
from dockyard.metrics import collector
from dockyard.metrics.cgroups import CgroupReader
from dockyard.metrics.collector import collect_sample
from dockyard.metrics.samples import ContainerSample
from tests.conftest import require_env

MIB = 1 << 20


@pytest.fixture
def pair(docker_client: Any, test_image: str) -> Iterator[tuple[str, str]]:
    """A container spinning a shell loop and an idle one (ids)."""
    prefix = f"t-cgroups-{secrets.token_hex(3)}"
    started = []
    try:
        for role, command in (
            ("busy", ["sh", "-c", "while :; do :; done"]),
            ("idle", ["sleep", "3600"]),
        ):
            container = docker_client.containers.run(
                test_image,
                command,
                name=f"{prefix}-{role}",
                labels={"io.dockyard.test": "1"},
                detach=True,
                stop_signal="SIGKILL",
            )
            started.append(container)
        yield started[0].id, started[1].id
    finally:
        for container in started:
            container.remove(force=True)


@pytest.fixture
async def engine(docker_host: str) -> AsyncIterator[DockerEngine]:
    engine = DockerEngine(docker_host)
    yield engine
    await engine.close()


def mine(sample: Any, ids: tuple[str, str]) -> dict[str, ContainerSample]:
    return {c.container_id: c for c in sample.containers if c.container_id in ids}


async def test_fast_path_figures_agree_with_one_shot_stats(
    engine: DockerEngine, pair: tuple[str, str]
) -> None:
    busy_id, idle_id = pair
    assert engine.base_url.startswith("unix://"), "the test engine must be on this host"
    await collect_sample(engine)
    assert collector.last_sweep["stats_containers"] == 0, collector.last_sweep
    await asyncio.sleep(1.5)
    sample = await collect_sample(engine)
    assert collector.last_sweep["stats_containers"] == 0
    assert collector.last_sweep["inspects"] == 0  # PIDs cached from the first sweep
    ours = mine(sample, pair)
    assert set(ours) == {busy_id, idle_id}
    busy, idle = ours[busy_id], ours[idle_id]
    # A spinning shell on a shared, busy machine: well above the sleeper, not over a core
    # by much (one thread).
    assert busy.cpu_percent > 20.0, busy
    assert idle.cpu_percent < 5.0, idle
    assert busy.cpu_percent > idle.cpu_percent + 15.0
    assert busy.cpu_percent < 130.0
    for one in (busy, idle):
        assert one.memory_used_bytes > 0
        assert one.pids >= 1
        assert one.memory_limit_bytes > 0

    # The same figures through the stats endpoint, for the same containers.
    for cid, fast in ((busy_id, busy), (idle_id, idle)):
        stats = await engine.stats_one_shot(cid)
        memory = stats["memory_stats"]
        assert memory["limit"] == fast.memory_limit_bytes
        assert stats["pids_stats"]["current"] == fast.pids
        slow_used = collector.memory_used(stats)
        assert abs(slow_used - fast.memory_used_bytes) <= max(2 * MIB, slow_used // 2)
        rx = sum(int(n.get("rx_bytes") or 0) for n in (stats.get("networks") or {}).values())
        assert rx >= fast.net_rx_bytes
        assert rx - fast.net_rx_bytes < 64 * 1024  # only the bridge's chatter in between

    # Cumulative CPU: the stats endpoint's counter is the cgroup's, read a little later.
    reading = collector._previous_cgroup[(engine.base_url, busy_id)]
    stats = await engine.stats_one_shot(busy_id)
    later = int(stats["cpu_stats"]["cpu_usage"]["total_usage"])
    assert later >= reading.cpu_usage_ns
    assert later - reading.cpu_usage_ns < 10 * 10**9  # at most a few seconds of one core


async def test_restart_is_followed(
    engine: DockerEngine, pair: tuple[str, str], docker_client: Any
) -> None:
    idle_id = pair[1]
    await collect_sample(engine)
    old_pid = collector._cgroup_targets[(engine.base_url, idle_id)].pid
    docker_client.containers.get(idle_id).restart(timeout=0)
    sample = await collect_sample(engine)
    assert collector.last_sweep["inspects"] >= 1  # the new main PID looked up
    assert idle_id in mine(sample, pair)
    new_pid = collector._cgroup_targets[(engine.base_url, idle_id)].pid
    assert new_pid is not None
    assert new_pid != old_pid
    assert collector.last_sweep["stats_containers"] == 0


async def test_unreadable_cgroups_fall_back_to_stats(
    engine: DockerEngine,
    pair: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(collector, "cgroup_reader", CgroupReader(str(empty), "/proc"))
    sample = await collect_sample(engine)
    ours = mine(sample, pair)
    assert set(ours) == set(pair)
    assert collector.last_sweep["cgroup_containers"] == 0
    assert collector.last_sweep["stats_containers"] >= 2
    assert all(c.memory_used_bytes > 0 and c.pids >= 1 for c in ours.values())


async def test_second_engine_on_this_host(test_image: str) -> None:
    """node2 is a separate dockerd on this host: its containers are found by PID too."""
    host = require_env("DOCKYARD_TEST_NODE2_DOCKER_HOST")
    client = docker.DockerClient(base_url=host, version="auto", timeout=60)
    container = client.containers.run(
        test_image,
        ["sleep", "3600"],
        name=f"t-cgroups-n2-{secrets.token_hex(3)}",
        labels={"io.dockyard.test": "1"},
        network_mode="none",
        detach=True,
    )
    engine = DockerEngine(host)
    try:
        sample = await collect_sample(engine)
        ours = [c for c in sample.containers if c.container_id == container.id]
        assert len(ours) == 1
        assert (engine.base_url, container.id) in collector._previous_cgroup  # read from cgroups
        assert ours[0].pids >= 1
        assert ours[0].memory_used_bytes > 0
        assert (ours[0].net_rx_bytes, ours[0].net_tx_bytes) == (0, 0)  # no network
    finally:
        await engine.close()
        container.remove(force=True)
        client.close()
