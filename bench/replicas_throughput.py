"""Throughput of `GET /api/v1/services` with one replica vs two, behind nginx, same run.

One scale-out set (bench/replicas.py): two `dockyard serve` replicas on a fresh PostgreSQL
database and Redis, BENCH_SERVICES services (default 50) created through the API (not
deployed: the list reads the database and the state cache). Two nginx instances rendered
from deploy/nginx/dockyard.conf: one in front of replica 0 only, one in front of both. wrk
(`-t1 -c<BENCH_WRK_CONNECTIONS>`, BENCH_DURATION_S per round, bearer token) loads each in
turn, BENCH_ROUNDS times (interleaved, so drifting background load hits both alike); also
replica 0 straight (no proxy) for the proxy's own cost. Prints requests/s, p50/p99, the
CPU each process used per request, and the ratio two / one. **Target: >= 1.7x.**

Every figure here shares this machine's cores: the replicas, nginx, PostgreSQL and wrk
itself compete for them (the script prints the core count and load average). Two
replicas can only be faster than one where one replica leaves a core idle.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass

import httpx
import psutil

from bench.common import wrk_figures
from bench.fleetkit import load, raise_on_signals
from bench.replicas import Proxy, ReplicaSet, replica_set, start_nginx

SERVICES = int(os.environ.get("BENCH_SERVICES", "50"))
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_WRK_CONNECTIONS", "32"))
URL = "/api/v1/services"
TARGET_RATIO = 1.7


@dataclass
class Run:
    label: str
    rps: float
    p50: str
    p99: str
    non2xx: int
    errors: str
    cpu_ms_per_request: dict[str, float]


def _wrk(url: str, token: str) -> dict[str, str]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{DURATION_S}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=DURATION_S + 60,
    ).stdout
    figures = wrk_figures(out)
    if figures["rps"] == "?":
        figures["rps"] = "0"
    return figures


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system, every thread and child) of each named process."""
    out = {}
    for name, pid in pids.items():
        proc = psutil.Process(pid)
        total = 0.0
        for one in [proc, *proc.children(recursive=True)]:
            try:
                times = one.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        out[name] = total
    return out


def measure(label: str, url: str, token: str, pids: dict[str, int]) -> Run:
    before = _cpu(pids)
    figures = _wrk(url + URL, token)
    after = _cpu(pids)
    rps = float(figures["rps"])
    requests = max(1.0, rps * DURATION_S)
    cpu = {name: (after[name] - before[name]) * 1000 / requests for name in pids}
    return Run(
        label,
        rps,
        figures["p50"],
        figures["p99"],
        int(figures["non2xx"]),
        figures["errors"],
        cpu,
    )


def seed(rs: ReplicaSet) -> None:
    prefix = f"bench-tp-{secrets.token_hex(3)}"

    async def run() -> None:
        async with httpx.AsyncClient(
            base_url=rs.replicas[0].base_url, headers=rs.headers(), timeout=60
        ) as api:
            slots = asyncio.Semaphore(4)

            async def one(index: int) -> None:
                async with slots:
                    response = await api.post(
                        "/api/v1/services",
                        json={
                            "name": f"{prefix}-{index:03d}",
                            "definition": {
                                "services": {
                                    "app": {"image": "dockyard-test/busybox:1"},
                                    "db": {"image": "dockyard-test/busybox:1"},
                                }
                            },
                        },
                    )
                    if response.status_code != 201:
                        raise RuntimeError(f"create: {response.status_code} {response.text}")

            await asyncio.gather(*(one(i) for i in range(SERVICES)))
            listed = await api.get(URL)
            listed.raise_for_status()
            print(f"seeded {SERVICES} services; the list is {len(listed.content) / 1024:.0f} KiB")

    asyncio.run(run())


def print_run(run: Run) -> None:
    cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in run.cpu_ms_per_request.items())
    print(
        f"  {run.label:34s} {run.rps:8.1f} req/s  p50 {run.p50:>8s}  p99 {run.p99:>8s}"
        f"  non-2xx {run.non2xx}  socket errors: {run.errors}"
    )
    print(f"  {'':34s} CPU ms per request: {cpu}")


def main() -> None:
    raise_on_signals()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian's `wrk`; scripts/test-env.sh up)")
    print(f"== replicas_throughput: GET {URL}, {SERVICES} services, wrk -t1 -c{CONNECTIONS} ==")
    print(load())
    with replica_set(replicas=2, nginx=False) as rs:
        seed(rs)
        token = rs.admin_token()
        one: Proxy = start_nginx(rs, [f"127.0.0.1:{rs.replicas[0].port}"])
        two: Proxy = start_nginx(rs, [f"127.0.0.1:{r.port}" for r in rs.replicas])
        pids = {
            "replica0": rs.replicas[0].process.pid,
            "replica1": rs.replicas[1].process.pid,
            "nginx(1)": one.process.pid,
            "nginx(2)": two.process.pid,
        }
        for url, verify in (
            (rs.replicas[0].base_url, True),
            (one.url, one.tls()),
            (two.url, two.tls()),
        ):  # warm-up
            with httpx.Client(verify=verify, headers=rs.headers(), timeout=30) as warm:
                for _ in range(20):
                    warm.get(url + URL).raise_for_status()
        runs: dict[str, list[Run]] = {"direct": [], "one": [], "two": []}
        for round_index in range(ROUNDS):
            print(f"round {round_index + 1}/{ROUNDS} ({load()}):")
            for key, label, url in (
                ("direct", "replica 0 straight (no proxy)", rs.replicas[0].base_url),
                ("one", "nginx -> 1 replica", one.url),
                ("two", "nginx -> 2 replicas", two.url),
            ):
                run = measure(label, url, token, pids)
                runs[key].append(run)
                print_run(run)
                time.sleep(1)
        served = two.upstreams()
        counts = {f"127.0.0.1:{r.port}": served.count(f"127.0.0.1:{r.port}") for r in rs.replicas}
        print(f"requests per replica through nginx -> 2: {counts}")
        best = {key: max(r.rps for r in value) for key, value in runs.items()}
        mean = {key: sum(r.rps for r in value) / len(value) for key, value in runs.items()}
        ratio = mean["two"] / mean["one"]
        print(
            f"mean req/s: direct {mean['direct']:.1f}, nginx->1 {mean['one']:.1f},"
            f" nginx->2 {mean['two']:.1f} (best {best['direct']:.1f} / {best['one']:.1f} /"
            f" {best['two']:.1f})"
        )
        print(
            f"  ratio two replicas / one (both behind nginx): {ratio:.2f}x"
            f"   (target >= {TARGET_RATIO}x)"
        )
        print(f"  ratio nginx->1 / direct (the proxy's cost): {mean['one'] / mean['direct']:.2f}x")
        errors = sum(r.non2xx for value in runs.values() for r in value)
        if errors:
            print(f"  non-2xx responses: {errors}")
    print(f"at the end: {load()}")


if __name__ == "__main__":
    main()
