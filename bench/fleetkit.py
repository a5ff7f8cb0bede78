"""Helpers shared by the fleet benchmarks (`fleet_agent`, `fleet_list`, `fleet_load`).

- plain containers straight on an engine (node3's by default), labelled
  `io.dockyard.test=1` and `io.dockyard.bench=<run id>`, and their removal by that label;
- a `dockyard serve` subprocess (optionally under cProfile), a node created through the
  API and a real `dockyard agent` process enrolled for it;
- process meters (RSS with its peak, CPU time) from psutil, and the machine's load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import IMAGE, TEST_LABELS, percentile
from bench.server_process import ADMIN_EMAIL, ADMIN_PASSWORD, Server, free_port

# The agent's engine: node3's test engine, or BENCH_AGENT_DOCKER_HOST (node3's dockerd is
# restarted by tests/integration/fleet/test_engine_restart.py: do not run both at once).
NODE3_HOST = os.environ.get("BENCH_AGENT_DOCKER_HOST") or os.environ.get(
    "DOCKYARD_TEST_NODE3_DOCKER_HOST", "unix:///run/dockyard-test/node3.sock"
)
BENCH_LABEL = "io.dockyard.bench"
# Long-running server for a benchmark: access tokens outlive the run.
SERVER_ENV = {"DOCKYARD_ACCESS_TOKEN_TTL_S": "7200"}


def load() -> str:
    """The 1/5/15-minute load average and the core count: every figure depends on them."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def socket_path(host: str) -> str:
    if not host.startswith("unix://"):
        raise SystemExit(f"{host}: the fleet benchmarks need a unix:// engine socket")
    return host.removeprefix("unix://")


def raise_on_signals() -> None:
    """SIGTERM (and SIGINT, as usual) end the run through `finally` blocks (cleanup)."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def describe(samples: Sequence[float]) -> str:
    return (
        f"p50 {percentile(samples, 50):8.2f} ms  p95 {percentile(samples, 95):8.2f} ms  "
        f"p99 {percentile(samples, 99):8.2f} ms  (n={len(samples)})"
    )


# ---------------------------------------------------------------- engine clients


def engine_client(host: str, timeout_s: float = 120) -> httpx.AsyncClient:
    """An async client of a Docker Engine API over its unix socket."""
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=socket_path(host)),
        base_url="http://docker",
        timeout=timeout_s,
    )


async def engine_list_ms(engine: httpx.AsyncClient, samples: int = 20) -> list[float]:
    """Latencies of `GET /containers/json` straight on an engine (the house baseline)."""
    await engine.get("/containers/json")
    out = []
    for _ in range(samples):
        started = time.perf_counter()
        response = await engine.get("/containers/json")
        response.raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def start_sleepers(
    engine: httpx.AsyncClient, run_id: str, count: int, *, concurrency: int = 6
) -> list[str]:
    """`count` running busybox `sleep 3600` containers, no network, labelled with the run."""
    slots = asyncio.Semaphore(concurrency)
    labels = {**TEST_LABELS, BENCH_LABEL: run_id}

    async def one(index: int) -> str:
        async with slots:
            created = await engine.post(
                "/containers/create",
                params={"name": f"{run_id}-{index:04d}"},
                json={
                    "Image": IMAGE,
                    "Cmd": ["sleep", "3600"],
                    "Labels": labels,
                    "HostConfig": {"NetworkMode": "none", "AutoRemove": False},
                },
            )
            if created.status_code != 201:
                raise RuntimeError(f"create: {created.status_code} {created.text[:300]}")
            container_id = str(created.json()["Id"])
            started = await engine.post(f"/containers/{container_id}/start")
            if started.status_code not in (204, 304):
                raise RuntimeError(f"start: {started.status_code} {started.text[:300]}")
            return container_id

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def remove_run_containers(host: str, run_id: str) -> int:
    """Remove (forced) every container labelled with this run, straight on the engine."""
    filters = json.dumps({"label": [f"{BENCH_LABEL}={run_id}"]})
    with httpx.Client(
        transport=httpx.HTTPTransport(uds=socket_path(host)), base_url="http://docker", timeout=120
    ) as engine:
        listed = engine.get("/containers/json", params={"all": 1, "filters": filters}).json()
        ids = [c["Id"] for c in listed]

        def remove(container_id: str) -> bool:
            response = engine.delete(f"/containers/{container_id}", params={"force": 1, "v": 1})
            return response.status_code in (204, 404)

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8) as pool:
            return sum(pool.map(remove, ids))


def report_removal(host: str, run_id: str) -> None:
    started = time.monotonic()
    try:
        # The engine may be restarting (the fleet tests restart node3's dockerd): wait for it.
        deadline = time.monotonic() + 90
        while True:
            try:
                removed = remove_run_containers(host, run_id)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                print(f"{host} is not answering; retrying the cleanup")
                time.sleep(3)
    except Exception as exc:  # report, never hide the benchmark's own error
        print(f"cleanup failed: {exc!r}; remove by label {BENCH_LABEL}={run_id} on {host}")
        return
    print(
        f"cleanup: removed {removed} containers of {run_id} in {time.monotonic() - started:.1f} s"
    )


# ---------------------------------------------------------------- processes


def dockyard_executable() -> str:
    found = shutil.which("dockyard", path=str(Path(sys.executable).parent)) or shutil.which(
        "dockyard"
    )
    if found is None:
        raise SystemExit("the `dockyard` console script is not installed: run `uv sync`")
    return found


def clean_environ(**extra: str) -> dict[str, str]:
    """The environment of a `dockyard` subprocess: no ambient `DOCKYARD_*` setting."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DOCKYARD_") or key.startswith("DOCKYARD_TEST_")
    }
    env.pop("DOCKER_HOST", None)
    env.update(extra)
    return env


