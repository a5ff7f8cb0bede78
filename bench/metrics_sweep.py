"""Stats sweep: `collect_sample` over 100 running containers, cgroup fast path vs stats.

Starts BENCH_METRICS_CONTAINERS (default 100) busybox `sleep` containers (label
`io.dockyard.test=1`, no network), then, in one run:

1. the cgroup fast path (`dockyard.metrics.cgroups`: the engine is on this host): one cold
   sweep (every container's main PID looked up with an inspect) and BENCH_METRICS_ROUNDS
   (default 3) warm sweeps of `collect_sample` (concurrency 8), counting the engine requests
   in flight, inspects and stats together (**target: ≤ 1 s per sweep, ≤ 10 in flight**);
2. the stats path: the same `collect_sample` with the cgroup reader pointed at an empty
   tree, so every container goes through one-shot stats (BENCH_METRICS_STATS_ROUNDS,
   default 1), and once with every request in flight at once;
3. the direct Docker Engine API on the socket (httpx, same concurrency): the container list
   alone, the 100 inspects of a cold sweep, and the 100 one-shot stats of the stats path;
4. the naive `GET /containers/{id}/stats?stream=false` (no one-shot: the engine waits
   for a second reading) on BENCH_METRICS_NAIVE (default 3) containers, sequentially, and
   extrapolates to the whole sweep.

Removes every container it created at the end (also on Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import httpx

from bench.common import DOCKER_SOCKET, IMAGE, environment, raise_on_sigterm, run_prefix
from dockyard.engine.adapter import DockerEngine
from dockyard.metrics import collector
from dockyard.metrics.cgroups import CgroupReader

COUNT = int(os.environ.get("BENCH_METRICS_CONTAINERS", "100"))
ROUNDS = int(os.environ.get("BENCH_METRICS_ROUNDS", "3"))
STATS_ROUNDS = int(os.environ.get("BENCH_METRICS_STATS_ROUNDS", "1"))
NAIVE = int(os.environ.get("BENCH_METRICS_NAIVE", "3"))
CONCURRENCY = 8
DOCKER_HOST = os.environ.get("DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock")
TARGET_S = 1.0
MAX_IN_FLIGHT = 10


def start_containers(client: docker.DockerClient, prefix: str) -> list[str]:
    def one(i: int) -> str:
        container = client.containers.run(
            IMAGE,
            ["sleep", "86400"],
            name=f"{prefix}-{i}",
            labels={"io.dockyard.test": "1", "io.dockyard.bench": prefix},
            network_mode="none",
            detach=True,
        )
        return str(container.id)

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(COUNT)))


def remove_containers(client: docker.DockerClient, prefix: str) -> int:
    found = client.containers.list(all=True, filters={"label": f"io.dockyard.bench={prefix}"})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: c.remove(force=True), found))
    return len(found)


class Counting:
    """Wraps `DockerEngine.stats_one_shot` and `inspect_container` to count the engine
    requests a sweep has in flight (both kinds together)."""

    def __init__(self, engine: DockerEngine) -> None:
        self.in_flight = 0
        self.peak = 0
        self.stats_calls = 0
        self.inspects = 0
        stats = engine.stats_one_shot
        inspect = engine.inspect_container

        async def counted_stats(container: str, *, pool_size: int = 16) -> dict[str, Any]:
            self.stats_calls += 1
            with self.request():
                return await stats(container, pool_size=pool_size)

        async def counted_inspect(container: str) -> dict[str, Any]:
            self.inspects += 1
            with self.request():
                return await inspect(container)

        engine.stats_one_shot = counted_stats  # type: ignore[method-assign]
        engine.inspect_container = counted_inspect  # type: ignore[method-assign]

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1

    def reset(self) -> None:
        self.peak = self.stats_calls = self.inspects = 0


def docker_socket_client() -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(uds=DOCKER_SOCKET)
    return httpx.AsyncClient(transport=transport, base_url="http://docker", timeout=60)


async def direct_sweep(ids: list[str], path: str, params: dict[str, str]) -> float:
    """The container list, then `path` (with `{id}`) for every container, straight on the
    socket (httpx), same concurrency; seconds."""
    limit = asyncio.Semaphore(CONCURRENCY)
    async with docker_socket_client() as engine:

        async def one(cid: str) -> None:
            async with limit:
                response = await engine.get(path.format(id=cid), params=params)
                response.raise_for_status()

        await engine.get("/containers/json")  # connect, warm up
        started = time.perf_counter()
        await engine.get("/containers/json")
        await asyncio.gather(*(one(cid) for cid in ids))
        return time.perf_counter() - started


async def direct_list() -> float:
    async with docker_socket_client() as engine:
        await engine.get("/containers/json")
        times = []
        for _ in range(5):
            started = time.perf_counter()
            (await engine.get("/containers/json")).raise_for_status()
            times.append(time.perf_counter() - started)
        return statistics.median(times)


async def naive(ids: list[str]) -> list[float]:
    async with docker_socket_client() as engine:
        times = []
        for cid in ids[:NAIVE]:
            started = time.perf_counter()
            response = await engine.get(f"/containers/{cid}/stats", params={"stream": "false"})
            response.raise_for_status()
            times.append(time.perf_counter() - started)
        return times


async def timed_sweep(engine: DockerEngine, concurrency: int = CONCURRENCY) -> float:
    started = time.perf_counter()
    await collector.collect_sample(engine, concurrency=concurrency)
    return time.perf_counter() - started


async def measure(ids: list[str]) -> None:
    engine = DockerEngine(DOCKER_HOST)
    counting = Counting(engine)
    fast_reader = collector.cgroup_reader
    try:
        # 1. The cgroup fast path: a cold sweep (inspects), then warm ones.
        await engine.list_containers(all=False)  # connect
        cold = await timed_sweep(engine)
        cold_peak, cold_inspects = counting.peak, counting.inspects
        cold_split = dict(collector.last_sweep)
        counting.reset()
        fast = [await timed_sweep(engine) for _ in range(ROUNDS)]
        fast_peak, fast_requests = counting.peak, counting.inspects + counting.stats_calls
        fast_split = dict(collector.last_sweep)
        swept = await collector.collect_sample(engine, concurrency=CONCURRENCY)
        mine = len({c.container_id for c in swept.containers} & set(ids))
        # 2. The stats path: the cgroup reader sees no cgroup file system.
        with tempfile.TemporaryDirectory() as empty:
            collector.cgroup_reader = CgroupReader(empty, empty)
            counting.reset()
            await timed_sweep(engine)  # previous CPU readings for the stats path
            stats = [await timed_sweep(engine) for _ in range(STATS_ROUNDS)]
            stats_peak, stats_split = counting.peak, dict(collector.last_sweep)
            counting.reset()
            all_at_once = await timed_sweep(engine, max(COUNT, CONCURRENCY))
            wide_peak = counting.peak
        # 3. The engine's API directly.
        listing = await direct_list()
        direct_inspects = statistics.median(
            [await direct_sweep(ids, "/containers/{id}/json", {}) for _ in range(ROUNDS)]
        )
        direct_stats = await direct_sweep(
            ids, "/containers/{id}/stats", {"stream": "false", "one-shot": "true"}
        )
        # 4. The naive stats call.
        slow = await naive(ids)
    finally:
        collector.cgroup_reader = fast_reader
        await engine.close()
    containers = int(fast_split.get("containers", 0))
    fast_median, stats_median = statistics.median(fast), statistics.median(stats)
    naive_each = statistics.median(slow)
    ok = fast_median <= TARGET_S and cold <= TARGET_S and max(cold_peak, fast_peak) <= MAX_IN_FLIGHT
    print(
        f"containers swept: {containers} ({mine} of this run's {COUNT}); "
        f"cgroup reads {int(fast_split.get('cgroup_containers', 0))}, "
        f"stats fallbacks {int(fast_split.get('stats_containers', 0))}"
    )
    print(
        f"cgroup fast path, collect_sample concurrency {CONCURRENCY}: warm median "
        f"{fast_median:.3f} s (best {min(fast):.3f}, worst {max(fast):.3f}, {ROUNDS} rounds, "
        f"{fast_requests} engine requests besides the list); cold (first) sweep {cold:.3f} s with "
        f"{cold_inspects} inspects, {int(cold_split.get('stats_containers', 0))} stats fallbacks; "
        f"target <= {TARGET_S:.1f} s: {'OK' if ok else 'MISSED'}"
    )
    print(
        f"engine requests in flight: cold {cold_peak}, warm {fast_peak} "
        f"(target <= {MAX_IN_FLIGHT}): "
        f"{'OK' if max(cold_peak, fast_peak) <= MAX_IN_FLIGHT else 'MISSED'}"
    )
    print(
        f"stats path (cgroups unreadable), concurrency {CONCURRENCY}: median "
        f"{stats_median:.3f} s ({int(stats_split.get('stats_containers', 0))} one-shot stats, "
        f"{stats_peak} in flight); with every request in flight ({wide_peak}): "
        f"{all_at_once:.3f} s (the engine's 1 s stats tick bounds it to ~ceil(N / in flight) s)"
    )
    print(
        f"ratios: stats path / cgroup fast path (warm) {stats_median / fast_median:.1f}x, "
        f"(cold) {stats_median / cold:.1f}x"
    )
    print(
        f"direct engine API (httpx on the socket, concurrency {CONCURRENCY}): container list "
        f"{listing * 1000:.1f} ms; list + {COUNT} inspects {direct_inspects:.3f} s; "
        f"list + {COUNT} one-shot stats {direct_stats:.3f} s"
    )
    print(
        f"ratios: cold sweep / direct list + inspects {cold / direct_inspects:.2f}x; "
        f"warm sweep / direct list {fast_median / listing:.1f}x; "
        f"stats-path sweep / direct one-shot stats {stats_median / direct_stats:.2f}x; "
        f"direct one-shot stats / warm sweep {direct_stats / fast_median:.1f}x"
    )
    print(
        f"naive stats?stream=false (no one-shot): {naive_each:.3f} s per container "
        f"(n={len(slow)}); {containers} containers sequentially ~"
        f"{naive_each * containers:.1f} s; the warm cgroup sweep is "
        f"{naive_each * containers / fast_median:.0f}x faster"
    )


def main() -> None:
    raise_on_sigterm()
    prefix = run_prefix("metrics")
    client = docker.DockerClient(base_url=DOCKER_HOST, timeout=120)
    print(f"# metrics_sweep ({environment()})")
    try:
        started = time.perf_counter()
        ids = start_containers(client, prefix)
        print(f"started {len(ids)} containers in {time.perf_counter() - started:.1f} s")
        asyncio.run(measure(ids))
    finally:
        removed = remove_containers(client, prefix)
        print(f"removed {removed} containers; load average {os.getloadavg()[0]:.2f}")
        client.close()


if __name__ == "__main__":
    main()
