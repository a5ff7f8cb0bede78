"""Server under 200 simulated agents: CPU, RSS and API latency while they report metrics.

Creates BENCH_AGENTS (200) nodes through the API, enrolls each (`POST
/api/v1/agent/enroll`), and connects one simulated agent per node from this process
(asyncio + websockets, the messages of `dockyard.agent.protocol`): hello, an empty
`state`, a heartbeat every `welcome.heartbeat_s`, and every BENCH_METRICS_S (5 s) a
`metrics` message holding a MetricsSample of BENCH_SAMPLE_CONTAINERS (100) containers with
made-up but realistic figures (start times spread over the interval). A simulated agent
has no engine: it answers every `stream_open` with `stream_error`.

Measured: the server process's CPU (% of one core, every thread) and RSS (peak) during
BENCH_LOAD_S (150 s) of load, against the same at idle (the 200 nodes created, no agent
connected) and with the agents connected but sending no metrics yet (BENCH_CONNECTED_S,
20 s: the cost of the sessions alone); the p50/p95/p99 of a cheap authenticated GET
(`/api/v1/services?limit=1`, BENCH_PROBE_HZ per second) idle and under load, and the same
probe straight on the engine (`GET /containers/json`) for the house ratio; how many
samples the server stored (the SQLite rows) against how many were sent, and the server's
CPU per stored sample (what storing every sample would need, independent of the load
elsewhere on the machine) and per message sent (in all, and above the connected-only
window's CPU: on a starved machine the writer falls behind and drops samples that were
still received and parsed). Targets: CPU <= 50% of a core, RSS <= 300 MB, p99 under load
<= 2x idle.

BENCH_CPROFILE=/tmp/load.prof runs the server under cProfile and prints its top functions
(cProfile slows the server: read the CPU figures of such a run as relative).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pstats
import random
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.common import percentile
from bench.fleetkit import (
    api_client,
    describe,
    engine_client,
    enroll_sim_node,
    fleet_server,
    load,
    mib,
    raise_on_signals,
)
from bench.server_process import Server
from dockyard.agent.protocol import (
    WS_PATH,
    Ack,
    Heartbeat,
    Hello,
    Metrics,
    Rotate,
    Rotated,
    State,
    StreamError,
    StreamOpen,
    Welcome,
    encode,
    parse_server_message,
)
from dockyard.metrics.samples import ContainerSample, HostSample, MetricsSample

AGENTS = int(os.environ.get("BENCH_AGENTS", "200"))
SAMPLE_CONTAINERS = int(os.environ.get("BENCH_SAMPLE_CONTAINERS", "100"))
METRICS_S = float(os.environ.get("BENCH_METRICS_S", "5"))
IDLE_S = float(os.environ.get("BENCH_IDLE_S", "30"))
CONNECTED_S = float(os.environ.get("BENCH_CONNECTED_S", "20"))
WARMUP_S = float(os.environ.get("BENCH_WARMUP_S", "20"))
LOAD_S = float(os.environ.get("BENCH_LOAD_S", "150"))
PROBE_HZ = float(os.environ.get("BENCH_PROBE_HZ", "10"))
PROBE_URL = os.environ.get("BENCH_PROBE_URL", "/api/v1/services?limit=1")
ENGINE_HOST = os.environ.get("DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock")
CPROFILE = os.environ.get("BENCH_CPROFILE")
GIB = 1024**3


# ---------------------------------------------------------------- one simulated agent


@dataclass
class Totals:
    welcomed: int = 0
    metrics_sent: int = 0
    metrics_bytes: int = 0
    heartbeats: int = 0
    acks: int = 0
    stream_opens: int = 0
    closes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def close(self, key: str, table: dict[str, int]) -> None:
        table[key] = table.get(key, 0) + 1


class SimAgent:
    """One agent: a WebSocket, a heartbeat, a `metrics` message every METRICS_S."""

    def __init__(
        self,
        index: int,
        ws_url: str,
        credential: str,
        totals: Totals,
        metrics_on: asyncio.Event,
    ) -> None:
        self.index = index
        self.metrics_on = metrics_on
        self.ws_url = ws_url
        self.credential = credential
        self.totals = totals
        self.rng = random.Random(index)
        self.containers = [
            (secrets.token_hex(32), f"sim{index:03d}-app-{n:03d}", self.rng.randint(1, 400))
            for n in range(SAMPLE_CONTAINERS)
        ]
        self.counters = [[0, 0, 0, 0] for _ in range(SAMPLE_CONTAINERS)]
        self.host_net = [10**9, 10**9]
        self.connected = asyncio.Event()
        self.closed: str | None = None

    def sample(self) -> MetricsSample:
        rng = self.rng
        containers = []
        for (container_id, name, service_id), counters in zip(
            self.containers, self.counters, strict=True
        ):
            counters[0] += rng.randint(0, 200_000)
            counters[1] += rng.randint(0, 100_000)
            counters[2] += rng.randint(0, 50_000)
            counters[3] += rng.randint(0, 400_000)
            containers.append(
                ContainerSample(
                    container_id=container_id,
                    name=name,
                    service_id=service_id,
                    cpu_percent=round(rng.uniform(0, 8), 3),
                    memory_used_bytes=rng.randint(4, 400) * 1024 * 1024,
                    memory_limit_bytes=8 * GIB,
                    net_rx_bytes=counters[0],
                    net_tx_bytes=counters[1],
                    block_read_bytes=counters[2],
                    block_write_bytes=counters[3],
                    pids=rng.randint(1, 40),
                )
            )
        self.host_net[0] += rng.randint(10**5, 10**7)
        self.host_net[1] += rng.randint(10**5, 10**7)
        return MetricsSample(
            taken_at=datetime.now(UTC),
            host=HostSample(
                cpu_percent=round(rng.uniform(5, 60), 2),
                cpu_count=8,
                memory_used_bytes=rng.randint(4, 12) * GIB,
                memory_total_bytes=16 * GIB,
                disk_used_bytes=120 * GIB,
                disk_total_bytes=500 * GIB,
                net_rx_bytes=self.host_net[0],
                net_tx_bytes=self.host_net[1],
                load_1=round(rng.uniform(0.1, 4), 2),
                load_5=round(rng.uniform(0.1, 4), 2),
                load_15=round(rng.uniform(0.1, 4), 2),
                listening_ports=[22, 80, 443],
            ),
            containers=containers,
        )

    async def run(self, stop: asyncio.Event) -> None:
        try:
            async with connect(self.ws_url, max_size=2**22, open_timeout=60) as ws:
                await ws.send(
                    encode(
                        Hello(
                            credential=self.credential,
                            agent_version="bench-sim/1",
                            docker_host="unix:///var/run/docker.sock",
                            hostname=f"sim-{self.index:03d}",
                        )
                    )
                )
                welcome = parse_server_message(await asyncio.wait_for(ws.recv(), 30))
                if not isinstance(welcome, Welcome):
                    raise RuntimeError(f"expected welcome, got {welcome.type}")
                await ws.send(encode(State(containers=[])))
                self.totals.welcomed += 1
                self.connected.set()
                tasks = [
                    asyncio.create_task(self._reader(ws)),
                    asyncio.create_task(self._heartbeats(ws, welcome.heartbeat_s)),
                    asyncio.create_task(self._metrics(ws)),
                ]
                stopper = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait([*tasks, stopper], return_when="FIRST_COMPLETED")
                for task in [*tasks, stopper]:
                    task.cancel()
                await asyncio.gather(*tasks, stopper, return_exceptions=True)
                for task in done:
                    if task is not stopper and not task.cancelled() and task.exception():
                        raise task.exception()  # type: ignore[misc]
        except ConnectionClosed as exc:
            self.closed = (
                f"closed by the server: {exc.rcvd.code} {exc.rcvd.reason}"
                if exc.rcvd is not None
                else "connection lost without a close frame (1006)"
            )
            self.totals.close(self.closed, self.totals.closes)
        except Exception as exc:
            self.closed = f"{type(exc).__name__}: {exc}"[:120]
            self.totals.close(self.closed, self.totals.errors)
        finally:
            self.connected.set()

    async def _reader(self, ws: ClientConnection) -> None:
        async for frame in ws:
            if isinstance(frame, bytes):
                continue
            message = parse_server_message(frame)
            if isinstance(message, StreamOpen):
                self.totals.stream_opens += 1
                await ws.send(
                    encode(StreamError(id=message.id, message="simulated agent: no engine"))
                )
            elif isinstance(message, Ack):
                self.totals.acks += 1
            elif isinstance(message, Rotate):
                await ws.send(encode(Rotated(request_id=message.request_id)))
        raise ConnectionClosed(ws.protocol.close_rcvd, ws.protocol.close_sent)

    async def _heartbeats(self, ws: ClientConnection, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            await ws.send(encode(Heartbeat(sent_at=datetime.now(UTC))))
            self.totals.heartbeats += 1

    async def _metrics(self, ws: ClientConnection) -> None:
        await self.metrics_on.wait()
        # Spread the agents over the interval, as real ones started at different times.
        await asyncio.sleep(METRICS_S * self.index / max(1, AGENTS))
        next_at = time.monotonic()
        while True:
            text = encode(Metrics(sample=self.sample()))
            await ws.send(text)
            self.totals.metrics_sent += 1
            self.totals.metrics_bytes += len(text)
            next_at += METRICS_S
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


# ---------------------------------------------------------------- probes and meters


async def probe(
    api: httpx.AsyncClient, engine: httpx.AsyncClient, seconds: float
) -> tuple[list[float], list[float], int]:
    """PROBE_HZ cheap API GETs (and as many engine lists) per second: latencies, failures."""
    api_ms: list[float] = []
    engine_ms: list[float] = []
    failures = 0
    period = 1 / PROBE_HZ
    deadline = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            response = await api.get(PROBE_URL)
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            api_ms.append((time.perf_counter() - started) * 1000)
        else:
            failures += 1
        started = time.perf_counter()
        (await engine.get("/containers/json")).raise_for_status()
        engine_ms.append((time.perf_counter() - started) * 1000)
        next_at += period
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return api_ms, engine_ms, failures


async def window(
    server: Server, api: httpx.AsyncClient, engine: httpx.AsyncClient, seconds: float
) -> dict[str, Any]:
    """Probe for `seconds` while measuring the server's (and this process's) CPU and RSS."""
    me = psutil.Process()
    proc = psutil.Process(server.process.pid)
    peak = server.rss_mib()
    threads = proc.num_threads()
    stop = asyncio.Event()

    async def rss_sampler() -> None:
        nonlocal peak, threads
        while not stop.is_set():
            peak = max(peak, server.rss_mib())
            threads = max(threads, proc.num_threads())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1)

    sampler = asyncio.create_task(rss_sampler())
    cpu_before, own_before, wall_before = server.cpu_s(), me.cpu_times(), time.monotonic()
    api_ms, engine_ms, failures = await probe(api, engine, seconds)
    wall = time.monotonic() - wall_before
    cpu = server.cpu_s() - cpu_before
    own = me.cpu_times()
    stop.set()
    await sampler
    return {
        "api_ms": api_ms,
        "engine_ms": engine_ms,
        "failures": failures,
        "cpu_pct": 100 * cpu / wall,
        "cpu_s": cpu,
        "own_cpu_pct": 100
        * ((own.user + own.system) - (own_before.user + own_before.system))
        / wall,
        "rss_end": server.rss_mib(),
        "rss_peak": peak,
        "threads": threads,
        "fds": proc.num_fds(),
        "wall": wall,
        "load": load(),
    }


def stored_points(server: Server, first_node: int) -> tuple[int, int]:
    """Raw host and container metric rows of this run's nodes in the server's SQLite."""
    path = server.data_dir / "dockyard.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        hosts = db.execute(
            "SELECT count(*) FROM metric_host_points WHERE res = 0 AND node_id >= ?",
            (first_node,),
        ).fetchone()
        rows = db.execute(
            "SELECT count(*) FROM metric_container_points WHERE res = 0 AND node_id >= ?",
            (first_node,),
        ).fetchone()
        return int(hosts[0]), int(rows[0])


# ---------------------------------------------------------------- the run


async def enroll_all(server: Server, api: httpx.AsyncClient, prefix: str) -> list[tuple[int, str]]:
    """Create AGENTS nodes and enroll each: their ids and credentials."""
    slots = asyncio.Semaphore(8)
    started = time.monotonic()

    async def one(index: int) -> tuple[int, str]:
        async with slots:
            return await enroll_sim_node(api, f"{prefix}-{index:03d}", index)

    enrolled = list(await asyncio.gather(*(one(i) for i in range(AGENTS))))
    elapsed = time.monotonic() - started
    print(f"created and enrolled {AGENTS} nodes in {elapsed:.1f} s ({AGENTS / elapsed:.1f}/s)")
    return enrolled


def print_window(title: str, figures: dict[str, Any]) -> None:
    print(f"{title} ({figures['wall']:.0f} s, {figures['load']}):")
    print(f"  API GET {PROBE_URL:28s} {describe(figures['api_ms'])}")
    print(f"  engine GET /containers/json         {describe(figures['engine_ms'])}")
    if figures["failures"]:
        print(f"  API failures: {figures['failures']}")
    print(
        f"  server CPU {figures['cpu_pct']:5.1f}% of one core, RSS {figures['rss_end']:.1f} MiB"
        f" (peak {figures['rss_peak']:.1f} MiB), {figures['threads']} threads (peak),"
        f" {figures['fds']} open files; this load generator's own CPU"
        f" {figures['own_cpu_pct']:.1f}%"
    )


async def run(server: Server) -> None:
    prefix = f"bench-load-{secrets.token_hex(3)}"
    ws_url = server.base_url.replace("http://", "ws://") + WS_PATH
    api = api_client(server.base_url, server.token())
    engine = engine_client(ENGINE_HOST)
    totals = Totals()
    stop = asyncio.Event()
    metrics_on = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        enrolled = await enroll_all(server, api, prefix)
        first_node = min(node_id for node_id, _ in enrolled)
        credentials = [credential for _, credential in enrolled]
        await asyncio.sleep(3)
        idle = await window(server, api, engine, IDLE_S)
        print_window("idle: the nodes exist, no agent connected", idle)

        agents = [
            SimAgent(i, ws_url, credential, totals, metrics_on)
            for i, credential in enumerate(credentials)
        ]
        started = time.monotonic()
        for agent in agents:  # a ramp, not a thundering herd
            tasks.append(asyncio.create_task(agent.run(stop)))
            await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(*(a.connected.wait() for a in agents)), 120)
        print(
            f"{totals.welcomed} of {AGENTS} agents welcomed in"
            f" {time.monotonic() - started:.1f} s; {mib(psutil.Process().memory_info().rss)}"
            " RSS in this load generator"
        )
        connected = await window(server, api, engine, CONNECTED_S)
        print_window(f"{AGENTS} agents connected, heartbeats only (no metrics yet)", connected)
        metrics_on.set()
        sample_bytes = len(encode(Metrics(sample=agents[0].sample())))
        print(
            f"each agent sends a {sample_bytes / 1024:.0f} KiB metrics message"
            f" ({SAMPLE_CONTAINERS} containers) every {METRICS_S:g} s:"
            f" {AGENTS / METRICS_S:.0f} messages/s, {AGENTS * sample_bytes / METRICS_S / 1024:.0f}"
            f" KiB/s, {AGENTS * SAMPLE_CONTAINERS / METRICS_S:.0f} container points/s"
        )
        await asyncio.sleep(WARMUP_S)
        hosts_before, rows_before = stored_points(server, first_node)
        sent_before = totals.metrics_sent
        loaded = await window(server, api, engine, LOAD_S)
        sent = totals.metrics_sent - sent_before
        hosts_after, rows_after = stored_points(server, first_node)
        print_window(f"under load: {AGENTS} agents", loaded)
        stored_hosts, stored_rows = hosts_after - hosts_before, rows_after - rows_before
        print(
            f"  metrics during the window: {sent} messages sent; {stored_hosts} host points and"
            f" {stored_rows} container points stored"
            f" ({stored_rows / max(1, sent * SAMPLE_CONTAINERS):.0%} of those sent; a sample"
            " still queued at the window's end counts in the next one)"
        )
        if stored_hosts:
            # Machine-independent: what the server spent per stored sample (parsing, storing,
            # heartbeats and the probes included), and what the full rate would need.
            per_sample_ms = loaded["cpu_s"] * 1000 / stored_hosts
            needed = per_sample_ms * AGENTS / METRICS_S / 10
            print(
                f"  server CPU per stored sample: {per_sample_ms:.1f} ms -> {AGENTS} agents every"
                f" {METRICS_S:g} s need ~{needed:.0f}% of one core to store everything"
                " (target <= 50%)"
            )
        if sent:
            # Samples dropped by a writer that fell behind (a starved server) cost their
            # receiving and parsing too: per message sent, and above the sessions' own cost.
            above = loaded["cpu_s"] - connected["cpu_pct"] / 100 * loaded["wall"]
            print(
                f"  server CPU per metrics message sent: {loaded['cpu_s'] * 1000 / sent:.1f} ms"
                f" in all, {max(0.0, above) * 1000 / sent:.1f} ms above the cost of the"
                f" connected agents without metrics ({connected['cpu_pct']:.1f}% of a core)"
            )
        alive = sum(1 for a in agents if a.closed is None)
        print(
            f"  agents still connected: {alive}/{AGENTS}; heartbeats {totals.heartbeats},"
            f" acks {totals.acks}, stream_open answered with stream_error {totals.stream_opens}"
        )
        for reason, count in {**totals.closes, **totals.errors}.items():
            print(f"  agent connection ended x{count}: {reason}")

        print("ratios:")
        cpu_ok = loaded["cpu_pct"] <= 50
        print(
            f"  server CPU under load {loaded['cpu_pct']:.1f}% of a core"
            f" (idle {idle['cpu_pct']:.1f}%)   target <= 50%   {'ok' if cpu_ok else 'OVER'}"
        )
        rss_ok = loaded["rss_peak"] * 1024 * 1024 <= 300e6
        print(
            f"  server RSS peak {loaded['rss_peak']:.1f} MiB (idle {idle['rss_peak']:.1f} MiB,"
            f" agents connected without metrics {connected['rss_peak']:.1f} MiB)"
            f"   target <= 300 MB   {'ok' if rss_ok else 'OVER'}"
        )
        p99_ratio = percentile(loaded["api_ms"], 99) / percentile(idle["api_ms"], 99)
        print(
            f"  API p99 under load / idle: {p99_ratio:.2f}x"
            f" (p50 {percentile(loaded['api_ms'], 50) / percentile(idle['api_ms'], 50):.2f}x)"
            f"   target <= 2x   {'ok' if p99_ratio <= 2 else 'OVER'}"
        )
        for name, figures in (("idle", idle), ("load", loaded)):
            print(
                f"  API p99 / engine GET /containers/json p99 ({name}):"
                f" {percentile(figures['api_ms'], 99) / percentile(figures['engine_ms'], 99):.2f}x"
            )
        engine_ratio = percentile(loaded["engine_ms"], 99) / percentile(idle["engine_ms"], 99)
        print(
            f"  engine p99 under load / idle: {engine_ratio:.2f}x (the machine's own noise;"
            " the engine is not part of the load)"
        )
        started = time.monotonic()
        listed = await api.get("/api/v1/nodes", params={"limit": 500})
        online = sum(1 for n in listed.json().get("items", []) if n.get("status") == "online")
        print(
            f"GET /api/v1/nodes?limit=500 with {AGENTS} agent nodes: {listed.status_code} in"
            f" {(time.monotonic() - started) * 1000:.0f} ms, {online} online"
            " (engine facts of a simulated agent fail: it has no engine)"
        )
    finally:
        stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        await api.aclose()
        await engine.aclose()


def print_profile(path: str) -> None:
    if not os.path.exists(path):
        print(f"no profile at {path} (the server did not exit cleanly)")
        return
    print(f"cProfile of the server ({path}), top 25 by cumulative time:")
    pstats.Stats(path).strip_dirs().sort_stats("cumulative").print_stats(25)
    print("top 25 by own time:")
    pstats.Stats(path).strip_dirs().sort_stats("tottime").print_stats(25)


def main() -> None:
    raise_on_signals()
    print(
        f"== fleet load: {AGENTS} simulated agents, {SAMPLE_CONTAINERS}-container metrics"
        f" every {METRICS_S:g} s =="
    )
    print(load())
    with fleet_server(cprofile=CPROFILE) as server:
        asyncio.run(run(server))
    if CPROFILE:
        print_profile(CPROFILE)
    print(f"at the end: {load()}")


if __name__ == "__main__":
    main()
