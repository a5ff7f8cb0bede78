"""Collecting one `MetricsSample`: host figures (psutil) and one-shot container stats.

Imported by the agent process too, so this module imports only the standard library,
psutil, pydantic and `dockyard.metrics`: it works with any engine that has the few calls
of `StatsEngine` (the server's `DockerEngine`, the agent's lean `AgentEngine`).

Containers are read with `GET /containers/{id}/stats?stream=false&one-shot=true`, at most
`concurrency` requests in flight: never a stream per container, and never `stream=false`
without one-shot (the engine then waits a second per container to fill `precpu_stats`).
One-shot readings carry no `precpu_stats`, so CPU% comes from the difference with the
previous reading of the same container, kept here between sweeps.

Fast path: the engine answers one-shot stats only at its stats collector's 1 s tick, so a
sweep through the endpoint costs about N / (requests in flight) seconds. When the engine
is on this host (a `unix://` engine: the server's local node, and every agent), the
figures are read from the kernel's cgroup files instead (`dockyard.metrics.cgroups`),
finding each container by its main PID (`State.Pid` of an inspect, which is not tick-bound,
made once per container and cached while its cgroup still names it). A container whose
files cannot be read falls back to one-shot stats, and is remembered as such until it
stops running.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import psutil

from dockyard.metrics import cgroups
from dockyard.metrics.samples import ContainerSample, HostSample, MetricsSample


class StatsEngine(Protocol):
    """The engine calls a sweep needs (inspects are optional; see `_inspect`)."""

    base_url: str

    async def info(self) -> dict[str, Any]: ...

    async def list_containers(
        self, *, all: bool = True, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...

    async def stats_one_shot(self, container: str, *, pool_size: int = 16) -> dict[str, Any]: ...


# As dockyard.services.status (not imported: the agent imports this module).
SERVICE_ID_LABEL = "io.dockyard.service-id"
INSTANCE_LABEL = "io.dockyard.instance"


@dataclass(frozen=True)
class CpuReading:
    """A container's cumulative CPU figures at one reading (nanoseconds)."""

    total_usage: int
    system_usage: int
    online_cpus: int


# (engine URL, container id) -> its previous CPU reading; pruned to the running containers.
_previous_cpu: dict[tuple[str, str], CpuReading] = {}
# engine URL -> the Docker root dir (its disk is the one reported), looked up once.
_root_dirs: dict[str, str] = {}
# The last sweep's figures, for benchmarks and logs.
last_sweep: dict[str, float] = {}

# The cgroup reader of the fast path (tests point it at a fake tree).
cgroup_reader = cgroups.CgroupReader()


@dataclass(frozen=True)
class CgroupTarget:
    """How to read a container from its cgroup: its main PID, or None (use stats)."""

    pid: int | None
    own_network: bool = True


# (engine URL, container id) -> how to read it; pruned to the running containers.
_cgroup_targets: dict[tuple[str, str], CgroupTarget] = {}
# (engine URL, container id) -> its previous cgroup reading (CPU% from the difference).
_previous_cgroup: dict[tuple[str, str], cgroups.CgroupFigures] = {}


def cpu_reading(stats: dict[str, Any], key: str = "cpu_stats") -> CpuReading | None:
    """The cumulative CPU figures under `key` (`cpu_stats` or `precpu_stats`), if any."""
    cpu = stats.get(key) or {}
    usage = cpu.get("cpu_usage") or {}
    total = usage.get("total_usage")
    system = cpu.get("system_cpu_usage")
    if not total or not system:
        return None
    online = cpu.get("online_cpus") or len(usage.get("percpu_usage") or []) or 1
    return CpuReading(int(total), int(system), int(online))


def cpu_percent(current: CpuReading, previous: CpuReading | None) -> float:
    """CPU% the way `docker stats` computes it: share of one core x 100."""
    if previous is None:
        return 0.0
    cpu_delta = current.total_usage - previous.total_usage
    system_delta = current.system_usage - previous.system_usage
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return round(cpu_delta / system_delta * current.online_cpus * 100.0, 3)


