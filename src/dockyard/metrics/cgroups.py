"""Container figures straight from the kernel's cgroup files (the collector's fast path).

Docker answers a one-shot stats request only at the next tick of its once-a-second stats
collector, so a sweep through the stats endpoint costs about N / (requests in flight)
seconds. When the collector runs on the engine's own host (the server's local node over a
Unix socket, and every agent) the same figures are in the cgroup files, readable in
microseconds. This module reads them; the collector falls back to one-shot stats for any
container it cannot read here (a remote engine, no permission, an unknown layout, a
container in another cgroup or PID namespace).

A container is found by its main PID (`State.Pid` of the engine's inspect) through
`/proc/<pid>/cgroup`, which works for any cgroup driver and cgroup parent and for several
engines on one host. The path found must name the container id (both the `cgroupfs` and the
`systemd` drivers put it there) and hold no `..` (a reader in another cgroup namespace sees
such paths): otherwise the PID belongs to something else (a PID from another host or PID
namespace) and the reader refuses. When `/proc/<pid>/cgroup` is not readable, the usual
places (`docker/<id>`, `system.slice/docker-<id>.scope`) are tried.

cgroup v2 (unified: `cgroup.controllers` at the root) and v1 (one hierarchy per controller
under the root, as `cpuacct`, `memory`, `blkio`, `pids`, possibly joined as
`cpu,cpuacct`) are both read. CPU and memory files are required; block I/O, pids and
network read as 0 when their files are absent, as the stats endpoint reports them then.

Imported by the agent: standard library only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

DEFAULT_ROOT = "/sys/fs/cgroup"
DEFAULT_PROC = "/proc"
V1_CONTROLLERS = ("cpuacct", "memory", "blkio", "pids")


@dataclass(frozen=True)
class CgroupFigures:
    """One container's cumulative figures at one reading."""

    cpu_usage_ns: int
    read_at_ns: int  # time.monotonic_ns() when the CPU counter was read
    memory_used_bytes: int
    memory_limit_bytes: int
    block_read_bytes: int
    block_write_bytes: int
    pids: int
    net_rx_bytes: int
    net_tx_bytes: int


