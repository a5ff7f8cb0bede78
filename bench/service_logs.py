"""Service logs: `GET /api/v1/services/{id}/logs?tail=10000` against the docker CLI and the
engine's own logs endpoint, in the same run.

One service whose container prints BENCH_LOG_LINES lines (default 20,000) and then sleeps.
Each round times, in turn: the API (JSON), the API's plain-text download, `docker logs
--tail 10000 <container>` (the CLI, as a subprocess, output read through a pipe) and a
direct `GET /containers/{id}/logs?stdout=1&stderr=1&tail=10000&timestamps=1` on the
engine's socket. Everything created is removed at the end, also after a failure.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import httpx

from bench.common import (
    api_client,
    create_service,
    describe_ms,
    engine_client,
    environment,
    percentile,
    run_action,
    run_benchmark,
    sleeper,
    start_profile,
    timed_get,
)
from bench.server_process import Server

LINES = int(os.environ.get("BENCH_LOG_LINES", "20000"))
TAIL = int(os.environ.get("BENCH_LOG_TAIL", "10000"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "30"))
# busybox awk; no `$` (compose interpolation) and no shell loop (slow in busybox sh).
PRINTER = (
    f"awk 'BEGIN {{ for (i = 1; i <= {LINES}; i++)"
    ' printf("log line %06d the quick brown fox jumps over the lazy dog\\n", i) }\';'
    " exec sleep 86400"
)


async def _docker_cli(container_id: str, *flags: str) -> tuple[float, int]:
    """`docker logs --tail N <id>`: wall time in ms until it exits, and bytes written."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        "docker",
        "logs",
        *flags,
        "--tail",
        str(TAIL),
        container_id,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    elapsed = (time.perf_counter() - started) * 1000
    if process.returncode != 0:
        raise RuntimeError(f"docker logs failed: {err.decode()[:300]}")
    return elapsed, len(out) + len(err)


async def _wait_logged(engine: httpx.AsyncClient, container_id: str) -> float:
    """Wait until the container's last line is in the engine's log; return seconds waited."""
    started = time.monotonic()
    last = f"log line {LINES:06d}".encode()
    while (
        last
        not in (
            await engine.get(f"/containers/{container_id}/logs", params={"stdout": 1, "tail": 1})
        ).content
    ):
        if time.monotonic() - started > 120:
            raise TimeoutError(f"the container did not print {LINES} lines within 120 s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def _run(server: Server, prefix: str) -> None:
    token = server.token()
    engine = engine_client()
    api = api_client(server.base_url, token)
    try:
        service = await create_service(
            api, f"{prefix}-logs", {"app": sleeper(["sh", "-c", PRINTER])}
        )
        await run_action(api, service["id"], "deploy")
        detail = (await api.get(f"/api/v1/services/{service['id']}")).json()
        container_id = detail["containers"][0]["id"]
        waited = await _wait_logged(engine, container_id)
        print(f"container {container_id[:12]} printed {LINES} lines ({waited:.1f} s after deploy)")
        print(f"server RSS before:          {server.rss_mib():7.1f} MiB")

        api_url = f"/api/v1/services/{service['id']}/logs?tail={TAIL}"
        plain_url = f"{api_url}&timestamps=false"
        text_url = f"{api_url}&download=true"
        engine_url = f"/containers/{container_id}/logs?stdout=1&stderr=1&tail={TAIL}&timestamps=1"
        body = (await api.get(api_url)).json()
        if len(body["lines"]) != TAIL or not body["lines"][-1]["message"].endswith("lazy dog"):
            raise RuntimeError(f"the API returned {len(body['lines'])} lines, not {TAIL}")

        measures: dict[str, Callable[[], Awaitable[tuple[float, int]]]] = {
            "api": lambda: timed_get(api, api_url),
            "api_plain": lambda: timed_get(api, plain_url),
            "text": lambda: timed_get(api, text_url),
            "cli": lambda: _docker_cli(container_id),
            "cli_t": lambda: _docker_cli(container_id, "--timestamps"),
            "engine": lambda: timed_get(engine, engine_url),
        }
        series: dict[str, list[float]] = {name: [] for name in measures}
        sizes: dict[str, int] = {}
        cpu = dict.fromkeys(measures, 0.0)  # the server's CPU time per kind of request
        for _ in range(SAMPLES):  # interleaved: background noise hits every series alike
            for name, measure in measures.items():
                before = server.cpu_s()
                elapsed, sizes[name] = await measure()
                cpu[name] += server.cpu_s() - before
                series[name].append(elapsed)

        labels = {
            "api": f"GET .../logs?tail={TAIL} (JSON)",
            "api_plain": "  same, &timestamps=false (JSON)",
            "text": "  same, &download=true (text)",
            "cli": f"docker logs --tail {TAIL} (CLI)",
            "cli_t": "  same, --timestamps (as the API asks)",
            "engine": "engine GET /containers/{id}/logs",
        }
        for name, label in labels.items():
            print(f"{label:36} {describe_ms(series[name])}  {sizes[name] / 1024:5.0f} KiB")
        p50 = {name: percentile(samples, 50) for name, samples in series.items()}
        # Like for like: the same lines with the same fields, as JSON against the CLI's text.
        print(
            f"  ratio API (no timestamps) / docker CLI:          "
            f"{p50['api_plain'] / p50['cli']:6.2f}x (target <= 1.5x)"
        )
        print(
            f"  ratio API (timestamps) / docker CLI --timestamps: "
            f"{p50['api'] / p50['cli_t']:6.2f}x (target <= 1.5x)"
        )
        print(f"  ratio API (timestamps) / docker CLI:             {p50['api'] / p50['cli']:6.2f}x")
        print(
            f"  ratio API (timestamps) / engine:                 {p50['api'] / p50['engine']:6.2f}x"
        )
        print(
            f"  ratio text download / docker CLI --timestamps:   {p50['text'] / p50['cli_t']:6.2f}x"
        )
        print(
            f"server CPU per request: {cpu['api'] * 1000 / SAMPLES:.0f} ms (JSON),"
            f" {cpu['text'] * 1000 / SAMPLES:.0f} ms (text)"
        )
        print(f"server RSS after:           {server.rss_mib():7.1f} MiB")
        profiler = await start_profile(server.process.pid, 10)
        if profiler is not None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                await timed_get(api, api_url)
            await profiler.wait()
            print(f"py-spy profile of 10 s of API log requests: {os.environ['BENCH_PROFILE']}")
        print(f"at the end: {environment()}")
    finally:
        await api.aclose()
        await engine.aclose()


def main() -> None:
    run_benchmark("logs", f"service logs benchmark: {LINES} lines, tail {TAIL}", _run)


if __name__ == "__main__":
    main()
