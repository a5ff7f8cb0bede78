"""Helpers shared by the fleet benchmarks: the engine's socket, services through the API,
percentiles, and the cleanup that removes every Docker object a benchmark run created.

Every benchmark names its services `<run prefix>-...` (the compose project is the service
name) and labels every container `io.dockyard.test=1`, so `cleanup_projects` finds exactly
what this run created, also after a failure or when the server is gone.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench.server_process import Server, running_server

DOCKER_SOCKET = os.environ.get(
    "DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"
).removeprefix("unix://")
IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
TEST_LABELS = {"io.dockyard.test": "1"}
PROJECT_LABEL = "com.docker.compose.project"
# Docker's default address pools leave room for about 30 user networks, far fewer than a
# fleet of compose projects would each create: fleet containers have no network.
NETWORK_MODE = os.environ.get("BENCH_NETWORK_MODE", "none")
# Long-running server for a benchmark: access tokens outlive the run.
SERVER_ENV = {"DOCKYARD_ACCESS_TOKEN_TTL_S": "7200"}


def run_prefix(kind: str) -> str:
    """A fresh `bench-<kind>-<hex>` prefix: this run's services and projects start with it."""
    return f"bench-{kind}-{secrets.token_hex(3)}"


def raise_on_sigterm() -> None:
    """Turn SIGTERM into `SystemExit`, so `finally` blocks (cleanup) run when killed."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


# ---------------------------------------------------------------- figures


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (q in 1..99), interpolated; the value itself for one sample."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


def describe_ms(samples: Sequence[float]) -> str:
    return (
        f"p50 {percentile(samples, 50):8.2f} ms  p95 {percentile(samples, 95):8.2f} ms  "
        f"p99 {percentile(samples, 99):8.2f} ms  (n={len(samples)})"
    )


async def timed_get(client: httpx.AsyncClient, url: str) -> tuple[float, int]:
    """One GET: its latency in ms (whole body read) and the body's size in bytes."""
    started = time.perf_counter()
    response = await client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, len(response.content)


async def throughput(
    client: httpx.AsyncClient, url: str, *, duration_s: float, concurrency: int
) -> float:
    """Requests per second with `concurrency` workers for `duration_s` (an httpx loop)."""
    done = 0
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await client.get(url)
            response.raise_for_status()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def environment() -> str:
    """Cores, engine version and load: other work on the machine skews every figure."""
    try:
        with httpx.Client(
            transport=httpx.HTTPTransport(uds=DOCKER_SOCKET), base_url="http://docker", timeout=10
        ) as engine:
            version = engine.get("/version").json()
        docker = f"Docker {version.get('Version')} (API {version.get('ApiVersion')})"
    except httpx.HTTPError as exc:
        docker = f"Docker unreachable ({exc})"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, {docker}, load average {load}"


async def start_profile(pid: int, seconds: float) -> asyncio.subprocess.Process | None:
    """BENCH_PROFILE=<file>: py-spy samples of the server for `seconds`.

    A flame graph for `.svg`, speedscope for `.json`, collapsed stacks otherwise.
    """
    target = os.environ.get("BENCH_PROFILE")
    if not target:
        return None
    kind = {".svg": "flamegraph", ".json": "speedscope"}.get(os.path.splitext(target)[1], "raw")
    command = ["py-spy"] if shutil.which("py-spy") else ["uvx", "--from", "py-spy", "py-spy"]
    return await asyncio.create_subprocess_exec(
        *command,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, int(seconds))),
        "--output",
        target,
        "--format",
        kind,
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


# ---------------------------------------------------------------- clients


def engine_client(timeout_s: float = 60) -> httpx.AsyncClient:
    """An async client of the Docker Engine API over its unix socket."""
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=DOCKER_SOCKET),
        base_url="http://docker",
        timeout=timeout_s,
    )


def api_client(base_url: str, token: str, *, connections: int = 32) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=120,
    )


# ---------------------------------------------------------------- services through the API


def sleeper(command: Sequence[str] = ("sleep", "86400"), **extra: Any) -> dict[str, Any]:
    """A compose service: the test image running `command`, labelled as test."""
    spec: dict[str, Any] = {
        "image": IMAGE,
        "command": list(command),
        "stop_grace_period": "1s",
        "labels": dict(TEST_LABELS),
        **extra,
    }
    if NETWORK_MODE:
        spec["network_mode"] = NETWORK_MODE
    return spec


