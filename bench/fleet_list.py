"""A container list through the agent tunnel against the same list straight from the engine.

Starts BENCH_CONTAINERS (200) busybox `sleep 3600` containers (no network) on node3's
engine, a `dockyard serve`, a node and a real `dockyard agent` for node3. Then
BENCH_SAMPLES (200) interleaved `GET /containers/json?all=1`:

- through the tunnel: the node's `docker_host`, i.e. the server's Unix socket for that
  node, where every connection is a stream over the agent's WebSocket (request checked by
  the agent's guard, forwarded to its engine);
- straight on node3's socket (`DOCKYARD_TEST_NODE3_DOCKER_HOST`).

Both with a kept-alive connection (one stream for the whole series, as docker-py's pool
does), then both with `Connection: close` (a new stream, i.e. a `stream_open` round trip to
the agent and a new engine connection, per request). p50/p95/p99 and the ratios; **target
<= 1.5x**. Then the API's fleet view `GET /api/v1/containers?node_id=` when the server has
it, reported separately (it reads the server's state cache, not the engine). Every
container is removed at the end, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from bench.common import percentile
from bench.fleetkit import (
    NODE3_HOST,
    agent_process,
    api_client,
    create_node,
    describe,
    engine_client,
    load,
    main_on_node3,
    start_sleepers,
    wait_node_status,
)
from bench.server_process import Server

CONTAINERS = int(os.environ.get("BENCH_CONTAINERS", "200"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
LIST_URL = "/containers/json?all=1"
TARGET = 1.5


async def timed(client: httpx.AsyncClient, url: str, **kwargs: object) -> tuple[float, bytes]:
    started = time.perf_counter()
    response = await client.get(url, **kwargs)  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response.content


async def series(
    tunnel: httpx.AsyncClient, direct: httpx.AsyncClient, samples: int, *, close: bool
) -> tuple[list[float], list[float], int, int]:
    """Interleaved lists, so background noise hits both alike: latencies, body sizes."""
    headers = {"Connection": "close"} if close else {}
    await timed(tunnel, LIST_URL, headers=headers)
    await timed(direct, LIST_URL, headers=headers)
    tunnel_ms: list[float] = []
    direct_ms: list[float] = []
    tunnel_size = direct_size = 0
    for _ in range(samples):
        ms, body = await timed(tunnel, LIST_URL, headers=headers)
        tunnel_ms.append(ms)
        tunnel_size = len(body)
        ms, body = await timed(direct, LIST_URL, headers=headers)
        direct_ms.append(ms)
        direct_size = len(body)
    return tunnel_ms, direct_ms, tunnel_size, direct_size


def report(title: str, tunnel_ms: list[float], direct_ms: list[float]) -> None:
    print(f"{title}:")
    print(f"  through the agent  {describe(tunnel_ms)}")
    print(f"  straight on engine {describe(direct_ms)}")
    p50 = percentile(tunnel_ms, 50) / percentile(direct_ms, 50)
    p95 = percentile(tunnel_ms, 95) / percentile(direct_ms, 95)
    print(
        f"  ratio tunnel / direct: p50 {p50:.2f}x, p95 {p95:.2f}x   target <= {TARGET}x"
        f"   {'ok' if p50 <= TARGET else 'OVER'}"
    )


async def fleet_view(api: httpx.AsyncClient, node_id: int, direct: httpx.AsyncClient) -> None:
    url = f"/api/v1/containers?node_id={node_id}&limit=500"
    first = await api.get(url)
    if first.status_code == 404 and "/api/v1/containers" not in first.text:
        print(f"fleet view GET {url}: not available in this server ({first.status_code})")
        return
    if first.status_code != 200:
        print(f"fleet view GET {url}: {first.status_code} {first.text[:300]}")
        return
    body = first.json()
    items = body.get("items", body) if isinstance(body, dict) else body
    api_ms: list[float] = []
    direct_ms: list[float] = []
    for _ in range(max(20, SAMPLES // 4)):
        api_ms.append((await timed(api, url))[0])
        direct_ms.append((await timed(direct, LIST_URL))[0])
    print(
        f"fleet view GET /api/v1/containers?node_id=...&limit=500"
        f" ({len(items)} items, total {body.get('total', '?') if isinstance(body, dict) else '?'}):"
    )
    print(f"  API                {describe(api_ms)}")
    print(f"  straight on engine {describe(direct_ms)}")
    print(
        f"  ratio API / direct engine list p50:"
        f" {percentile(api_ms, 50) / percentile(direct_ms, 50):.2f}x (reported separately;"
        " no target)"
    )


async def run(server: Server, run_id: str) -> None:
    direct = engine_client(NODE3_HOST)
    api = api_client(server.base_url, server.token())
    try:
        started = time.monotonic()
        await start_sleepers(direct, run_id, CONTAINERS)
        listed = len((await direct.get(LIST_URL)).json())
        print(
            f"started {CONTAINERS} containers on the engine in {time.monotonic() - started:.1f} s;"
            f" it lists {listed} containers"
        )
        node_id, token = await create_node(api, f"{run_id}-node3")
        with agent_process(server.base_url, token, NODE3_HOST) as agent:
            try:
                node = await wait_node_status(api, node_id, "online", timeout_s=90)
            except TimeoutError:
                print(f"the agent did not come online; its log:\n{agent.tail()}")
                raise
            print(f"agent online; the node's docker_host is {node['docker_host']}")
            await asyncio.sleep(5)  # the first state and metrics sweep
            tunnel = engine_client(node["docker_host"])
            try:
                tunnel_ms, direct_ms, tunnel_size, direct_size = await series(
                    tunnel, direct, SAMPLES, close=False
                )
                print(
                    f"body: {tunnel_size / 1024:.0f} KiB through the agent,"
                    f" {direct_size / 1024:.0f} KiB direct ({load()})"
                )
                report(f"GET {LIST_URL}, kept-alive connection", tunnel_ms, direct_ms)
                tunnel_ms, direct_ms, _, _ = await series(
                    tunnel, direct, max(20, SAMPLES // 2), close=True
                )
                report(
                    f"GET {LIST_URL}, Connection: close (a new stream per request)",
                    tunnel_ms,
                    direct_ms,
                )
            finally:
                await tunnel.aclose()
            await fleet_view(api, node_id, direct)
            if agent.process.poll() is not None:
                print(f"the agent exited ({agent.process.returncode}); its log:\n{agent.tail()}")
    finally:
        await api.aclose()
        await direct.aclose()


def main() -> None:
    main_on_node3(f"list through the agent: {CONTAINERS} containers", "bench-list", run)


if __name__ == "__main__":
    main()
