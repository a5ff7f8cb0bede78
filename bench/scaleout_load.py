"""Two replicas under load: BENCH_AGENTS (200) simulated agents and BENCH_SOCKETS (500)
browser WebSockets, spread over both, for `--duration` seconds (default 120).

A scale-out set (bench/replicas.py: two `dockyard serve` on PostgreSQL + Redis). Agents
(the simulated agent of bench/fleet_load.py: hello, heartbeats, a metrics sample of
BENCH_SAMPLE_CONTAINERS containers every BENCH_METRICS_S) are enrolled through the API and
connect to replica `i % 2`; browser sockets (ticket, then `/api/v1/ws`) alternate too.
During the run a client probes `GET /api/v1/services?limit=1` on both replicas in turn
(BENCH_PROBE_HZ, default 10/s), and every 5 s a service is created through one replica or
the other: each `service.status` event must reach every browser socket, on both replicas
(over the Redis event bridge). Each replica's RSS is sampled every 2 s.

Reported: errors (API non-2xx and transport errors, sockets closed early, events a socket
missed, agents disconnected), API p50/p99, each replica's RSS over time. `run_load()` is
what tests/integration/scaleout/test_load.py asserts on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect

from bench.common import percentile
from bench.fleet_load import SimAgent, Totals
from bench.fleetkit import describe, enroll_sim_node, load, raise_on_signals
from bench.replicas import Replica, ReplicaSet, replica_set
from dockyard.agent.protocol import WS_PATH

AGENTS = int(os.environ.get("BENCH_AGENTS", "200"))
SOCKETS = int(os.environ.get("BENCH_SOCKETS", "500"))
PROBE_HZ = float(os.environ.get("BENCH_PROBE_HZ", "10"))
EVENT_EVERY_S = 5.0
RSS_EVERY_S = 2.0
PROBE_URL = "/api/v1/services?limit=1"


@dataclass
class LoadResult:
    agents: int
    sockets: int
    duration_s: float
    api_ms: list[float] = field(default_factory=list)
    api_errors: Counter[str] = field(default_factory=Counter)
    api_5xx: int = 0
    events_published: list[int] = field(default_factory=list)
    socket_missed: int = 0  # (socket, event) pairs never delivered
    sockets_closed: list[str] = field(default_factory=list)
    sockets_failed: list[str] = field(default_factory=list)  # did not open
    sockets_per_replica: list[int] = field(default_factory=list)
    agents_welcomed: int = 0
    agents_alive_at_end: int = 0
    agent_endings: dict[str, int] = field(default_factory=dict)
    nodes_online_at_end: int = 0
    rss: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    client_cpu_pct: float = 0.0

    def problems(self) -> list[str]:
        """Everything that counts as an error of the run (empty: none)."""
        out = []
        if self.api_errors:
            out.append(f"API errors: {dict(self.api_errors)}")
        if self.socket_missed:
            out.append(f"{self.socket_missed} (socket, event) deliveries missed")
        if self.sockets_failed:
            out.append(
                f"{len(self.sockets_failed)} sockets did not open: {self.sockets_failed[:3]}"
            )
        if self.sockets_closed:
            out.append(f"{len(self.sockets_closed)} sockets closed: {self.sockets_closed[:3]}")
        if self.agents_welcomed != self.agents:
            out.append(f"only {self.agents_welcomed}/{self.agents} agents welcomed")
        if self.agents_alive_at_end != self.agents:
            out.append(
                f"{self.agents - self.agents_alive_at_end} agents disconnected: "
                f"{self.agent_endings}"
            )
        if not self.events_published:
            out.append("no event was published")
        return out

    def peak_rss(self) -> dict[int, float]:
        return {index: max(mib for _, mib in series) for index, series in self.rss.items()}

    def report(self) -> str:
        lines = [
            f"{self.agents} agents, {self.sockets} browser sockets"
            f" ({' + '.join(map(str, self.sockets_per_replica))} per replica),"
            f" {self.duration_s:.0f} s:",
            f"  API GET {PROBE_URL} {describe(self.api_ms)}",
            f"  API errors: {dict(self.api_errors) or 'none'} (5xx: {self.api_5xx})",
            f"  events: {len(self.events_published)} published, each to every socket;"
            f" deliveries missed: {self.socket_missed}; sockets closed early:"
            f" {len(self.sockets_closed)}",
            f"  agents: {self.agents_welcomed} welcomed, {self.agents_alive_at_end} still"
            f" connected at the end, {self.nodes_online_at_end} nodes online in the API;"
            f" endings {self.agent_endings or 'none'}",
        ]
        for index, series in sorted(self.rss.items()):
            start, end = series[0][1], series[-1][1]
            peak = max(mib for _, mib in series)
            # One figure per ~20 s, to see a trend (a leak) rather than a single peak.
            step = max(1, len(series) // 8)
            trend = " ".join(f"{mib:.0f}" for _, mib in series[::step])
            lines.append(
                f"  replica {index} RSS MiB: start {start:.0f}, peak {peak:.0f}, end {end:.0f};"
                f" over time: {trend}"
            )
        lines.append(f"  this load generator's CPU: {self.client_cpu_pct:.0f}% of one core")
        return "\n".join(lines)


# ---------------------------------------------------------------- pieces


async def enroll(rs: ReplicaSet, count: int, prefix: str) -> list[tuple[int, str]]:
    """`count` nodes created and enrolled through the replicas in turn: (id, credential)."""
    slots = asyncio.Semaphore(8)
    clients = [
        httpx.AsyncClient(base_url=r.base_url, headers=rs.headers(), timeout=60)
        for r in rs.replicas
    ]

    async def one(index: int) -> tuple[int, str]:
        api = clients[index % len(clients)]
        async with slots:
            return await enroll_sim_node(api, f"{prefix}-{index:03d}", index)

    try:
        return list(await asyncio.gather(*(one(i) for i in range(count))))
    finally:
        for api in clients:
            await api.aclose()


@dataclass
class Browser:
    """One browser socket and the `service.status` events it received."""

    replica: int
    ws: ClientConnection
    seen: set[int] = field(default_factory=set)
    closed: str | None = None

    async def read(self) -> None:
        try:
            async for text in self.ws:
                frame = json.loads(text)
                if frame.get("type") == "service.status":
                    self.seen.add(int(frame["data"]["service_id"]))
                elif frame.get("type") == "ping":
                    await self.ws.send('{"type":"pong"}')
            self.closed = "closed by the server"
        except Exception as exc:
            self.closed = f"{type(exc).__name__}: {exc}"[:200]


async def open_browsers(rs: ReplicaSet, count: int, failures: list[str]) -> list[Browser]:
    """`count` browser sockets over the replicas in turn; failures to open are noted."""
    slots = asyncio.Semaphore(10)
    replicas = rs.replicas

    async def one(index: int) -> Browser:
        replica = replicas[index % len(replicas)]
        async with slots, httpx.AsyncClient(timeout=60) as api:
            response = await api.post(
                f"{replica.base_url}/api/v1/realtime/ticket", headers=rs.headers()
            )
            response.raise_for_status()
            ws = await connect(
                replica.base_url.replace("http://", "ws://")
                + f"/api/v1/ws?ticket={response.json()['ticket']}",
                origin=replica.base_url,  # type: ignore[arg-type]
                open_timeout=60,
                ping_interval=None,
            )
            hello = json.loads(await ws.recv())
            if hello.get("type") != "hello":
                raise RuntimeError(f"expected hello, got {hello}")
            return Browser(replica.index, ws)

    opened = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    for outcome in opened:
        if isinstance(outcome, BaseException):
            failures.append(f"{type(outcome).__name__}: {outcome}"[:200])
    return [b for b in opened if isinstance(b, Browser)]


async def probe(rs: ReplicaSet, result: LoadResult, stop: asyncio.Event) -> None:
    clients = [
        httpx.AsyncClient(base_url=r.base_url, headers=rs.headers(), timeout=30)
        for r in rs.replicas
    ]
    period = 1 / PROBE_HZ
    next_at = time.monotonic()
    turn = 0
    try:
        while not stop.is_set():
            api = clients[turn % len(clients)]
            turn += 1
            started = time.perf_counter()
            try:
                response = await api.get(PROBE_URL)
                if response.status_code == 200:
                    result.api_ms.append((time.perf_counter() - started) * 1000)
                else:
                    result.api_errors[f"HTTP {response.status_code}"] += 1
                    result.api_5xx += response.status_code >= 500
            except httpx.HTTPError as exc:
                result.api_errors[type(exc).__name__] += 1
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        for api in clients:
            await api.aclose()


async def publish_events(
    rs: ReplicaSet, result: LoadResult, stop: asyncio.Event, prefix: str
) -> None:
    """A service created every EVENT_EVERY_S, through the replicas in turn, on the local
    node: the scheduler would weigh all 200 simulated nodes, whose engines cannot answer."""
    clients = [
        httpx.AsyncClient(base_url=r.base_url, headers=rs.headers(), timeout=30)
        for r in rs.replicas
    ]
    index = 0
    nodes = (await clients[0].get("/api/v1/nodes", params={"limit": 500})).json()["items"]
    local_id = next(n["id"] for n in nodes if n["kind"] == "local")
    try:
        while not stop.is_set():
            api = clients[index % len(clients)]
            try:
                response = await api.post(
                    "/api/v1/services",
                    json={
                        "name": f"{prefix}-{index:03d}",
                        "node_id": local_id,
                        "definition": {"services": {"app": {"image": "dockyard-test/busybox:1"}}},
                    },
                )
                if response.status_code == 201:
                    result.events_published.append(int(response.json()["id"]))
                else:
                    result.api_errors[f"create HTTP {response.status_code}"] += 1
                    result.api_5xx += response.status_code >= 500
            except httpx.HTTPError as exc:
                result.api_errors[f"create {type(exc).__name__}"] += 1
            index += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), EVENT_EVERY_S)
    finally:
        for api in clients:
            await api.aclose()


async def sample_rss(replicas: list[Replica], result: LoadResult, stop: asyncio.Event) -> None:
    started = time.monotonic()
    while not stop.is_set():
        for replica in replicas:
            with contextlib.suppress(OSError, RuntimeError):
                result.rss.setdefault(replica.index, []).append(
                    (time.monotonic() - started, replica.rss_mib())
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_EVERY_S)


async def nodes_online(rs: ReplicaSet, node_ids: set[int]) -> int:
    async with httpx.AsyncClient(
        base_url=rs.replicas[-1].base_url, headers=rs.headers(), timeout=60
    ) as api:
        response = await api.get("/api/v1/nodes", params={"limit": 500})
        response.raise_for_status()
        return sum(
            1
            for node in response.json()["items"]
            if node["id"] in node_ids and node["status"] == "online"
        )


# ---------------------------------------------------------------- the run


async def run_load(
    rs: ReplicaSet,
    *,
    agents: int = AGENTS,
    sockets: int = SOCKETS,
    duration_s: float = 120.0,
    log: Any = print,
) -> LoadResult:
    """The load against the set's replicas; returns what happened (see LoadResult)."""
    result = LoadResult(agents, sockets, duration_s)
    prefix = f"bench-sol-{secrets.token_hex(3)}"
    me = psutil.Process()
    stop = asyncio.Event()  # the probe, the events, the RSS sampler
    agents_stop = asyncio.Event()  # the agents stay until everything was counted
    totals = Totals()
    metrics_on = asyncio.Event()
    metrics_on.set()
    agent_tasks: list[asyncio.Task[None]] = []
    browsers: list[Browser] = []
    readers: list[asyncio.Task[None]] = []
    try:
        opened = time.monotonic()
        browsers = await open_browsers(rs, sockets, result.sockets_failed)
        readers = [asyncio.create_task(b.read()) for b in browsers]
        result.sockets_per_replica = [
            sum(1 for b in browsers if b.replica == r.index) for r in rs.replicas
        ]
        log(f"opened {len(browsers)} browser sockets in {time.monotonic() - opened:.1f} s")

        started = time.monotonic()
        enrolled = await enroll(rs, agents, prefix)
        log(f"enrolled {agents} nodes in {time.monotonic() - started:.1f} s")
        sims = [
            SimAgent(
                i,
                rs.replicas[i % len(rs.replicas)].base_url.replace("http://", "ws://") + WS_PATH,
                credential,
                totals,
                metrics_on,
            )
            for i, (_, credential) in enumerate(enrolled)
        ]
        for sim in sims:  # a ramp, not a thundering herd
            agent_tasks.append(asyncio.create_task(sim.run(agents_stop)))
            await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in sims)), 180)
        result.agents_welcomed = totals.welcomed
        log(f"{totals.welcomed}/{agents} agents welcomed after {time.monotonic() - started:.1f} s")

        cpu_before = sum(me.cpu_times()[:2])
        wall_before = time.monotonic()
        workers = [
            asyncio.create_task(probe(rs, result, stop)),
            asyncio.create_task(publish_events(rs, result, stop, prefix)),
            asyncio.create_task(sample_rss(rs.replicas, result, stop)),
        ]
        deadline = time.monotonic() + duration_s
        while time.monotonic() < deadline:
            await asyncio.sleep(min(20.0, max(0.0, deadline - time.monotonic())))
            rss = ", ".join(f"{r.rss_mib():.0f}" for r in rs.replicas)
            log(
                f"  t+{time.monotonic() - wall_before:5.0f} s: {len(result.api_ms)} probes,"
                f" {len(result.events_published)} events, agents alive"
                f" {sum(1 for s in sims if s.closed is None)}, RSS MiB {rss}, {load()}"
            )
        stop.set()
        await asyncio.gather(*workers)
        result.client_cpu_pct = (
            100 * (sum(me.cpu_times()[:2]) - cpu_before) / (time.monotonic() - wall_before)
        )
        await asyncio.sleep(3.0)  # the last event's deliveries
        result.agents_alive_at_end = sum(1 for s in sims if s.closed is None)
        result.nodes_online_at_end = await nodes_online(rs, {node_id for node_id, _ in enrolled})
        published = set(result.events_published)
        for browser in browsers:
            result.socket_missed += len(published - browser.seen)
            if browser.closed is not None:
                result.sockets_closed.append(browser.closed)
        result.agent_endings = {**totals.closes, **totals.errors}
        return result
    finally:
        stop.set()
        agents_stop.set()
        for browser in browsers:
            with contextlib.suppress(Exception):
                await browser.ws.close()
        if readers:
            await asyncio.wait(readers, timeout=30)
        if agent_tasks:
            await asyncio.wait(agent_tasks, timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument("--agents", type=int, default=AGENTS)
    parser.add_argument("--sockets", type=int, default=SOCKETS)
    args = parser.parse_args()
    raise_on_signals()
    print(f"== scaleout_load: 2 replicas, {args.agents} agents, {args.sockets} sockets ==")
    print(load())
    with replica_set(replicas=2) as rs:
        result = asyncio.run(
            run_load(rs, agents=args.agents, sockets=args.sockets, duration_s=args.duration)
        )
        print(result.report())
        problems = result.problems()
        print("errors: " + ("; ".join(problems) if problems else "none"))
        print(f"API p99 {percentile(result.api_ms, 99):.1f} ms")
    print(f"at the end: {load()}")


if __name__ == "__main__":
    main()
