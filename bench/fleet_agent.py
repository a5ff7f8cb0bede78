"""Agent footprint: RSS and idle CPU of a real `dockyard agent` with 200 containers.

Starts BENCH_CONTAINERS (200) busybox `sleep 3600` containers (no network) straight on
node3's engine (DOCKYARD_TEST_NODE3_DOCKER_HOST), a `dockyard serve` (own data dir,
SQLite), creates a node through the API and runs a real `dockyard agent` process for
node3 with that node's enrollment token. Metrics collection runs at the server's default
interval (`welcome.metrics_interval_s`, 10 s: a one-shot stats sweep of every running
container). After BENCH_SETTLE_S (30 s) it measures over BENCH_IDLE_S (60 s) the agent's
CPU time (all threads, % of one core) and RSS; the RSS peak covers the whole run
(enrollment, the first `state` of 200 containers, every sweep). Targets: RSS <= 60 MB,
idle CPU <= 0.5% of a core.

House ratio: the agent's CPU per metrics interval against the time of one direct `GET
/containers/json` on node3's socket, measured in the same run. Every container is removed
at the end, also after a failure, Ctrl-C or SIGTERM (label io.dockyard.bench=<run>).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.common import percentile
from bench.fleetkit import (
    NODE3_HOST,
    Meter,
    agent_process,
    api_client,
    create_node,
    describe,
    engine_client,
    engine_list_ms,
    load,
    main_on_node3,
    mib,
    start_sleepers,
    wait_node_status,
)
from bench.server_process import Server

CONTAINERS = int(os.environ.get("BENCH_CONTAINERS", "200"))
SETTLE_S = float(os.environ.get("BENCH_SETTLE_S", "30"))
IDLE_S = float(os.environ.get("BENCH_IDLE_S", "60"))
RSS_TARGET = 60 * 1000 * 1000
CPU_TARGET = 0.5
INTERVAL_S = 10.0  # the server's default metrics interval (welcome.metrics_interval_s)
SWEEP_CONCURRENCY = 8  # the collector's default


def stored_samples(server: Server, node_id: int) -> tuple[int, int]:
    """(host samples, container points of the newest one) stored for the node."""
    path = server.data_dir / "dockyard.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        hosts = db.execute(
            "SELECT count(*), max(ts) FROM metric_host_points WHERE node_id = ? AND res = 0",
            (node_id,),
        ).fetchone()
        if not hosts[0]:
            return 0, 0
        points = db.execute(
            "SELECT count(*) FROM metric_container_points WHERE node_id = ? AND res = 0 AND ts = ?",
            (node_id, hosts[1]),
        ).fetchone()
        return int(hosts[0]), int(points[0])


def sample_spacing(server: Server, node_id: int) -> list[int]:
    """Seconds between the node's stored samples (the agent's effective metrics period)."""
    path = server.data_dir / "dockyard.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        stamps = [
            int(row[0])
            for row in db.execute(
                "SELECT ts FROM metric_host_points WHERE node_id = ? AND res = 0 ORDER BY ts",
                (node_id,),
            )
        ]
    return [b - a for a, b in itertools.pairwise(stamps)]


async def direct_sweep_s(engine: httpx.AsyncClient, ids: list[str]) -> float:
    """One-shot stats of every container straight on the engine, SWEEP_CONCURRENCY in flight
    (a baseline for the agent's sweep; on Docker 20.10 its time varies a lot, see README)."""
    slots = asyncio.Semaphore(SWEEP_CONCURRENCY)

    async def one(container_id: str) -> None:
        async with slots:
            response = await engine.get(
                f"/containers/{container_id}/stats", params={"stream": "false", "one-shot": "true"}
            )
            response.raise_for_status()

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in ids))
    return time.monotonic() - started


def loaded_packages(pid: int) -> str:
    """Site-packages with native code mapped into the agent (shows a heavy import)."""
    found: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "site-packages/" in path and path.endswith(".so"):
                found[path.split("site-packages/", 1)[1].split("/", 1)[0]] += 1
    return ", ".join(sorted(found)) or "(none)"