def memory_used(stats: dict[str, Any]) -> int:
    """Usage minus the page cache, as the docker CLI shows it (cgroup v1 and v2)."""
    memory = stats.get("memory_stats") or {}
    usage = int(memory.get("usage") or 0)
    detail = memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        inactive = detail.get(key)
        if inactive is not None and int(inactive) < usage:
            return usage - int(inactive)
    return usage


def _block_io(stats: dict[str, Any]) -> tuple[int, int]:
    read = write = 0
    for entry in (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += int(entry.get("value") or 0)
        elif op == "write":
            write += int(entry.get("value") or 0)
    return read, write


def container_sample(
    summary: dict[str, Any], stats: dict[str, Any], previous: CpuReading | None
) -> tuple[ContainerSample, CpuReading | None]:
    """One container's sample from its list entry and one-shot stats (+ its CPU reading)."""
    current = cpu_reading(stats)
    before = cpu_reading(stats, "precpu_stats") or previous  # one-shot: no precpu
    rx = tx = 0
    for net in (stats.get("networks") or {}).values():
        rx += int(net.get("rx_bytes") or 0)
        tx += int(net.get("tx_bytes") or 0)
    read, write = _block_io(stats)
    memory = stats.get("memory_stats") or {}
    sample = ContainerSample(
        **_identity(summary),
        cpu_percent=cpu_percent(current, before) if current is not None else 0.0,
        memory_used_bytes=memory_used(stats),
        memory_limit_bytes=int(memory.get("limit") or 0),
        net_rx_bytes=rx,
        net_tx_bytes=tx,
        block_read_bytes=read,
        block_write_bytes=write,
        pids=int((stats.get("pids_stats") or {}).get("current") or 0),
    )
    return sample, current


def _identity(summary: dict[str, Any]) -> dict[str, Any]:
    """Id, name, service id and instance of a container list entry."""
    labels = summary.get("Labels") or {}
    raw_service = labels.get(SERVICE_ID_LABEL)
    names = summary.get("Names") or []
    return {
        "container_id": str(summary["Id"]),
        "name": str(names[0]).lstrip("/") if names else str(summary["Id"])[:12],
        "service_id": int(raw_service) if raw_service and str(raw_service).isdigit() else None,
        "instance": labels.get(INSTANCE_LABEL),
    }


def cgroup_container_sample(
    summary: dict[str, Any],
    figures: cgroups.CgroupFigures,
    previous: cgroups.CgroupFigures | None,
) -> ContainerSample:
    """One container's sample from its list entry and a cgroup reading."""
    return ContainerSample(
        **_identity(summary),
        cpu_percent=cgroups.cpu_percent(figures, previous),
        memory_used_bytes=figures.memory_used_bytes,
        memory_limit_bytes=figures.memory_limit_bytes,
        net_rx_bytes=figures.net_rx_bytes,
        net_tx_bytes=figures.net_tx_bytes,
        block_read_bytes=figures.block_read_bytes,
        block_write_bytes=figures.block_write_bytes,
        pids=figures.pids,
    )


def listening_ports() -> list[int]:
    """Host TCP ports in LISTEN state (from /proc/net/tcp{,6}; psutil elsewhere)."""
    ports: set[int] = set()
    found_proc = False
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path, encoding="ascii") as handle:
                next(handle, None)
                for line in handle:
                    parts = line.split()
                    if len(parts) > 3 and parts[3] == "0A":  # TCP_LISTEN
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
            found_proc = True
        except OSError:
            continue
    if not found_proc:
        try:
            for conn in psutil.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr:
                    ports.add(int(conn.laddr.port))
        except (psutil.AccessDenied, OSError):
            return []
    return sorted(ports)


