"""The cgroup fast path on fake cgroup trees (v1 and v2) and its fallback to one-shot stats."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from dockyard.metrics import cgroups, collector
from dockyard.metrics.cgroups import (
    CgroupFigures,
    CgroupReader,
    parse_blkio_v1,
    parse_io_stat_v2,
    parse_net_dev,
    parse_proc_cgroup,
)
from dockyard.metrics.collector import collect_sample

CID = "c0ffee" * 10 + "abcd"
OTHER = "beef" * 16
PID = 4242
GIB = 1 << 30

NET_DEV = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs"
    " drop fifo colls carrier compressed\n"
    "    lo:    5000      10    0    0    0     0          0         0     5000      10    0"
    "    0    0     0       0          0\n"
    "  eth0:     200       2    0    0    0     0          0         0       30       1    0"
    "    0    0     0       0          0\n"
    "  eth1:      50       1    0    0    0     0          0         0       12       1    0"
    "    0    0     0       0          0\n"
)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fake_proc(tmp_path: Path, cgroup_text: str, *, pid: int = PID, net: bool = True) -> Path:
    proc = tmp_path / "proc"
    write(proc / str(pid) / "cgroup", cgroup_text)
    if net:
        write(proc / str(pid) / "net" / "dev", NET_DEV)
    return proc


def v1_tree(tmp_path: Path, parent: str = f"docker/{CID}", *, limit: str = "268435456") -> Path:
    root = tmp_path / "cgroup"
    write(root / "cpuacct" / parent / "cpuacct.usage", "5000000000\n")
    write(root / "memory" / parent / "memory.usage_in_bytes", "1000000\n")
    write(
        root / "memory" / parent / "memory.stat",
        "cache 400000\ninactive_file 1\ntotal_inactive_file 300000\n",
    )
    write(root / "memory" / parent / "memory.limit_in_bytes", f"{limit}\n")
    write(
        root / "blkio" / parent / "blkio.throttle.io_service_bytes",
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\n8:0 Total 12288\n"
        "8:16 Read 4\n8:16 Write 2\nTotal 12294\n",
    )
    write(root / "pids" / parent / "pids.current", "3\n")
    return root


def v1_proc_text(path: str) -> str:
    return (
        "".join(
            f"{n}:{c}:/{path}\n"
            for n, c in enumerate(["cpu", "cpuacct", "memory", "blkio", "pids", "name=systemd"], 1)
        )
        + f"0::/{path}\n"
    )


def v2_tree(tmp_path: Path, parent: str, *, limit: str = "max") -> Path:
    root = tmp_path / "cgroup"
    write(root / "cgroup.controllers", "cpu io memory pids\n")
    write(root / parent / "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 1\n")
    write(root / parent / "memory.current", "2000000\n")
    write(root / parent / "memory.stat", "anon 1500000\nfile 500000\ninactive_file 250000\n")
    write(root / parent / "memory.max", f"{limit}\n")
    write(
        root / parent / "io.stat",
        "8:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n"
        "8:16 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n",
    )
    write(root / parent / "pids.current", "7\n")
    return root


def test_parsers() -> None:
    assert parse_net_dev(NET_DEV) == (250, 42)  # lo left out
    assert parse_blkio_v1("8:0 Read 4096\n8:0 Write 8\n8:0 Total 4104\nTotal 4104\n") == (
        4096,
        8,
    )
    assert parse_io_stat_v2("8:0 rbytes=5 wbytes=6 rios=1\n259:0 rbytes=1 wbytes=1\n") == (6, 7)
    paths = parse_proc_cgroup("2:cpu,cpuacct:/docker/x\n9:name=systemd:/docker/x\n0::/y\n")
    assert paths["cpuacct"] == paths["cpu,cpuacct"] == "/docker/x"
    assert paths["systemd"] == "/docker/x"
    assert paths[""] == "/y"


def test_v1_reads_every_figure(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    proc = fake_proc(tmp_path, v1_proc_text(f"docker/{CID}"))
    reader = CgroupReader(str(root), str(proc), host_memory=8 * GIB)
    assert reader.version() == 1
    figures = reader.read(CID, PID)
    assert figures is not None
    assert figures.cpu_usage_ns == 5_000_000_000
    assert figures.memory_used_bytes == 700_000  # usage minus total_inactive_file
    assert figures.memory_limit_bytes == 268_435_456
    assert (figures.block_read_bytes, figures.block_write_bytes) == (4100, 8194)
    assert figures.pids == 3
    assert (figures.net_rx_bytes, figures.net_tx_bytes) == (250, 42)
    # Host network: the counters are the host's, reported as 0 (as the stats endpoint does).
    host_net = reader.read(CID, PID, network=False)
    assert host_net is not None
    assert (host_net.net_rx_bytes, host_net.net_tx_bytes) == (0, 0)


def test_v1_unlimited_is_host_memory_and_joined_cpu_hierarchy(tmp_path: Path) -> None:
    root = v1_tree(tmp_path, limit="9223372036854771712")
    (root / "cpuacct").rename(root / "cpu,cpuacct")
    proc = fake_proc(
        tmp_path, f"3:cpu,cpuacct:/docker/{CID}\n4:memory:/docker/{CID}\n1:pids:/docker/{CID}\n"
    )
    figures = CgroupReader(str(root), str(proc), host_memory=8 * GIB).read(CID, PID)
    assert figures is not None
    assert figures.cpu_usage_ns == 5_000_000_000
    assert figures.memory_limit_bytes == 8 * GIB
    assert (figures.block_read_bytes, figures.block_write_bytes) == (0, 0)  # no blkio line
    assert figures.pids == 3


@pytest.mark.parametrize("parent", [f"system.slice/docker-{CID}.scope", f"docker/{CID}"])
def test_v2_reads_every_figure_and_max_limit(tmp_path: Path, parent: str) -> None:
    root = v2_tree(tmp_path, parent)
    proc = fake_proc(tmp_path, f"0::/{parent}\n")
    reader = CgroupReader(str(root), str(proc), host_memory=8 * GIB)
    assert reader.version() == 2
    figures = reader.read(CID, PID)
    assert figures is not None
    assert figures.cpu_usage_ns == 2_500_000_000  # usage_usec in ns
    assert figures.memory_used_bytes == 1_750_000  # memory.current minus inactive_file
    assert figures.memory_limit_bytes == 8 * GIB  # "max": the host
    assert (figures.block_read_bytes, figures.block_write_bytes) == (1010, 2020)
    assert figures.pids == 7
    assert (figures.net_rx_bytes, figures.net_tx_bytes) == (250, 42)
    write(root / parent / "memory.max", "104857600\n")
    limited = reader.read(CID, PID)
    assert limited is not None
    assert limited.memory_limit_bytes == 104_857_600


def test_v2_found_by_id_when_proc_is_not_readable(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, f"system.slice/docker-{CID}.scope")
    reader = CgroupReader(str(root), str(tmp_path / "no-proc"), host_memory=GIB)
    assert reader.locate(CID, PID) == {"": str(root / f"system.slice/docker-{CID}.scope")}
    assert reader.read(CID, PID) is None  # no /proc/<pid>/net/dev: the stats path, consistent
    figures = reader.read(CID, PID, network=False)
    assert figures is not None
    assert figures.pids == 7


def test_refusals(tmp_path: Path) -> None:
    # A PID whose cgroup does not name the container (another host's or namespace's PID).
    root = v2_tree(tmp_path, f"docker/{CID}")
    proc = fake_proc(tmp_path, f"0::/docker/{OTHER}\n")
    reader = CgroupReader(str(root), str(proc), host_memory=GIB)
    assert reader.read(CID, PID) is None
    # A path seen from another cgroup namespace.
    write(proc / str(PID) / "cgroup", f"0::/../../docker/{CID}\n")
    assert reader.read(CID, PID) is None
    # A required file missing (cpu.stat).
    write(proc / str(PID) / "cgroup", f"0::/docker/{CID}\n")
    assert reader.read(CID, PID) is not None
    (root / "docker" / CID / "cpu.stat").unlink()
    assert reader.read(CID, PID) is None
    # Malformed content.
    write(root / "docker" / CID / "cpu.stat", "usage_usec lots\n")
    assert reader.read(CID, PID) is None
    # No cgroup file system at all.
    empty = CgroupReader(str(tmp_path / "empty"), str(proc), host_memory=GIB)
    assert empty.version() == 0
    assert not empty.available()
    assert empty.read(CID, PID) is None


def test_v1_missing_memory_controller_is_refused(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    proc = fake_proc(tmp_path, v1_proc_text(f"docker/{CID}"))
    reader = CgroupReader(str(root), str(proc), host_memory=GIB)
    for name in ("memory.usage_in_bytes", "memory.stat", "memory.limit_in_bytes"):
        (root / "memory" / "docker" / CID / name).unlink()
    (root / "memory" / "docker" / CID).rmdir()
    assert reader.read(CID, PID) is None


def test_cpu_percent_from_wall_time() -> None:
    def at(usage: int, wall: int) -> CgroupFigures:
        return CgroupFigures(usage, wall, 0, 0, 0, 0, 0, 0, 0)

    assert cgroups.cpu_percent(at(10, 10), None) == 0.0
    # 0.5 s of CPU over 1 s of wall time: half a core.
    assert cgroups.cpu_percent(
        at(1_500_000_000, 2_000_000_000), at(1_000_000_000, 1_000_000_000)
    ) == (pytest.approx(50.0))
    assert cgroups.cpu_percent(at(5, 20), at(10, 10)) == 0.0  # counter reset (restart)


# ---- the collector ------------------------------------------------------------------------


class FakeEngine:
    """A local engine: inspect gives PIDs; one-shot stats answer for the fallback."""

    base_url = "unix:///fake-cgroups.sock"

    def __init__(self, ids: list[str], pids: dict[str, int]) -> None:
        self.ids = ids
        self.pids = pids
        self.inspects = 0
        self.stats_calls: list[str] = []
        self.in_flight = 0
        self.peak = 0

    async def info(self) -> dict[str, Any]:
        return {"DockerRootDir": "/"}

    async def list_containers(self, *, all: bool = True) -> list[dict[str, Any]]:
        return [{"Id": cid, "Names": [f"/n{i}"], "Labels": {}} for i, cid in enumerate(self.ids)]

    async def inspect_container(self, container: str) -> dict[str, Any]:
        self.inspects += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.005)
        self.in_flight -= 1
        return {"Id": container, "State": {"Pid": self.pids.get(container, 0)}, "HostConfig": {}}

    async def stats_one_shot(self, container: str, *, pool_size: int = 16) -> dict[str, Any]:
        self.stats_calls.append(container)
        return {
            "cpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 9},
            "memory_stats": {"usage": 123, "limit": 456},
            "pids_stats": {"current": 2},
        }


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> Any:
    def use(reader: CgroupReader) -> CgroupReader:
        monkeypatch.setattr(collector, "cgroup_reader", reader)
        return reader

    return use


async def test_collector_reads_cgroups_and_caches_pids(tmp_path: Path, reader: Any) -> None:
    ids = [f"{i:02d}" + CID[2:] for i in range(20)]
    root = tmp_path / "cgroup"
    proc = tmp_path / "proc"
    for i, cid in enumerate(ids):
        sub = tmp_path / f"t{i}"
        v2_tree(sub, f"docker/{cid}")
        fake_proc(sub, f"0::/docker/{cid}\n", pid=1000 + i)
    # Merge the per-container trees into one root and one /proc.
    for i in range(len(ids)):
        shutil.copytree(tmp_path / f"t{i}" / "cgroup", root, dirs_exist_ok=True)
        shutil.copytree(tmp_path / f"t{i}" / "proc", proc, dirs_exist_ok=True)
    reader(CgroupReader(str(root), str(proc), host_memory=GIB))
    engine = FakeEngine(ids, {cid: 1000 + i for i, cid in enumerate(ids)})

    first = await collect_sample(engine, concurrency=4)  # type: ignore[arg-type]
    assert [c.container_id for c in first.containers] == ids
    assert engine.stats_calls == []
    assert engine.inspects == 20
    assert engine.peak <= 4
    assert collector.last_sweep["cgroup_containers"] == 20
    assert collector.last_sweep["max_in_flight"] <= 4
    assert all(c.cpu_percent == 0.0 for c in first.containers)  # no previous reading
    c0 = first.containers[0]
    assert (c0.memory_used_bytes, c0.memory_limit_bytes, c0.pids) == (1_750_000, GIB, 7)

    # The CPU counter moves: CPU% from the wall time between readings; no new inspects.
    cpu_stat = root / "docker" / ids[0] / "cpu.stat"
    cpu_stat.write_text("usage_usec 2600000\n")  # +0.1 s of CPU
    second = await collect_sample(engine, concurrency=4)  # type: ignore[arg-type]
    assert engine.inspects == 20
    assert collector.last_sweep["inspects"] == 0
    assert second.containers[0].cpu_percent > 0
    assert second.containers[1].cpu_percent == 0.0

    # A restart: the cached PID is gone, a new one shows up; inspected again, read again.
    engine.pids[ids[3]] = 2003
    write(proc / "2003" / "cgroup", f"0::/docker/{ids[3]}\n")
    write(proc / "2003" / "net" / "dev", NET_DEV)
    shutil.rmtree(proc / "1003")  # the old main process is gone
    third = await collect_sample(engine, concurrency=4)  # type: ignore[arg-type]
    assert engine.inspects == 21
    assert len(third.containers) == 20
    assert engine.stats_calls == []

    # Stopped containers are forgotten.
    engine.ids = ids[:5]
    await collect_sample(engine, concurrency=4)  # type: ignore[arg-type]
    assert {k[1] for k in collector._cgroup_targets if k[0] == engine.base_url} == set(ids[:5])
    assert {k[1] for k in collector._previous_cgroup if k[0] == engine.base_url} == set(ids[:5])


async def test_collector_falls_back_to_stats_when_not_readable(tmp_path: Path, reader: Any) -> None:
    """An empty root (no cgroup file system): every container through one-shot stats."""
    reader(CgroupReader(str(tmp_path / "empty"), str(tmp_path / "proc"), host_memory=GIB))
    ids = [f"{i:064x}" for i in range(6)]
    engine = FakeEngine(ids, {cid: 10 + i for i, cid in enumerate(ids)})
    engine.base_url = "unix:///fake-cgroups-empty.sock"
    sample = await collect_sample(engine, concurrency=3)  # type: ignore[arg-type]
    assert [c.container_id for c in sample.containers] == ids
    assert sorted(engine.stats_calls) == ids
    assert engine.inspects == 0  # no cgroup file system: not even an inspect
    assert all(c.memory_used_bytes == 123 and c.pids == 2 for c in sample.containers)


async def test_collector_mixed_and_remote(tmp_path: Path, reader: Any) -> None:
    """One readable container, one whose cgroup is not there (stats, remembered), and a TCP
    engine that never takes the fast path."""
    readable, missing = "aa" + CID[2:], "bb" + CID[2:]
    root = v2_tree(tmp_path, f"docker/{readable}")
    proc = fake_proc(tmp_path, f"0::/docker/{readable}\n", pid=11)
    write(proc / "12" / "cgroup", f"0::/docker/{missing}\n")  # no such directory
    reader(CgroupReader(str(root), str(proc), host_memory=GIB))
    engine = FakeEngine([readable, missing], {readable: 11, missing: 12})
    engine.base_url = "unix:///fake-cgroups-mixed.sock"
    sample = await collect_sample(engine, concurrency=2)  # type: ignore[arg-type]
    by_id = {c.container_id: c for c in sample.containers}
    assert by_id[readable].pids == 7
    assert by_id[missing].pids == 2
    assert engine.stats_calls == [missing]
    await collect_sample(engine, concurrency=2)  # type: ignore[arg-type]
    assert engine.inspects == 2  # the unreadable one is not inspected again
    assert engine.stats_calls == [missing, missing]

    remote = FakeEngine([readable], {readable: 11})
    remote.base_url = "tcp://10.0.0.9:2375"
    sample = await collect_sample(remote, concurrency=2)  # type: ignore[arg-type]
    assert remote.inspects == 0
    assert remote.stats_calls == [readable]
    assert sample.containers[0].pids == 2


async def test_failed_inspect_is_retried_next_sweep(tmp_path: Path, reader: Any) -> None:
    cid = "cc" + CID[2:]
    root = v2_tree(tmp_path, f"docker/{cid}")
    proc = fake_proc(tmp_path, f"0::/docker/{cid}\n", pid=21)
    reader(CgroupReader(str(root), str(proc), host_memory=GIB))

    class Flaky(FakeEngine):
        base_url = "unix:///fake-cgroups-flaky.sock"
        fail = True

        async def inspect_container(self, container: str) -> dict[str, Any]:
            if self.fail:
                self.fail = False
                self.inspects += 1
                raise RuntimeError("engine busy")
            return await super().inspect_container(container)

    engine = Flaky([cid], {cid: 21})
    first = await collect_sample(engine, concurrency=2)  # type: ignore[arg-type]
    assert first.containers[0].pids == 2  # this sweep through stats
    assert engine.stats_calls == [cid]
    second = await collect_sample(engine, concurrency=2)  # type: ignore[arg-type]
    assert engine.inspects == 2
    assert second.containers[0].pids == 7  # now from its cgroup
    assert engine.stats_calls == [cid]
