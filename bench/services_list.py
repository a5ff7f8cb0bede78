"""A fleet of services: deploy time, `GET /api/v1/services` latency and throughput, RSS.

Deploys BENCH_SERVICES services (default 200) of two busybox `sleep` containers each
through the API, then times the full service list (one page) against the engine's own
`GET /containers/json?all=1` in the same run, measures the list's throughput with wrk
(and the same httpx loop against both), and reports the server's RSS. Everything created
is removed at the end, also after a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time

import httpx

from bench.common import (
    api_client,
    bounded,
    create_service,
    describe_ms,
    engine_client,
    environment,
    percentile,
    run_action,
    run_benchmark,
    sleeper,
    start_profile,
    throughput,
    timed_get,
    wait_running,
    wrk_figures,
)
from bench.server_process import Server

SERVICES = int(os.environ.get("BENCH_SERVICES", "200"))
DEPLOY_CONCURRENCY = int(os.environ.get("BENCH_DEPLOY_CONCURRENCY", "8"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "10"))
WRK_CONNECTIONS = int(os.environ.get("BENCH_WRK_CONNECTIONS", "32"))
HTTPX_CONCURRENCY = 16
LIST_URL = "/api/v1/services?limit=500"
ONE_URL = "/api/v1/services?limit=1"
ENGINE_LIST_URL = "/containers/json?all=1"


async def _wrk(url: str, token: str | None) -> dict[str, str] | None:
    """Requests/s and latency percentiles from wrk (None when wrk is not installed)."""
    if shutil.which("wrk") is None:
        return None
    process = await asyncio.create_subprocess_exec(
        "wrk",
        "-t2",
        f"-c{WRK_CONNECTIONS}",
        f"-d{max(1, int(DURATION_S))}s",
        "--latency",
        *(["-H", f"Authorization: Bearer {token}"] if token else []),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await process.communicate())[0].decode()
    return wrk_figures(out)


async def _deploy_fleet(server: Server, api: httpx.AsyncClient, prefix: str) -> set[int]:
    names = [f"{prefix}-{i:04d}" for i in range(SERVICES)]
    started = time.monotonic()
    created = await bounded(
        names,
        lambda name: create_service(api, name, {"a": sleeper(), "b": sleeper()}),
        concurrency=4,
    )
    created_s = time.monotonic() - started
    ids = [service["id"] for service in created]
    print(f"created {len(ids)} services in {created_s:.1f} s ({len(ids) / created_s:.1f}/s)")

    started = time.monotonic()
    cpu_before = server.cpu_s()
    await bounded(ids, lambda sid: run_action(api, sid, "deploy"), concurrency=DEPLOY_CONCURRENCY)
    jobs_s = time.monotonic() - started
    settle_s = await wait_running(api, set(ids), timeout_s=120)
    total_s = time.monotonic() - started
    print(
        f"deployed {len(ids)} services ({2 * len(ids)} containers), {DEPLOY_CONCURRENCY} deploy"
        f" jobs at a time: jobs done in {jobs_s:.1f} s, all running in the list after"
        f" {total_s:.1f} s (+{settle_s:.1f} s) = {len(ids) / total_s:.2f} services/s,"
        f" {2 * len(ids) / total_s:.2f} containers/s"
    )
    print(
        f"  server CPU during the deploy: {server.cpu_s() - cpu_before:.1f} s in {total_s:.1f} s"
        " (jobs, events, and this benchmark's job polls every 0.5 s)"
    )
    return set(ids)


async def _latency(server: Server, api: httpx.AsyncClient, engine: httpx.AsyncClient) -> None:
    """Sequential GETs of the list and of the engine's list, interleaved so background noise
    hits both series alike; and the server's CPU time per request, which load elsewhere on
    the machine does not inflate."""
    await asyncio.gather(api.get(LIST_URL), engine.get(ENGINE_LIST_URL))  # warm-up
    api_ms: list[float] = []
    engine_ms: list[float] = []
    api_bytes = engine_bytes = 0
    cpu_before = server.cpu_s()
    for _ in range(SAMPLES):
        one, api_bytes = await timed_get(api, LIST_URL)
        api_ms.append(one)
        one, engine_bytes = await timed_get(engine, ENGINE_LIST_URL)
        engine_ms.append(one)
    cpu_list_ms = (server.cpu_s() - cpu_before) * 1000 / SAMPLES
    cpu_before = server.cpu_s()
    for _ in range(SAMPLES):
        await timed_get(api, ONE_URL)
    cpu_one_ms = (server.cpu_s() - cpu_before) * 1000 / SAMPLES
    print(f"GET {LIST_URL}         {describe_ms(api_ms)}  {api_bytes / 1024:4.0f} KiB")
    print(f"engine GET {ENGINE_LIST_URL}  {describe_ms(engine_ms)}  {engine_bytes / 1024:4.0f} KiB")
    ratio = percentile(api_ms, 50) / percentile(engine_ms, 50)
    print(f"  ratio list p50 / engine list p50: {ratio:6.2f}x   (target <= 1.3x)")
    per_service = (cpu_list_ms - cpu_one_ms) / max(1, SERVICES - 1)
    print(
        f"server CPU per request: {cpu_list_ms:.1f} ms for the list of {SERVICES},"
        f" {cpu_one_ms:.1f} ms for {ONE_URL} -> {per_service * 1000:.0f} us per service;"
        f" one core allows ~{1000 / max(cpu_list_ms, 0.001):.0f} lists/s"
    )


async def _throughput(
    server: Server, token: str, api: httpx.AsyncClient, engine: httpx.AsyncClient
) -> None:
    profiler = await start_profile(server.process.pid, DURATION_S)
    wrk = await _wrk(f"{server.base_url}{LIST_URL}", token)
    if profiler is not None:
        await profiler.wait()
        print(f"py-spy profile of the wrk load: {os.environ['BENCH_PROFILE']}")
    if wrk is not None:
        _print_wrk(LIST_URL, wrk, "   (target >= 500 req/s)")
        # References: the fixed cost of an authenticated database-backed request (one
        # service), and a route without either (the server's ceiling on this machine).
        one = await _wrk(f"{server.base_url}{ONE_URL}", token)
        ceiling = await _wrk(f"{server.base_url}/healthz", None)
        if one is not None and ceiling is not None:
            _print_wrk(ONE_URL, one, "   (reference)")
            _print_wrk("/healthz", ceiling, "   (reference)")
    # The same client against both, for a ratio (an httpx loop is itself CPU-bound).
    api_rps = await throughput(
        api, LIST_URL, duration_s=DURATION_S / 2, concurrency=HTTPX_CONCURRENCY
    )
    engine_rps = await throughput(
        engine, ENGINE_LIST_URL, duration_s=DURATION_S / 2, concurrency=HTTPX_CONCURRENCY
    )
    print(f"list, httpx x{HTTPX_CONCURRENCY}:        {api_rps:8.1f} req/s")
    print(f"engine list, httpx x{HTTPX_CONCURRENCY}: {engine_rps:8.1f} req/s")
    print(f"  ratio list / engine list:   {api_rps / engine_rps:8.2f}x")


async def _run(server: Server, prefix: str) -> None:
    await asyncio.sleep(3)
    print(f"server RSS at idle:          {server.rss_mib():7.1f} MiB")
    token = server.token()
    engine = engine_client()
    api = api_client(server.base_url, token)
    try:
        ids = await _deploy_fleet(server, api, prefix)
        print(f"server RSS after the deploy: {server.rss_mib():7.1f} MiB")
        page = (await api.get(LIST_URL)).json()
        ours = [s for s in page["items"] if s["id"] in ids]
        in_engine = len((await engine.get(ENGINE_LIST_URL)).json())
        print(
            f"list: {page['total']} services, {len(ours)} of this run with"
            f" {sum(s['containers_total'] for s in ours)} containers; the engine lists"
            f" {in_engine} containers (all of the engine's, not only this run's)"
        )
        await _latency(server, api, engine)
        await _throughput(server, token, api, engine)
        print(f"server RSS after the load:   {server.rss_mib():7.1f} MiB")
        print(f"at the end: {environment()}")
    finally:
        await api.aclose()
        await engine.aclose()


def _print_wrk(path: str, wrk: dict[str, str], note: str) -> None:
    print(
        f"wrk -t2 -c{WRK_CONNECTIONS} {DURATION_S:.0f}s GET {path}: {wrk['rps']} req/s"
        f" (latency p50 {wrk['p50']}, p99 {wrk['p99']}; non-2xx {wrk['non2xx']},"
        f" socket errors {wrk['errors']}){note}"
    )


def main() -> None:
    run_benchmark("list", f"services list benchmark: {SERVICES} services x 2 containers", _run)


if __name__ == "__main__":
    main()