def host_sample(disk_path: str = "/") -> HostSample:
    """Host-wide figures now. CPU% is since the previous call (0 on the first)."""
    memory = psutil.virtual_memory()
    try:
        disk = psutil.disk_usage(disk_path)
    except OSError:
        disk = psutil.disk_usage("/")
    rx = tx = 0
    for name, counters in psutil.net_io_counters(pernic=True).items():
        if name == "lo" or name.startswith("lo:"):
            continue
        rx += counters.bytes_recv
        tx += counters.bytes_sent
    try:
        load_1, load_5, load_15 = os.getloadavg()
    except OSError:
        load_1 = load_5 = load_15 = 0.0
    return HostSample(
        cpu_percent=float(psutil.cpu_percent(interval=None)),
        cpu_count=psutil.cpu_count() or 1,
        memory_used_bytes=int(memory.total - memory.available),
        memory_total_bytes=int(memory.total),
        disk_used_bytes=int(disk.used),
        disk_total_bytes=int(disk.total),
        net_rx_bytes=rx,
        net_tx_bytes=tx,
        load_1=load_1,
        load_5=load_5,
        load_15=load_15,
        listening_ports=_cached_listening_ports(),
    )


# Reading the socket tables costs ~10 ms on a busy host; placement needs them only roughly
# fresh (allocations it makes are recorded in the database anyway).
LISTENING_PORTS_TTL_S = 30.0
_listening: tuple[float, list[int]] | None = None


def _cached_listening_ports() -> list[int]:
    global _listening
    now = time.monotonic()
    if _listening is None or now - _listening[0] > LISTENING_PORTS_TTL_S:
        _listening = (now, listening_ports())
    return _listening[1]


async def _root_dir(engine: StatsEngine) -> str:
    root = _root_dirs.get(engine.base_url)
    if root is None:
        try:
            info = await engine.info()
            root = str(info.get("DockerRootDir") or "/")
        except Exception:  # an unreachable engine: report the root file system
            return "/"
        exists = await asyncio.to_thread(os.path.isdir, root)
        _root_dirs[engine.base_url] = root if exists else "/"
        root = _root_dirs[engine.base_url]
    return root


def _fast_path(engine: StatsEngine) -> bool:
    """Whether this engine's containers may be on this host (a Unix socket engine that can
    inspect containers) and this host has a cgroup file system."""
    inspects = hasattr(engine, "inspect_container") or hasattr(engine, "get_json")
    return inspects and str(engine.base_url).startswith("unix://") and cgroup_reader.available()


async def _inspect(engine: StatsEngine, container: str) -> dict[str, Any]:
    """`GET /containers/{id}/json` (the agent's lean engine has only `get_json`)."""
    inspect = getattr(engine, "inspect_container", None)
    if inspect is not None:
        return dict(await inspect(container))
    get_json = getattr(engine, "get_json", None)
    if get_json is None:
        raise AttributeError("the engine cannot inspect containers")
    return dict(await get_json(f"/containers/{container}/json"))


def _target(info: dict[str, Any]) -> CgroupTarget:
    pid = int((info.get("State") or {}).get("Pid") or 0)
    mode = str((info.get("HostConfig") or {}).get("NetworkMode") or "")
    own_network = not (mode == "host" or mode.startswith("container:"))
    return CgroupTarget(pid if pid > 0 else None, own_network)


def _read_cgroups(
    items: list[tuple[str, CgroupTarget]],
) -> dict[str, cgroups.CgroupFigures | None]:
    """Container id -> its cgroup reading (None: not readable here). Runs in a thread."""
    reader = cgroup_reader
    return {
        cid: reader.read(cid, target.pid, network=target.own_network)
        if target.pid is not None
        else None
        for cid, target in items
    }