async def create_service(
    api: httpx.AsyncClient, name: str, services: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    response = await api.post(
        "/api/v1/services", json={"name": name, "definition": {"services": services}}
    )
    if response.status_code != 201:
        raise RuntimeError(f"creating {name}: {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


async def wait_job(
    api: httpx.AsyncClient, job_id: str, *, timeout_s: float = 300, poll_s: float = 0.5
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await api.get(f"/api/v1/jobs/{job_id}")
        response.raise_for_status()
        job: dict[str, Any] = response.json()
        if job["status"] in ("succeeded", "failed"):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s}s")
        await asyncio.sleep(poll_s)


async def run_action(
    api: httpx.AsyncClient, service_id: int, action: str, *, timeout_s: float = 300
) -> dict[str, Any]:
    """Start an action's job and wait for it; raises when it did not succeed."""
    response = await api.post(f"/api/v1/services/{service_id}/{action}")
    if response.status_code != 202:
        raise RuntimeError(f"{action} {service_id}: {response.status_code} {response.text[:500]}")
    job = await wait_job(api, response.json()["job"]["id"], timeout_s=timeout_s)
    if job["status"] != "succeeded":
        lines = [line["message"] for line in job.get("lines", [])][-5:]
        raise RuntimeError(f"{action} {service_id} failed: {job.get('error')} {lines}")
    return job


async def bounded(
    items: Sequence[Any], work: Callable[[Any], Awaitable[Any]], *, concurrency: int
) -> list[Any]:
    """`work(item)` for every item, at most `concurrency` at once, results in order."""
    slots = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Any:
        async with slots:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def wait_running(api: httpx.AsyncClient, ids: set[int], *, timeout_s: float = 120) -> float:
    """Wait until the list shows every service in `ids` running; return the seconds waited."""
    started = time.monotonic()
    while True:
        response = await api.get("/api/v1/services", params={"limit": 500})
        response.raise_for_status()
        running = {s["id"] for s in response.json()["items"] if s["status"] == "running"}
        if ids <= running:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{len(ids - running)} services not running after {timeout_s}s")
        await asyncio.sleep(0.5)


# ---------------------------------------------------------------- cleanup


def cleanup_projects(prefix: str) -> dict[str, int]:
    """Remove the containers, networks and volumes of compose projects named `prefix*`.

    Straight on the engine (not through the server, which may be gone): containers first
    (forced, a few at a time), then what they used. Returns how many of each it removed.
    """
    removed = {"containers": 0, "networks": 0, "volumes": 0}
    with httpx.Client(
        transport=httpx.HTTPTransport(uds=DOCKER_SOCKET), base_url="http://docker", timeout=60
    ) as engine:

        def ours(labels: dict[str, str] | None) -> bool:
            return str((labels or {}).get(PROJECT_LABEL, "")).startswith(prefix)

        filters = json.dumps({"label": [PROJECT_LABEL]})
        containers = [
            c["Id"]
            for c in engine.get("/containers/json", params={"all": 1, "filters": filters}).json()
            if ours(c.get("Labels"))
        ]

        def remove(container_id: str) -> bool:
            response = engine.delete(
                f"/containers/{container_id}", params={"force": 1, "v": 1}, timeout=60
            )
            return response.status_code in (204, 404)

        with ThreadPoolExecutor(max_workers=8) as pool:
            removed["containers"] = sum(pool.map(remove, containers))
        for network in engine.get("/networks", params={"filters": filters}).json():
            if ours(network.get("Labels")):
                removed["networks"] += engine.delete(f"/networks/{network['Id']}").is_success
        volumes = engine.get("/volumes", params={"filters": filters}).json().get("Volumes") or []
        for volume in volumes:
            if ours(volume.get("Labels")):
                removed["volumes"] += engine.delete(f"/volumes/{volume['Name']}").is_success
    return removed


def report_cleanup(prefix: str) -> None:
    started = time.monotonic()
    try:
        removed = cleanup_projects(prefix)
    except Exception as exc:  # report, never hide the benchmark's own error
        print(f"cleanup of {prefix}* failed: {exc!r}; remove by label {PROJECT_LABEL}={prefix}*")
        return
    print(
        f"cleanup: removed {removed['containers']} containers, {removed['networks']} networks,"
        f" {removed['volumes']} volumes of {prefix}* in {time.monotonic() - started:.1f} s"
    )


def run_benchmark(
    kind: str, title: str, body: Callable[[Server, str], Coroutine[Any, Any, None]]
) -> None:
    """Start a server, run `body(server, prefix)`, and always clean up what the run made."""
    raise_on_sigterm()
    prefix = run_prefix(kind)
    print(f"== {title} ({prefix}) ==")
    print(environment())
    try:
        with running_server(SERVER_ENV) as server:
            asyncio.run(body(server, prefix))
    finally:
        report_cleanup(prefix)


def wrk_figures(out: str) -> dict[str, str]:
    """Requests/s, p50, p99, non-2xx count and socket errors from `wrk --latency` output."""
    figures = {"rps": "?", "p50": "?", "p99": "?", "non2xx": "0", "errors": "none"}
    patterns = {
        "rps": r"Requests/sec:\s+([\d.]+)",
        "p50": r"^\s+50%\s+(\S+)",
        "p99": r"^\s+99%\s+(\S+)",
        "non2xx": r"Non-2xx or 3xx responses:\s+(\d+)",
        "errors": r"Socket errors:(.*)",
    }
    for key, pattern in patterns.items():
        if match := re.search(pattern, out, re.M):
            figures[key] = match.group(1).strip()
    return figures
