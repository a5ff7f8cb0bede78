"""Event fan-out: one event to BENCH_SOCKETS (1,000) browser WebSockets on one replica.

A one-replica scale-out set (bench/replicas.py: `dockyard serve` on PostgreSQL + Redis).
BENCH_SOCKETS browser sockets are opened the way the SPA opens them (`POST
/api/v1/realtime/ticket`, then `/api/v1/ws?ticket=`), spread over BENCH_CLIENTS client
processes (default 2) so one Python event loop reading 1,000 frames is not what is timed.
Then BENCH_EVENTS times (default 20, 1 s apart) one service is created through the API,
which publishes one `service.status` event that every socket (the admin's) receives.

Per socket and event: the time from the server's publication (the event's `ts`, same
machine clock) to the frame's arrival in the client, and from the start of the API
request. p50/p99/max over every socket and event, and the slowest socket per event (the
fan-out's completion time). **Target: p99 <= 100 ms.** Also: sockets that missed an event
(must be 0), the replica's RSS and its CPU (% of a core) while the events were sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import os
import secrets
import time
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.common import percentile
from bench.fleetkit import load, raise_on_signals
from bench.replicas import replica_set

SOCKETS = int(os.environ.get("BENCH_SOCKETS", "1000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "2"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "20"))
TARGET_P99_MS = 100.0


# ---------------------------------------------------------------- a client process


class _LeanSocket(asyncio.Protocol):
    """A browser socket at the frame level: the arrival time of each frame is read when the
    bytes reach this process, not after a Python WebSocket library has parsed them (with
    1,000 sockets in two client processes on the server's 2 cores, that parsing was a good
    part of the measured latency). Handshake by hand; server frames are unmasked; pings are
    answered (masked, as a client must)."""

    def __init__(self, host: str, path: str, origin: str) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Origin: {origin}\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.hello: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.frames: list[tuple[float, bytes]] = []
        self.closed: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.closed or f"connection lost: {exc}"
        for future in (self.opened, self.hello):
            if not future.done():
                future.set_exception(ConnectionError(self.closed))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.upgraded:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(head.decode(errors="replace")[:200]))
                return
            self.upgraded, self.buffer = True, rest
            self.opened.set_result(None)
        while len(self.buffer) >= 2:
            first, second = self.buffer[0], self.buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, offset = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, offset = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < offset + length:
                return
            payload = self.buffer[offset : offset + length]
            self.buffer = self.buffer[offset + length :]
            opcode = first & 0x0F
            if opcode == 0x1:
                if not self.hello.done():
                    self.hello.set_result(payload)
                else:
                    self.frames.append((now, payload))
            elif opcode == 0x9:  # ping: pong with the same payload, masked
                self._send(0xA, payload)
            elif opcode == 0x8:
                self.closed = f"closed by the server: {payload[2:].decode(errors='replace')}"

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if self.transport is None or len(payload) >= 126:
            return  # control frames carry at most 125 bytes
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()


async def _open(base_url: str, token: str, count: int) -> list[_LeanSocket]:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    slots = asyncio.Semaphore(10)  # under the server's 20 outstanding tickets per session
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as api:

        async def one() -> _LeanSocket:
            async with slots:
                response = await api.post("/api/v1/realtime/ticket")
                response.raise_for_status()
                path = f"/api/v1/ws?ticket={response.json()['ticket']}"
                _, sock = await loop.create_connection(
                    lambda: _LeanSocket(f"{host}:{port}", path, base_url), host, port
                )
                await asyncio.wait_for(sock.opened, 60)
                hello = json.loads(await asyncio.wait_for(sock.hello, 60))
                if hello.get("type") != "hello":
                    raise RuntimeError(f"expected hello, got {hello}")
                return sock

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def _client(base_url: str, token: str, count: int, pipe: Connection) -> None:
    sockets = await _open(base_url, token, count)
    pipe.send(("ready", len(sockets)))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    arrivals: list[list[tuple[int, float, float]]] = []
    closed: list[str] = []
    for sock in sockets:
        mine = []
        for now, payload in sock.frames:
            if b'"service.status"' not in payload:
                continue
            frame = json.loads(payload)
            if frame.get("type") == "service.status":
                published = datetime.fromisoformat(frame["ts"]).timestamp()
                mine.append((int(frame["data"]["service_id"]), now, published))
        arrivals.append(mine)
        if sock.closed:
            closed.append(sock.closed[:200])
        sock.close()
    pipe.send(("done", arrivals, closed))


def _client_main(base_url: str, token: str, count: int, pipe: Connection) -> None:
    asyncio.run(_client(base_url, token, count, pipe))


# ---------------------------------------------------------------- the run


async def _publish(
    base_url: str, token: str, prefix: str, failures: list[str]
) -> list[tuple[int, float]]:
    """EVENTS services created 1 s apart: (service id, request start time); a failed
    create is noted in `failures` (the server may be overwhelmed: that is a result too)."""
    out = []
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as api:
        await api.get("/api/v1/services?limit=1")
        for index in range(EVENTS):
            started = time.time()
            response = await api.post(
                "/api/v1/services",
                json={
                    "name": f"{prefix}-{index:03d}",
                    "definition": {"services": {"app": {"image": "dockyard-test/busybox:1"}}},
                },
            )
            if response.status_code != 201:
                failures.append(f"{response.status_code} {response.text[:200]}")
            else:
                out.append((int(response.json()["id"]), started))
            await asyncio.sleep(1.0)
    await asyncio.sleep(2.0)  # the last event's stragglers
    return out


def main() -> None:
    raise_on_signals()
    print(f"== event_fanout: one event to {SOCKETS} browser WebSockets, one replica ==")
    print(load())
    context = multiprocessing.get_context("spawn")
    with replica_set(replicas=1) as rs:
        replica = rs.replicas[0]
        token = rs.admin_token()
        rss_idle = replica.rss_mib()
        pipes = []
        processes = []
        per_client = [
            SOCKETS // CLIENTS + (1 if i < SOCKETS % CLIENTS else 0) for i in range(CLIENTS)
        ]
        started = time.monotonic()
        try:
            for count in per_client:
                mine, theirs = context.Pipe()
                process = context.Process(
                    target=_client_main, args=(replica.base_url, token, count, theirs)
                )
                process.start()
                pipes.append(mine)
                processes.append(process)
            opened = 0
            for pipe in pipes:
                if not pipe.poll(300):
                    raise RuntimeError("a client process did not open its sockets in 300 s")
                _kind, count = pipe.recv()
                opened += count
            print(
                f"opened {opened} sockets in {time.monotonic() - started:.1f} s;"
                f" replica RSS {rss_idle:.0f} -> {replica.rss_mib():.0f} MiB"
            )
            time.sleep(2)
            cpu_before, wall_before = replica.cpu_s(), time.monotonic()
            failures: list[str] = []
            prefix = f"bench-fan-{secrets.token_hex(3)}"
            published = asyncio.run(_publish(replica.base_url, token, prefix, failures))
            cpu_pct = 100 * (replica.cpu_s() - cpu_before) / (time.monotonic() - wall_before)
            results: list[Any] = []
            for pipe in pipes:
                pipe.send("stop")
            for pipe in pipes:
                if not pipe.poll(120):
                    raise RuntimeError("a client process did not report")
                results.append(pipe.recv())
        finally:
            for process in processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
        request_start = dict(published)
        from_publish: list[float] = []
        from_request: list[float] = []
        slowest: dict[int, float] = {}
        missed = 0
        closed: list[str] = []
        for _, arrivals_per_socket, closed_here in results:
            closed += closed_here
            for arrivals in arrivals_per_socket:
                seen = {sid for sid, _, _ in arrivals}
                missed += len(set(request_start) - seen)
                for sid, arrived, pub in arrivals:
                    if sid not in request_start:
                        continue
                    from_publish.append((arrived - pub) * 1000)
                    from_request.append((arrived - request_start[sid]) * 1000)
                    slowest[sid] = max(slowest.get(sid, 0.0), (arrived - pub) * 1000)

        def figures(samples: list[float]) -> str:
            if not samples:
                return "no samples"
            return (
                f"p50 {percentile(samples, 50):7.1f} ms  p99 {percentile(samples, 99):7.1f} ms"
                f"  max {max(samples):7.1f} ms  (n={len(samples)})"
            )

        print(f"{EVENTS} events x {opened} sockets:")
        print(f"  publish -> socket        {figures(from_publish)}")
        print(f"  API request -> socket    {figures(from_request)}")
        print(f"  last socket per event    {figures(list(slowest.values()))}")
        print(
            "  last socket, event by event (ms): "
            + " ".join(f"{slowest[sid]:.0f}" for sid, _ in published if sid in slowest)
        )
        p99 = percentile(from_publish, 99) if from_publish else float("inf")
        verdict = "ok" if p99 <= TARGET_P99_MS else "MISSED"
        print(f"  p99 publish -> socket {p99:.1f} ms (target <= {TARGET_P99_MS:.0f} ms: {verdict})")
        print(f"  sockets x events missed: {missed}; sockets closed early: {len(closed)}")
        if failures:
            print(f"  {len(failures)} of {EVENTS} creates failed, e.g. {failures[0]}")
        for reason in sorted(set(closed))[:5]:
            print(f"    {reason}")
        print(
            f"  replica CPU while the events were sent (1 s apart, {opened} sockets open):"
            f" {cpu_pct:.0f}% of a core; RSS {replica.rss_mib():.0f} MiB"
        )
    print(f"at the end: {load()}")


if __name__ == "__main__":
    main()