async def collect_sample(engine: StatsEngine, *, concurrency: int = 8) -> MetricsSample:
    """The node's sample now: host figures and every running container's figures.

    Containers come from their cgroup files when the engine is on this host (see the
    module's docstring), else from one-shot stats; at most `concurrency` engine requests
    (inspects and stats) are in flight. A container that vanishes or fails mid-sweep is
    left out; an unreachable engine yields the host figures with no containers.
    """
    started = time.perf_counter()
    taken_at = datetime.now(UTC)
    root = await _root_dir(engine)
    host_task = asyncio.create_task(asyncio.to_thread(host_sample, root))
    try:
        running = await engine.list_containers(all=False)
    except Exception:
        running = []
    url = engine.base_url
    limit = asyncio.Semaphore(max(1, concurrency))
    in_flight = 0
    peak = 0
    inspects = 0
    by_id = {str(s["Id"]): s for s in running if s.get("Id")}

    async def bounded_inspect(cid: str) -> tuple[str, CgroupTarget | None]:
        nonlocal in_flight, peak, inspects
        async with limit:
            in_flight += 1
            inspects += 1
            peak = max(peak, in_flight)
            try:
                return cid, _target(await _inspect(engine, cid))
            except Exception:  # gone, or the engine in trouble: stats now, inspect next time
                return cid, None
            finally:
                in_flight -= 1

    async def read_in_thread(
        items: list[tuple[str, CgroupTarget]],
    ) -> dict[str, cgroups.CgroupFigures | None]:
        return await asyncio.to_thread(_read_cgroups, items) if items else {}

    read: dict[str, cgroups.CgroupFigures] = {}
    if _fast_path(engine):
        known = [
            (cid, target)
            for cid in by_id
            if (target := _cgroup_targets.get((url, cid))) is not None and target.pid is not None
        ]
        retry: list[str] = []
        for cid, figures in (await read_in_thread(known)).items():
            if figures is None:
                retry.append(cid)  # restarted (a new PID) or gone: inspect again
            else:
                read[cid] = figures
        unknown = [cid for cid in by_id if (url, cid) not in _cgroup_targets] + retry
        inspected = await asyncio.gather(*(bounded_inspect(cid) for cid in unknown))
        fresh = {cid: target for cid, target in inspected if target is not None}
        for cid in retry:
            if cid not in fresh:
                _cgroup_targets.pop((url, cid), None)
        for cid, figures in (await read_in_thread(list(fresh.items()))).items():
            if figures is None:
                _cgroup_targets[(url, cid)] = CgroupTarget(None)  # stats from now on
            else:
                _cgroup_targets[(url, cid)] = fresh[cid]
                read[cid] = figures

    async def one(summary: dict[str, Any]) -> tuple[ContainerSample, CpuReading | None] | None:
        nonlocal in_flight, peak
        async with limit:
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                stats = await engine.stats_one_shot(
                    str(summary["Id"]), pool_size=max(16, concurrency)
                )
            except Exception:
                return None
            finally:
                in_flight -= 1
        key = (url, str(summary["Id"]))
        try:
            return container_sample(summary, stats, _previous_cpu.get(key))
        except (KeyError, TypeError, ValueError):
            return None

    slow = [summary for cid, summary in by_id.items() if cid not in read]
    results = await asyncio.gather(*(one(s) for s in slow))
    samples: dict[str, ContainerSample] = {}
    seen: set[tuple[str, str]] = set()
    for cid, figures in read.items():
        key = (url, cid)
        samples[cid] = cgroup_container_sample(by_id[cid], figures, _previous_cgroup.get(key))
        _previous_cgroup[key] = figures
    for result in results:
        if result is None:
            continue
        sample, reading = result
        key = (url, sample.container_id)
        seen.add(key)
        if reading is not None:
            _previous_cpu[key] = reading
        samples[sample.container_id] = sample
    containers = [samples[cid] for cid in by_id if cid in samples]  # the engine's order
    for key in [k for k in _previous_cpu if k[0] == url and k not in seen]:
        del _previous_cpu[key]
    for key in [k for k in _previous_cgroup if k[0] == url and k[1] not in read]:
        del _previous_cgroup[key]
    for key in [k for k in _cgroup_targets if k[0] == url and k[1] not in by_id]:
        del _cgroup_targets[key]
    host = await host_task
    last_sweep.clear()
    last_sweep.update(
        seconds=time.perf_counter() - started,
        containers=len(containers),
        max_in_flight=peak,
        cgroup_containers=len(read),
        stats_containers=len(slow),
        inspects=inspects,
    )
    return MetricsSample(taken_at=taken_at, host=host, containers=containers)
