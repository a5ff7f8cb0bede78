"""1,000 HTTP health checks every 30 s on the embedded runner: the server's CPU.

Starts a real `dockyard serve`, a tiny keep-alive HTTP target on loopback (in this process,
so its CPU is not counted), creates BENCH_HEALTH_CHECKS (default 1,000) enabled HTTP checks
with a 30 s interval through the API, lets one interval pass (warm-up: every check has its
slot), then measures the server process's CPU time (user + system, all threads) over
BENCH_HEALTH_INTERVALS (default 2) intervals. Reports CPU as % of one core (target ≤ 25%),
the idle server's CPU for comparison, how many probes ran and how evenly they were spread
(the busiest second against the mean: no thundering herd).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench.common import api_client, environment, raise_on_sigterm
from bench.server_process import running_server

CHECKS = int(os.environ.get("BENCH_HEALTH_CHECKS", "1000"))
INTERVAL_S = 30
INTERVALS = int(os.environ.get("BENCH_HEALTH_INTERVALS", "2"))
TARGET_PCT = 25.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real service
    hits = 0
    seconds: Counter[int] = Counter()

    def do_GET(self) -> None:
        _Handler.hits += 1
        _Handler.seconds[int(time.time())] += 1
        body = b"dockyard bench ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_target() -> tuple[ThreadingHTTPServer, int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


async def main() -> None:
    raise_on_sigterm()
    print(f"health_checks: {CHECKS} HTTP checks every {INTERVAL_S} s; {environment()}")
    target, port = start_target()
    try:
        with running_server({"DOCKYARD_API_RATE_PER_MINUTE": "1000000"}) as server:
            async with api_client(server.base_url, server.token()) as client:
                idle_before = server.cpu_s()
                await asyncio.sleep(10)
                idle_pct = (server.cpu_s() - idle_before) / 10 * 100

                started = time.perf_counter()
                semaphore = asyncio.Semaphore(4)

                async def create(i: int) -> None:
                    body = {
                        "name": f"bench-{i}",
                        "kind": "http",
                        "target": {"url": f"http://127.0.0.1:{port}/ok", "keyword": "ok"},
                        "interval_s": INTERVAL_S,
                        "timeout_s": 5,
                        "retries": 2,
                    }
                    async with semaphore:
                        for attempt in range(5):  # a loaded machine can time a write out
                            response = await client.post("/api/v1/health-checks", json=body)
                            if response.status_code < 500 or attempt == 4:
                                break
                            await asyncio.sleep(1)
                        response.raise_for_status()

                await asyncio.gather(*(create(i) for i in range(CHECKS)))
                print(f"  created {CHECKS} checks in {time.perf_counter() - started:.1f} s")
                await asyncio.sleep(INTERVAL_S + 12)  # every check had its first slot

                hits_before = _Handler.hits
                cpu_before = server.cpu_s()
                wall_before = time.perf_counter()
                measure_from = int(time.time())
                await asyncio.sleep(INTERVAL_S * INTERVALS)
                cpu = server.cpu_s() - cpu_before
                wall = time.perf_counter() - wall_before
                measure_to = int(time.time())
                probes = _Handler.hits - hits_before
                pct = cpu / wall * 100

                per_second = [_Handler.seconds.get(s, 0) for s in range(measure_from, measure_to)]
                mean = sum(per_second) / max(1, len(per_second))
                listed = (await client.get("/api/v1/health-checks")).json()["items"]
                now = datetime.now().astimezone()
                fresh = sum(
                    1
                    for c in listed
                    if c["status"] == "up"
                    and c["last_checked_at"]
                    and (now - datetime.fromisoformat(c["last_checked_at"])).total_seconds()
                    < INTERVAL_S + 5
                )
                expected = CHECKS * INTERVALS
                print(
                    f"  server CPU {pct:.1f}% of one core over {wall:.0f} s "
                    f"({cpu:.2f} CPU-s; idle server {idle_pct:.1f}%)"
                )
                print(
                    f"  probes {probes} (expected ~{expected}); busiest second {max(per_second)}"
                    f" vs mean {mean:.1f}/s; {fresh}/{len(listed)} checks up and fresh"
                )
                ok = (
                    pct <= TARGET_PCT
                    and probes >= expected * 0.95
                    and len(listed) == CHECKS
                    and fresh >= CHECKS * 0.99
                )
                verdict = "ok" if ok else "FAIL"
                print(f"  {verdict}: CPU {pct:.1f}% (target <= {TARGET_PCT:.0f}%)")
                if not ok:
                    raise SystemExit(1)
    finally:
        target.shutdown()
        target.server_close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except httpx.HTTPError as exc:
        raise SystemExit(f"health_checks: {exc}") from exc
