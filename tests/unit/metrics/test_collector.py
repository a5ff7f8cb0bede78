"""Collector math: CPU% from successive one-shot readings, memory without cache, sweeps."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from dockyard.metrics import collector
from dockyard.metrics.collector import (
    CpuReading,
    collect_sample,
    container_sample,
    cpu_percent,
    memory_used,
)


def one_shot(total: int, system: int, *, online: int = 4, **extra: Any) -> dict[str, Any]:
    """A one-shot stats answer: `precpu_stats` is empty."""
    return {
        "cpu_stats": {
            "cpu_usage": {"total_usage": total},
            "system_cpu_usage": system,
            "online_cpus": online,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 0}},
        "memory_stats": {"usage": 500, "limit": 1000, "stats": {"inactive_file": 100}},
        "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 20}, "eth1": {"rx_bytes": 1}},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"op": "Read", "value": 7},
                {"op": "write", "value": 9},
                {"op": "Total", "value": 16},
            ]
        },
        "pids_stats": {"current": 3},
        **extra,
    }


SUMMARY = {
    "Id": "a" * 64,
    "Names": ["/web-1"],
    "Labels": {"io.dockyard.service-id": "12", "io.dockyard.instance": "inst"},
}


def test_cpu_percent_from_successive_one_shots() -> None:
    first, reading = container_sample(SUMMARY, one_shot(1_000, 100_000), None)
    assert first.cpu_percent == 0.0  # no previous reading yet
    assert reading == CpuReading(1_000, 100_000, 4)
    # 5,000 ns of the container over 100,000 ns of all 4 CPUs: 20% of one core.
    second, _ = container_sample(SUMMARY, one_shot(6_000, 200_000), reading)
    assert second.cpu_percent == pytest.approx(20.0)
    assert cpu_percent(CpuReading(10, 10, 2), CpuReading(20, 5, 2)) == 0.0  # restarted


def test_container_fields() -> None:
    sample, _ = container_sample(SUMMARY, one_shot(1, 1), None)
    assert sample.name == "web-1"
    assert sample.service_id == 12
    assert sample.instance == "inst"
    assert sample.memory_used_bytes == 400  # minus inactive file (cgroup v2)
    assert sample.memory_limit_bytes == 1000
    assert (sample.net_rx_bytes, sample.net_tx_bytes) == (11, 20)
    assert (sample.block_read_bytes, sample.block_write_bytes) == (7, 9)
    assert sample.pids == 3


def test_memory_used_cgroup_v1_and_no_stats() -> None:
    v1 = {"memory_stats": {"usage": 900, "stats": {"total_inactive_file": 300}}}
    assert memory_used(v1) == 600
    assert memory_used({"memory_stats": {"usage": 50}}) == 50
    assert memory_used({}) == 0


class FakeEngine:
    """One-shot stats with a delay; counts requests in flight."""

    base_url = "unix:///fake.sock"

    def __init__(self, count: int) -> None:
        self.count = count
        self.in_flight = 0
        self.peak = 0
        self.calls = 0

    async def info(self) -> dict[str, Any]:
        return {"DockerRootDir": "/"}

    async def list_containers(self, *, all: bool = True) -> list[dict[str, Any]]:
        assert all is False
        return [{"Id": f"{i:064x}", "Names": [f"/c{i}"], "Labels": {}} for i in range(self.count)]

    async def stats_one_shot(self, container: str, *, pool_size: int = 16) -> dict[str, Any]:
        self.in_flight += 1
        self.calls += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        if container.endswith("7"):
            raise RuntimeError("gone")  # a container that vanished mid-sweep
        return one_shot(self.calls * 1000, self.calls * 10_000)


async def test_sweep_bounded_concurrency_and_forgets_gone_containers() -> None:
    engine = FakeEngine(40)
    sample = await collect_sample(engine, concurrency=5)  # type: ignore[arg-type]
    assert engine.peak == 5
    assert engine.calls == 40
    assert len(sample.containers) == 37  # ids ending in 7 (3 of them) failed
    assert collector.last_sweep["max_in_flight"] == 5
    assert sample.host.memory_total_bytes > 0
    engine.count = 10
    await collect_sample(engine, concurrency=5)  # type: ignore[arg-type]
    kept = [k for k in collector._previous_cpu if k[0] == engine.base_url]
    assert len(kept) == 9


def test_agent_imports_stay_lean() -> None:
    """The agent process with its collector loads none of the server's weight: no web
    framework, no database layer, no docker-py, no server domains (agent RSS target)."""
    code = (
        "import sys, dockyard.agent.client, dockyard.metrics.collector\n"
        "heavy = ('fastapi', 'starlette', 'sqlalchemy', 'alembic', 'docker', 'uvicorn')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "             or m.startswith(('dockyard.engine', 'dockyard.services',\n"
        "                              'dockyard.kit.db')))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