async def run(server: Server, run_id: str) -> None:
    engine = engine_client(NODE3_HOST)
    api = api_client(server.base_url, server.token())
    try:
        before = len((await engine.get("/containers/json", params={"all": 1})).json())
        started = time.monotonic()
        ids = await start_sleepers(engine, run_id, CONTAINERS)
        running = len((await engine.get("/containers/json")).json())
        print(
            f"started {CONTAINERS} containers on the engine in {time.monotonic() - started:.1f} s"
            f" ({before} were there before; {running} running now)"
        )
        node_id, token = await create_node(api, f"{run_id}-node3")
        with agent_process(server.base_url, token, NODE3_HOST) as agent:
            meter = Meter(agent.process.pid, interval_s=0.25).start()
            try:
                started = time.monotonic()
                try:
                    node = await wait_node_status(api, node_id, "online", timeout_s=90)
                except TimeoutError:
                    print(f"the agent did not come online; its log:\n{agent.tail()}")
                    raise
                print(
                    f"agent online after {time.monotonic() - started:.1f} s (version"
                    f" {node['agent']['version']}); engine facts through the tunnel:"
                    f" reachable={node['engine'].get('reachable')},"
                    f" containers={node['engine'].get('containers')}"
                )
                await asyncio.sleep(SETTLE_S)
                hosts, points = stored_samples(server, node_id)
                print(
                    f"after {SETTLE_S:.0f} s: {hosts} metrics samples stored for the node, the"
                    f" newest with {points} container points; agent RSS {mib(meter.rss())}"
                )
                cpu_before, wall_before = meter.cpu_s(), time.monotonic()
                rss_during: list[int] = []
                while time.monotonic() - wall_before < IDLE_S:
                    await asyncio.sleep(1)
                    rss_during.append(meter.rss())
                wall = time.monotonic() - wall_before
                cpu = meter.cpu_s() - cpu_before
                hosts_after, points = stored_samples(server, node_id)
                status = (await api.get(f"/api/v1/nodes/{node_id}")).json()["status"]
                sweeps = hosts_after - hosts
                spacing = sample_spacing(server, node_id)
                native = loaded_packages(agent.process.pid)
            finally:
                meter.stop()
            if agent.process.poll() is not None:
                print(f"the agent exited ({agent.process.returncode}); its log:\n{agent.tail()}")
        cpu_pct = 100 * cpu / wall
        engine_ms = await engine_list_ms(engine)
        list_all_ms = []
        for _ in range(10):
            t0 = time.perf_counter()
            (await engine.get("/containers/json", params={"all": 1})).raise_for_status()
            list_all_ms.append((time.perf_counter() - t0) * 1000)
        peak = max(meter.peak_rss, *rss_during)
        print(
            f"idle window {wall:.0f} s ({load()}): node {status}, {sweeps} metrics samples"
            f" stored (the newest with {points} container points)"
        )
        print(
            f"agent RSS: {mib(min(rss_during))} .. {mib(max(rss_during))} in the window,"
            f" peak over the run {mib(peak)}   target <= 60 MB"
            f"   {'ok' if peak <= RSS_TARGET else 'OVER'}"
        )
        print(
            f"agent CPU: {cpu:.2f} s in {wall:.0f} s = {cpu_pct:.2f}% of one core   target <= 0.5%"
            f"   {'ok' if cpu_pct <= CPU_TARGET else 'OVER'}"
        )
        print(
            f"seconds between the stored samples: {spacing or '(fewer than 2 samples)'}"
            " (the metrics interval plus the sweep's own time)"
        )
        print(f"native packages mapped into the agent: {native}")
        print(f"engine GET /containers/json ({running} running)        {describe(engine_ms)}")
        print(f"engine GET /containers/json?all=1                    {describe(list_all_ms)}")
        per_interval_ms = cpu * 1000 / wall * INTERVAL_S
        print(
            f"ratio: agent CPU per {INTERVAL_S:.0f} s of idle {per_interval_ms:.0f} ms"
            f" = {per_interval_ms / percentile(engine_ms, 50):.1f}x one direct"
            f" GET /containers/json (p50 {percentile(engine_ms, 50):.1f} ms)"
        )
        sweep_s = await direct_sweep_s(engine, ids)
        print(
            f"direct one-shot stats of the {len(ids)} containers, {SWEEP_CONCURRENCY} in flight:"
            f" {sweep_s:.1f} s (httpx straight on the socket; see bench/README.md)"
        )
        if spacing:
            agent_sweep_s = sum(spacing) / len(spacing) - INTERVAL_S
            print(
                f"ratio: the agent's sweep (sample spacing - {INTERVAL_S:.0f} s interval)"
                f" ~{agent_sweep_s:.1f} s = {agent_sweep_s / sweep_s:.2f}x the direct sweep"
            )
        if sweeps:
            per_sweep = cpu / sweeps
            at_interval = 100 * per_sweep / INTERVAL_S
            print(
                f"agent CPU per sample (the window's CPU / its samples): <= {per_sweep * 1000:.0f}"
                f" ms; one sample every {INTERVAL_S:.0f} s would cost <= {at_interval:.2f}% of a"
                " core"
            )
    finally:
        await api.aclose()
        await engine.aclose()


def main() -> None:
    main_on_node3(f"agent footprint: {CONTAINERS} containers", "bench-agent", run)


if __name__ == "__main__":
    main()