def host_memory_bytes() -> int:
    """Physical memory of this host (the limit of a container without one)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (OSError, ValueError, AttributeError):
        return 0


def _read(path: str) -> str:
    # Raw os.read, not open(): a sweep reads ~10 small files per container, and the
    # buffered text layer costs more than the read itself.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("ascii", "replace")


def _read_int(path: str) -> int:
    return int(_read(path).strip())


def _key_values(path: str) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat)."""
    values: dict[str, int] = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            values[parts[0]] = int(parts[1])
    return values


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """`/proc/<pid>/cgroup` as controller -> path; the unified (v2) entry is under `""`."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            paths[""] = path
            continue
        for name in controllers.split(","):
            paths[name.removeprefix("name=")] = path
        paths[controllers] = path  # the joined name, as some hosts mount it (cpu,cpuacct)
    return paths


def parse_net_dev(text: str) -> tuple[int, int]:
    """Received and sent bytes of every interface but loopback (`/proc/<pid>/net/dev`)."""
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep or name.strip() == "lo":
            continue
        fields = rest.split()
        if len(fields) >= 9:
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def parse_blkio_v1(text: str) -> tuple[int, int]:
    """Read and Write byte totals over all devices (`blkio.throttle.io_service_bytes`)."""
    read = write = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[2].isdigit():
            continue
        op = parts[1].lower()
        if op == "read":
            read += int(parts[2])
        elif op == "write":
            write += int(parts[2])
    return read, write


def parse_io_stat_v2(text: str) -> tuple[int, int]:
    """rbytes and wbytes over all devices (`io.stat`)."""
    read = write = 0
    for line in text.splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition("=")
            if not value.isdigit():
                continue
            if key == "rbytes":
                read += int(value)
            elif key == "wbytes":
                write += int(value)
    return read, write


def _usable(path: str, container_id: str) -> bool:
    return container_id in path and ".." not in path.split("/")


class CgroupReader:
    """Reads containers' cgroup files under `root`, their processes under `proc`."""

    def __init__(
        self,
        root: str = DEFAULT_ROOT,
        proc: str = DEFAULT_PROC,
        *,
        host_memory: int | None = None,
    ) -> None:
        self.root = root
        self.proc = proc
        self.host_memory = host_memory_bytes() if host_memory is None else host_memory
        self._version: int | None = None

    def version(self) -> int:
        """2 (unified), 1 (a hierarchy per controller) or 0 (none found), looked up once."""
        if self._version is None:
            if os.path.exists(os.path.join(self.root, "cgroup.controllers")):
                self._version = 2
            elif any(
                os.path.isdir(os.path.join(self.root, name)) for name in ("cpuacct", "memory")
            ):
                self._version = 1
            else:
                self._version = 0
        return self._version

    def available(self) -> bool:
        return self.version() != 0

    # ---- locating ----------------------------------------------------------------------------

    def _proc_paths(self, pid: int) -> dict[str, str] | None:
        if pid <= 0:
            return None
        try:
            return parse_proc_cgroup(_read(os.path.join(self.proc, str(pid), "cgroup")))
        except (OSError, ValueError):
            return None

    def _dir(self, hierarchy: str, path: str) -> str:
        return os.path.join(self.root, hierarchy, path.lstrip("/"))

    def _found(self, found: dict[str, str]) -> dict[str, str] | None:
        return found if {"cpuacct", "memory"} <= found.keys() else None

    def locate(self, container_id: str, pid: int) -> dict[str, str] | None:
        """Controller -> directory of the container's cgroup (v2: one directory under `""`)."""
        version = self.version()
        if version == 0 or not container_id:
            return None
        paths = self._proc_paths(pid)
        found: dict[str, str] = {}
        if paths is not None:
            if version == 2:
                path = paths.get("")
                if path is None or not _usable(path, container_id):
                    return None
                directory = self._dir("", path)
                return {"": directory} if os.path.isdir(directory) else None
            for name in V1_CONTROLLERS:
                path = paths.get(name)
                if path is None:
                    continue
                if not _usable(path, container_id):
                    return None
                joined = sorted(k for k in paths if "," in k and name in k.split(","))
                for hierarchy in (name, *joined):
                    directory = self._dir(hierarchy, path)
                    if os.path.isdir(directory):
                        found[name] = directory
                        break
            return self._found(found)
        # /proc not readable for this PID: the usual places.
        candidates = (f"docker/{container_id}", f"system.slice/docker-{container_id}.scope")
        if version == 2:
            for candidate in candidates:
                directory = self._dir("", candidate)
                if os.path.isdir(directory):
                    return {"": directory}
            return None
        for name in V1_CONTROLLERS:
            hierarchies = (name, "cpu,cpuacct") if name == "cpuacct" else (name,)
            for hierarchy in hierarchies:
                for candidate in candidates:
                    directory = self._dir(hierarchy, candidate)
                    if os.path.isdir(directory):
                        found.setdefault(name, directory)
        return self._found(found)

    # ---- reading -----------------------------------------------------------------------------

    def _limit(self, raw: str) -> int:
        raw = raw.strip()
        limit = self.host_memory if raw == "max" else int(raw)
        if self.host_memory and (limit <= 0 or limit > self.host_memory):
            return self.host_memory  # "unlimited" (v1: a huge number): the host, like Docker
        return limit

    def _read_v2(self, directory: str) -> tuple[int, int, int, int, int, int, int]:
        cpu = _key_values(os.path.join(directory, "cpu.stat"))["usage_usec"] * 1000
        read_at = time.monotonic_ns()
        current = _read_int(os.path.join(directory, "memory.current"))
        inactive = _key_values(os.path.join(directory, "memory.stat")).get("inactive_file", 0)
        used = current - inactive if 0 <= inactive < current else current
        limit = self._limit(_read(os.path.join(directory, "memory.max")))
        try:
            block_read, block_write = parse_io_stat_v2(_read(os.path.join(directory, "io.stat")))
        except OSError:
            block_read = block_write = 0
        try:
            pids = _read_int(os.path.join(directory, "pids.current"))
        except OSError:
            pids = 0
        return cpu, read_at, used, limit, block_read, block_write, pids

    def _read_v1(self, dirs: dict[str, str]) -> tuple[int, int, int, int, int, int, int]:
        cpu = _read_int(os.path.join(dirs["cpuacct"], "cpuacct.usage"))
        read_at = time.monotonic_ns()
        memory = dirs["memory"]
        usage = _read_int(os.path.join(memory, "memory.usage_in_bytes"))
        inactive = _key_values(os.path.join(memory, "memory.stat")).get("total_inactive_file", 0)
        used = usage - inactive if 0 <= inactive < usage else usage
        limit = self._limit(_read(os.path.join(memory, "memory.limit_in_bytes")))
        block_read = block_write = 0
        if "blkio" in dirs:
            for name in (
                "blkio.throttle.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes",
            ):
                try:
                    block_read, block_write = parse_blkio_v1(
                        _read(os.path.join(dirs["blkio"], name))
                    )
                    break
                except OSError:
                    continue
        pids = 0
        if "pids" in dirs:
            try:
                pids = _read_int(os.path.join(dirs["pids"], "pids.current"))
            except OSError:
                pids = 0
        return cpu, read_at, used, limit, block_read, block_write, pids

    def read(self, container_id: str, pid: int, *, network: bool = True) -> CgroupFigures | None:
        """The container's figures now, or None when they cannot be read here.

        `network=False` (host network or another container's): network counters are 0, as
        the stats endpoint reports them; otherwise they come from `/proc/<pid>/net/dev`
        and their absence makes the whole reading fail (the caller falls back).
        """
        dirs = self.locate(container_id, pid)
        if dirs is None:
            return None
        try:
            figures = self._read_v2(dirs[""]) if "" in dirs else self._read_v1(dirs)
            rx = tx = 0
            if network:
                rx, tx = parse_net_dev(_read(os.path.join(self.proc, str(pid), "net", "dev")))
        except (OSError, ValueError, KeyError):
            return None
        cpu, read_at, used, limit, block_read, block_write, pids = figures
        return CgroupFigures(
            cpu_usage_ns=cpu,
            read_at_ns=read_at,
            memory_used_bytes=used,
            memory_limit_bytes=limit,
            block_read_bytes=block_read,
            block_write_bytes=block_write,
            pids=pids,
            net_rx_bytes=rx,
            net_tx_bytes=tx,
        )


def cpu_percent(current: CgroupFigures, previous: CgroupFigures | None) -> float:
    """Share of one core x 100 between two readings (0 without a previous one)."""
    if previous is None:
        return 0.0
    usage = current.cpu_usage_ns - previous.cpu_usage_ns
    wall = current.read_at_ns - previous.read_at_ns
    if usage <= 0 or wall <= 0:
        return 0.0
    return round(usage / wall * 100.0, 3)
