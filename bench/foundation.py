"""Foundation figures: idle RSS, /healthz throughput, node-list latency vs the engine.

Baselines are direct Docker Engine API calls over the engine's own socket, in the same run.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import time

import httpx

from bench.server_process import running_server

DOCKER_SOCKET = os.environ.get(
    "DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"
).removeprefix("unix://")
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "5"))
CONCURRENCY = 32


async def _throughput(client: httpx.AsyncClient, url: str) -> float:
    """Requests per second over DURATION_S with CONCURRENCY workers."""
    done = 0
    deadline = time.perf_counter() + DURATION_S

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await client.get(url)
            response.raise_for_status()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return done / (time.perf_counter() - started)


async def _latencies(client: httpx.AsyncClient, url: str, n: int = 200) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(url)
        response.raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _wrk(url: str) -> float | None:
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{int(DURATION_S)}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else None


def _p(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1]


async def main() -> None:
    engine = httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=DOCKER_SOCKET), base_url="http://docker"
    )
    with running_server() as server:
        await asyncio.sleep(3)
        rss_idle = server.rss_mib()
        token = server.token()
        api = httpx.AsyncClient(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_connections=CONCURRENCY),
        )
        wrk_rps = _wrk(f"{server.base_url}/healthz")
        healthz_rps = await _throughput(api, "/healthz")
        ping_rps = await _throughput(engine, "/_ping")
        nodes_ms = await _latencies(api, "/api/v1/nodes")
        info_ms = await _latencies(engine, "/info")
        rss_after = server.rss_mib()
        await api.aclose()
    await engine.aclose()

    print("== foundation benchmark ==")
    print(f"server RSS at idle:                 {rss_idle:7.1f} MiB")
    print(f"server RSS after the load:          {rss_after:7.1f} MiB")
    if wrk_rps is not None:
        print(f"/healthz with wrk (2 threads, 64 c): {wrk_rps:8.0f} req/s")
    print(f"/healthz, httpx x{CONCURRENCY}:              {healthz_rps:8.0f} req/s")
    print(f"engine /_ping, httpx x{CONCURRENCY}:         {ping_rps:8.0f} req/s")
    print(f"  ratio healthz / engine ping:      {healthz_rps / ping_rps:8.2f}x")
    print(f"GET /api/v1/nodes  p50 {_p(nodes_ms, 50):6.2f} ms  p95 {_p(nodes_ms, 95):6.2f} ms")
    print(f"engine GET /info   p50 {_p(info_ms, 50):6.2f} ms  p95 {_p(info_ms, 95):6.2f} ms")
    print(f"  ratio nodes p50 / engine info p50: {_p(nodes_ms, 50) / _p(info_ms, 50):7.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