@contextmanager
def fleet_server(
    extra_env: dict[str, str] | None = None, *, cprofile: str | None = None
) -> Iterator[Server]:
    """A `dockyard serve` on a free loopback port, own data dir and SQLite.

    `cprofile=<file>` runs it under cProfile (the event loop's thread; stats written at exit).
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as data_dir:
        env = clean_environ(
            DOCKYARD_DATA_DIR=data_dir,
            DOCKYARD_ADMIN_EMAIL=ADMIN_EMAIL,
            DOCKYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
            DOCKYARD_LOG_LEVEL="WARNING",
            DOCKYARD_LOGIN_RATE_PER_MINUTE="100000",
            DOCKYARD_DOCKER_HOST=os.environ.get(
                "DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"
            ),
            **SERVER_ENV,
            **(extra_env or {}),
        )
        command = [dockyard_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        if cprofile:
            command = [sys.executable, "-m", "cProfile", "-o", cprofile, *command]
        log_path = os.environ.get("BENCH_SERVER_LOG")
        output = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        process = subprocess.Popen(
            command,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start (BENCH_SERVER_LOG=<file>)")
                time.sleep(0.2)
            yield Server(base_url, process, Path(data_dir))
        finally:
            # Under cProfile: SIGINT, which uvicorn re-raises after its shutdown as a
            # KeyboardInterrupt, so cProfile still writes its stats (SIGTERM would kill it).
            stop(process, timeout_s=60, interrupt=bool(cprofile))
            if not isinstance(output, int):
                output.close()


def stop(
    process: subprocess.Popen[bytes], *, timeout_s: float = 20, interrupt: bool = False
) -> None:
    """SIGTERM (or SIGINT), then SIGKILL after `timeout_s`."""
    if process.poll() is not None:
        return
    if interrupt:
        process.send_signal(signal.SIGINT)
    else:
        process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def api_client(base_url: str, token: str, *, connections: int = 16) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=120,
    )


async def create_node(api: httpx.AsyncClient, name: str) -> tuple[int, str]:
    """A new agent node through the API: its id and one-time enrollment token."""
    response = await api.post("/api/v1/nodes", json={"name": name, "labels": {"bench": "1"}})
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/v1/nodes: {response.status_code} {response.text[:300]}")
    body = response.json()
    return int(body["id"]), str(body["enrollment_token"])


async def enroll_sim_node(api: httpx.AsyncClient, name: str, index: int) -> tuple[int, str]:
    """A new agent node, enrolled as simulated agent `index`: its id and node credential."""
    from dockyard.agent.protocol import ENROLL_PATH

    node_id, token = await create_node(api, name)
    response = await api.post(
        ENROLL_PATH,
        json={
            "token": token,
            "agent_version": "bench-sim/1",
            "docker_host": "unix:///var/run/docker.sock",
            "hostname": f"sim-{index:03d}",
        },
    )
    if response.status_code != 200:
        raise RuntimeError(f"enroll: {response.status_code} {response.text[:300]}")
    return node_id, str(response.json()["credential"])


async def wait_node_status(
    api: httpx.AsyncClient, node_id: int, status: str, *, timeout_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await api.get(f"/api/v1/nodes/{node_id}")
        response.raise_for_status()
        node: dict[str, Any] = response.json()
        if node["status"] == status:
            return node
        if time.monotonic() > deadline:
            raise TimeoutError(f"node {node_id} still {node['status']} after {timeout_s:.0f} s")
        await asyncio.sleep(0.5)


@dataclass
class Agent:
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextmanager
def agent_process(server_url: str, token: str, docker_host: str) -> Iterator[Agent]:
    """A real `dockyard agent` process enrolling with `token` for `docker_host`."""
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-agent-") as data_dir:
        log_path = Path(data_dir) / "agent.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    dockyard_executable(),
                    "agent",
                    "--server",
                    server_url,
                    "--token",
                    token,
                    "--docker-host",
                    docker_host,
                    "--data-dir",
                    str(Path(data_dir) / "state"),
                ],
                env=clean_environ(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                yield Agent(process, Path(data_dir), log_path)
            finally:
                stop(process)


# ---------------------------------------------------------------- meters


@dataclass
class Meter:
    """Samples a process's RSS (with its children) every `interval_s` in a thread."""

    pid: int
    interval_s: float = 0.5
    peak_rss: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.process = psutil.Process(self.pid)

    def rss(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process (every thread) and its children."""
        total = 0.0
        for proc in [self.process, *self.process.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    def start(self) -> Meter:
        def run() -> None:
            while not self._stop.is_set():
                try:
                    rss = self.rss()
                except psutil.Error:
                    return
                self.peak_rss = max(self.peak_rss, rss)
                self.samples.append((time.monotonic(), rss))
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def mib(value: float) -> str:
    return f"{value / 1024 / 1024:6.1f} MiB"


def main_on_node3(
    title: str, run_prefix: str, run: Callable[[Server, str], Coroutine[Any, Any, None]]
) -> None:
    """A fleet script's `main`: a server, `run(server, run_id)`, and the run's containers on
    node3 removed at the end whatever happens, with the load average before and after."""
    raise_on_signals()
    run_id = f"{run_prefix}-{secrets.token_hex(3)}"
    print(f"== {title} on {NODE3_HOST} ({run_id}) ==")
    print(load())
    try:
        with fleet_server() as server:
            asyncio.run(run(server, run_id))
    finally:
        report_removal(NODE3_HOST, run_id)
    print(f"at the end: {load()}")
