"""Live events: how long a Docker container event takes to reach the browser's WebSocket,
and whether every `die` / `start` reaches it at all.

One service of BENCH_EVENT_CONTAINERS busybox `sleep` containers is deployed through the
API; the benchmark then holds the browser's WebSocket (`/api/v1/ws`, ticket auth) and,
in parallel, its own subscription to the engine's `GET /events` stream, and drives the
containers straight on the engine's API.

1. Latency: BENCH_EVENT_RATE events per second (default 50) for BENCH_EVENT_DURATION_S
   seconds (default 20), first as kill / start (`die` + `start` events), then as
   pause / unpause (cheap for the engine, so the asked rate is reached even where
   starting containers is slower than that). For each event, the time from Docker's
   `timeNano` to the arrival of the `container.state` frame reporting it; the engine's
   own event stream, read by this process in the same run, is the baseline, and an
   inspect of one of the containers every 100 ms shows how busy the engine is.
2. Correctness: BENCH_CYCLES stop/start cycles (default 1,000) spread over the containers,
   each as fast as the engine allows; every `die` and `start` the engine reported must have
   a `container.state` frame reporting it.

A frame reports a `die` when it says `exited` with a `finished_at` after the container's
previous event and not after the `die` itself, and a `start` when it says `running` with
such a `started_at` (the engine stamps both before it emits the event). `pause` and
`unpause` carry no time: their frames are paired in order, per container.
Everything created is removed at the end, also after a failure.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.common import (
    api_client,
    bounded,
    create_service,
    engine_client,
    environment,
    percentile,
    run_action,
    run_benchmark,
    sleeper,
)
from bench.server_process import Server

CONTAINERS = int(os.environ.get("BENCH_EVENT_CONTAINERS", "10"))
RATE = float(os.environ.get("BENCH_EVENT_RATE", "50"))
DURATION_S = float(os.environ.get("BENCH_EVENT_DURATION_S", "20"))
CYCLES = int(os.environ.get("BENCH_CYCLES", "1000"))
CYCLES_DEADLINE_S = float(os.environ.get("BENCH_CYCLES_DEADLINE_S", "300"))
SETTLE_S = 3.0
FIRST_EVENT_SPAN_NS = 2_000_000_000
SLACK_NS = 10_000_000  # clock rounding: times in frames have microseconds
# The state a frame shows after each engine event.
STATE_AFTER = {"die": "exited", "start": "running", "pause": "paused", "unpause": "running"}


@dataclass
class Frame:
    """A `container.state` frame as the WebSocket delivered it."""

    arrived_ns: int
    published_ns: int
    container_id: str
    state: str
    reason: str
    started_ns: int | None
    finished_ns: int | None


@dataclass
class DockerEvent:
    arrived_ns: int
    time_ns: int
    action: str
    container_id: str


@dataclass
class Socket:
    """The browser's WebSocket, read in the background into `frames`."""

    ws: ClientConnection
    ids: set[str]
    frames: list[Frame] = field(default_factory=list)
    overflows: int = 0
    other: int = 0


def _ns(value: str | None) -> int | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return int(moment.timestamp() * 1_000_000) * 1000


async def _read_socket(sock: Socket) -> None:
    async for message in sock.ws:
        arrived = time.time_ns()
        body = json.loads(message)
        kind = body.get("type")
        if kind == "overflow":
            sock.overflows += int(body.get("dropped") or 0)
            continue
        data = body.get("data") or {}
        if kind != "container.state" or data.get("container_id") not in sock.ids:
            sock.other += 1
            continue
        sock.frames.append(
            Frame(
                arrived_ns=arrived,
                published_ns=_ns(body.get("ts")) or 0,
                container_id=data["container_id"],
                state=str(data.get("state")),
                reason=str(data.get("reason")),
                started_ns=_ns(data.get("started_at")),
                finished_ns=_ns(data.get("finished_at")),
            )
        )


async def _read_docker_events(
    engine: httpx.AsyncClient, project: str, since_s: float, out: list[DockerEvent]
) -> None:
    """The engine's own event stream (this run's project, state events), live."""
    filters = {
        "type": ["container"],
        "event": list(STATE_AFTER),
        "label": [f"com.docker.compose.project={project}"],
    }
    params = {"since": f"{since_s:.9f}", "filters": json.dumps(filters)}
    async with engine.stream("GET", "/events", params=params, timeout=None) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            arrived = time.time_ns()
            event = json.loads(line)
            out.append(
                DockerEvent(
                    arrived_ns=arrived,
                    time_ns=int(event["timeNano"]),
                    action=str(event.get("Action") or event.get("status")),
                    container_id=str((event.get("Actor") or {}).get("ID") or event.get("id")),
                )
            )


# ---------------------------------------------------------------- matching


@dataclass
class Matched:
    event: DockerEvent
    frames: list[Frame]  # every frame reporting this event, earliest arrival first

    @property
    def latency_ms(self) -> float:
        return (self.frames[0].arrived_ns - self.event.time_ns) / 1e6

    @property
    def published_ms(self) -> float:
        return (self.frames[0].published_ns - self.event.time_ns) / 1e6


def _dedupe(events: Sequence[DockerEvent]) -> tuple[list[DockerEvent], int]:
    """Drop an event that repeats its container's previous action (Docker 20.10 sometimes
    emits `pause` twice: once from the API call, once from containerd's notification)."""
    last: dict[str, str] = {}
    unique = []
    for event in sorted(events, key=lambda e: e.time_ns):
        if last.get(event.container_id) != event.action:
            unique.append(event)
        last[event.container_id] = event.action
    return unique, len(events) - len(unique)


def _stamp(frame: Frame) -> int | None:
    return frame.finished_ns if frame.state == "exited" else frame.started_ns


def _windows(events: Sequence[DockerEvent]) -> list[tuple[DockerEvent, int, int]]:
    """Each event with the span its container's `finished_at` / `started_at` must fall in.

    The engine stamps `FinishedAt` / `StartedAt` before it emits `die` / `start` (up to a
    few hundred ms before, on a busy engine), and after the container's previous event.
    """
    previous: dict[str, int] = {}
    spans = []
    for event in sorted(events, key=lambda e: e.time_ns):
        low = previous.get(event.container_id, event.time_ns - FIRST_EVENT_SPAN_NS)
        spans.append((event, low, event.time_ns + SLACK_NS))
        previous[event.container_id] = event.time_ns
    return spans


def _match_timed(
    events: Sequence[DockerEvent], frames: Sequence[Frame]
) -> tuple[list[Matched], list[DockerEvent]]:
    """`die` / `start`: pair each with the frames carrying its time; return pairs, misses."""
    groups: dict[tuple[str, str], list[Frame]] = {}
    for frame in frames:
        if frame.state in ("exited", "running") and _stamp(frame) is not None:
            groups.setdefault((frame.container_id, frame.state), []).append(frame)
    for group in groups.values():
        group.sort(key=lambda f: _stamp(f) or 0)
    stamps = {key: [_stamp(f) or 0 for f in group] for key, group in groups.items()}
    matched: list[Matched] = []
    missed: list[DockerEvent] = []
    for event, low, high in _windows(events):
        key = (event.container_id, STATE_AFTER[event.action])
        first = bisect.bisect_right(stamps.get(key, []), low)
        last = bisect.bisect_right(stamps.get(key, []), high)
        if first >= last:
            missed.append(event)
            continue
        reporting = sorted(groups[key][first:last], key=lambda f: f.arrived_ns)
        matched.append(Matched(event, reporting))
    return matched, missed


def _match_in_order(
    events: Sequence[DockerEvent], frames: Sequence[Frame]
) -> tuple[list[Matched], list[DockerEvent]]:
    """`pause` / `unpause`: per container, the next frame showing the state it leads to."""
    by_container: dict[str, list[Frame]] = {}
    for frame in sorted(frames, key=lambda f: f.arrived_ns):
        by_container.setdefault(frame.container_id, []).append(frame)
    position: dict[str, int] = {}
    matched: list[Matched] = []
    missed: list[DockerEvent] = []
    for event in sorted(events, key=lambda e: e.time_ns):
        mine = by_container.get(event.container_id, [])
        index = position.get(event.container_id, 0)
        while index < len(mine) and mine[index].state != STATE_AFTER[event.action]:
            index += 1
        if index == len(mine):
            missed.append(event)
            continue
        matched.append(Matched(event, [mine[index]]))
        position[event.container_id] = index + 1
    return matched, missed


def _implied(
    missed: Sequence[DockerEvent], events: Sequence[DockerEvent], frames: Sequence[Frame]
) -> int:
    """How many missed `start`s a frame still shows as its `started_at` (browser can tell)."""
    spans = {id(event): (low, high) for event, low, high in _windows(events)}
    count = 0
    for event in missed:
        low, high = spans[id(event)]
        count += event.action == "start" and any(
            f.container_id == event.container_id
            and f.started_ns is not None
            and low < f.started_ns <= high
            for f in frames
        )
    return count


def _explain(
    missed: Sequence[DockerEvent], events: Sequence[DockerEvent], frames: Sequence[Frame]
) -> None:
    """BENCH_EVENTS_DEBUG=<n>: print the first n misses with what happened around them
    (times in ms relative to the missed event)."""
    limit = int(os.environ.get("BENCH_EVENTS_DEBUG", "0"))
    for event in list(missed)[:limit]:

        def rel(ns: int | None, event: DockerEvent = event) -> str:
            return f"{(ns - event.time_ns) / 1e6:+9.1f}" if ns else "     none"

        def near(ns: int, event: DockerEvent = event) -> bool:
            return abs(ns - event.time_ns) < 1_500_000_000

        print(f"  missed {event.action} of {event.container_id[:12]}:")
        for other in events:
            if other.container_id == event.container_id and near(other.time_ns):
                print(f"    engine {other.action:7} at {rel(other.time_ns)}")
        for frame in frames:
            if frame.container_id == event.container_id and near(frame.arrived_ns):
                print(
                    f"    frame  {frame.state:7} at {rel(frame.arrived_ns)} ({frame.reason}):"
                    f" started_at {rel(frame.started_ns)} finished_at {rel(frame.finished_ns)}"
                )


def _print_latencies(label: str, samples: Sequence[float]) -> None:
    if not samples:
        print(f"{label:44} no samples")
        return
    print(
        f"{label:44} p50 {percentile(samples, 50):7.1f} ms  p95 {percentile(samples, 95):7.1f}"
        f" ms  p99 {percentile(samples, 99):7.1f} ms  max {max(samples):7.1f} ms"
        f"  (n={len(samples)})"
    )


# ---------------------------------------------------------------- driving the engine


async def _post(engine: httpx.AsyncClient, path: str) -> int:
    response = await engine.post(path)
    if response.status_code not in (204, 304):
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:200]}")
    return response.status_code


async def _drive_at_rate(
    engine: httpx.AsyncClient, ids: Sequence[str], actions: tuple[str, str]
) -> dict[str, int]:
    """Alternate the two actions on every container, RATE operations per second in all."""
    slot_s = 1 / RATE
    period_s = slot_s * len(ids)  # each container acts once per period
    counts = {actions[0]: 0, actions[1]: 0, "no-op": 0, "refused": 0, "late": 0}
    start_at = time.monotonic() + 0.1

    async def worker(index: int, container_id: str) -> None:
        next_at = start_at + index * slot_s
        step = 0
        while next_at < start_at + DURATION_S:
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -period_s:
                counts["late"] += 1
                next_at = time.monotonic()  # fell behind: do not burst to catch up
            action = actions[step % 2]
            # A kill takes effect after it returns: on a slow engine the container may
            # still be running, or already dead, when the next action comes. Count it.
            status = (await engine.post(f"/containers/{container_id}/{action}")).status_code
            counts[{204: action, 304: "no-op"}.get(status, "refused")] += 1
            step += 1
            next_at += period_s

    await asyncio.gather(*(worker(i, cid) for i, cid in enumerate(ids)))
    return counts


async def _probe_inspects(engine: httpx.AsyncClient, ids: Sequence[str], out: list[float]) -> None:
    """Inspect one of the containers every 100 ms, round robin: the engine's own latency."""
    index = 0
    while True:
        started = time.perf_counter()
        await engine.get(f"/containers/{ids[index % len(ids)]}/json")
        out.append((time.perf_counter() - started) * 1000)
        index += 1
        await asyncio.sleep(0.1)


async def _cycle(engine: httpx.AsyncClient, container_id: str, cycles: int, deadline: float) -> int:
    """Stop (returns once stopped) then start, `cycles` times or until `deadline`."""
    done = 0
    while done < cycles and time.monotonic() < deadline:
        await _post(engine, f"/containers/{container_id}/stop?t=0")
        await _post(engine, f"/containers/{container_id}/start")
        done += 1
    return done


# ---------------------------------------------------------------- the runs


async def _collect(
    engine: httpx.AsyncClient, project: str, sock: Socket
) -> tuple[list[DockerEvent], int, asyncio.Task[None]]:
    """Start following the engine's events from now; returns the list that fills up."""
    events: list[DockerEvent] = []
    reader = asyncio.create_task(_read_docker_events(engine, project, time.time(), events))
    await asyncio.sleep(0.5)  # subscribed before anything happens
    return events, len(sock.frames), reader


async def _stop(*tasks: asyncio.Task[None], settle_s: float = SETTLE_S) -> list[BaseException]:
    """Cancel background readers after `settle_s`; return what ended any of them early."""
    await asyncio.sleep(settle_s)  # late frames still count
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return [
        r
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)
    ]


def _check(errors: list[BaseException]) -> None:
    if errors:
        raise RuntimeError(f"a reader failed during the run: {errors[0]!r}") from errors[0]


async def _latency_run(
    engine: httpx.AsyncClient,
    project: str,
    ids: Sequence[str],
    sock: Socket,
    actions: tuple[str, str],
) -> None:
    events, first, reader = await _collect(engine, project, sock)
    inspect_ms: list[float] = []
    prober = asyncio.create_task(_probe_inspects(engine, ids, inspect_ms))
    errors: list[BaseException] = []
    try:
        started = time.monotonic()
        counts = await _drive_at_rate(engine, ids, actions)
        driven_s = time.monotonic() - started
    finally:
        errors += await _stop(prober, settle_s=0)
        errors += await _stop(reader)
    _check(errors)
    events, duplicates = _dedupe(events)
    match = _match_timed if actions[0] == "kill" else _match_in_order
    matched, missed = match(events, sock.frames[first:])
    seen = Counter(e.action for e in events)
    by_action = ", ".join(f"{n} {action}" for action, n in sorted(seen.items()))
    print(
        f"{counts[actions[0]]} {actions[0]} and {counts[actions[1]]} {actions[1]} in"
        f" {driven_s:.1f} s ({counts['no-op']} no-ops, {counts['refused']} refused,"
        f" {counts['late']} late slots): the engine reported {len(events)} events"
        f" ({by_action}; {duplicates} duplicates dropped) = {len(events) / driven_s:.1f}/s"
        f" (asked {RATE:.0f}/s)"
    )
    baseline = [(e.arrived_ns - e.time_ns) / 1e6 for e in events]
    _print_latencies("event -> engine /events stream (baseline)", baseline)
    _print_latencies("engine inspect, one every 100 ms", inspect_ms)
    _print_latencies("event -> container.state published", [m.published_ms for m in matched])
    latencies = [m.latency_ms for m in matched]
    _print_latencies("event -> container.state on the WebSocket", latencies)
    for action in STATE_AFTER:
        if any(m.event.action == action for m in matched):
            _print_latencies(
                f"  {action} only", [m.latency_ms for m in matched if m.event.action == action]
            )
    if latencies and baseline:
        ratio = percentile(latencies, 50) / max(percentile(baseline, 50), 0.001)
        print(
            f"  p99 {percentile(latencies, 99):.1f} ms (target <= 250 ms); ratio WebSocket p50"
            f" / engine stream p50: {ratio:.1f}x"
        )
    print(f"  events without a frame reporting them: {len(missed)} of {len(events)}")
    _explain(missed, events, sock.frames[first:])


async def _correctness_run(
    engine: httpx.AsyncClient, project: str, ids: Sequence[str], sock: Socket
) -> None:
    events, first, reader = await _collect(engine, project, sock)
    per_container = -(-CYCLES // len(ids))
    errors: list[BaseException] = []
    try:
        started = time.monotonic()
        deadline = started + CYCLES_DEADLINE_S
        done = await asyncio.gather(*(_cycle(engine, cid, per_container, deadline) for cid in ids))
        cycled_s = time.monotonic() - started
    finally:
        errors += await _stop(reader)
    _check(errors)
    events, duplicates = _dedupe(events)
    frames = sock.frames[first:]
    matched, missed = _match_timed(events, frames)
    dies = sum(1 for e in events if e.action == "die")
    starts = sum(1 for e in events if e.action == "start")
    missed_dies = sum(1 for e in missed if e.action == "die")
    missed_starts = [e for e in missed if e.action == "start"]
    print(
        f"{sum(done)} stop/start cycles on {len(ids)} containers in {cycled_s:.1f} s"
        f" ({sum(done) / max(cycled_s, 0.001):.1f} cycles/s; {CYCLES} asked, deadline"
        f" {CYCLES_DEADLINE_S:.0f} s): the engine reported {dies} die and {starts} start"
        f" ({duplicates} duplicates dropped)"
    )
    print(
        f"  missed: {missed_dies} die and {len(missed_starts)} start without a container.state"
        f" frame reporting them (target 0); {_implied(missed_starts, events, frames)} of those"
        f" starts show as a later frame's started_at; {sock.overflows} events dropped (overflow)"
    )
    _print_latencies("  latency of what was reported", [m.latency_ms for m in matched])
    _explain(missed, events, frames)


async def _final_state(
    api: httpx.AsyncClient, engine: httpx.AsyncClient, service_id: int, ids: Sequence[str]
) -> None:
    """Whether the server's cache agrees with the engine once everything settled."""
    detail = (await api.get(f"/api/v1/services/{service_id}")).json()
    cached = {c["id"]: c["state"] for c in detail["containers"]}
    actual = {}
    for cid in ids:
        actual[cid] = (await engine.get(f"/containers/{cid}/json")).json()["State"]["Status"]
    wrong = [cid[:12] for cid in ids if cached.get(cid) != actual[cid]]
    print(
        f"final state: the API agrees with the engine for {len(ids) - len(wrong)} of"
        f" {len(ids)} containers" + (f" (wrong: {', '.join(wrong)})" if wrong else "")
    )


async def _all_running(engine: httpx.AsyncClient, ids: Sequence[str]) -> None:
    """Bring every container back to running (a kill may still be landing) and wait."""

    async def one(cid: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = (await engine.get(f"/containers/{cid}/json")).json()["State"]
            if state.get("Paused"):
                await engine.post(f"/containers/{cid}/unpause")
            elif not state.get("Running"):
                await engine.post(f"/containers/{cid}/start")
            else:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"container {cid[:12]} did not come back to running")

    await bounded(ids, one, concurrency=4)
    await asyncio.sleep(2)  # a kill sent last can still land: check once more
    await bounded(ids, one, concurrency=4)


async def _runs(
    server: Server, api: httpx.AsyncClient, engine: httpx.AsyncClient, project: str
) -> None:
    service = await create_service(
        api, project, {f"c{i:02d}": sleeper() for i in range(CONTAINERS)}
    )
    await run_action(api, service["id"], "deploy")
    detail = (await api.get(f"/api/v1/services/{service['id']}")).json()
    ids = [c["id"] for c in detail["containers"]]
    if len(ids) != CONTAINERS or any(c["state"] != "running" for c in detail["containers"]):
        raise RuntimeError(f"the service is not running: {detail['status']}")

    ticket = (await api.post("/api/v1/realtime/ticket")).json()["ticket"]
    ws_url = server.base_url.replace("http://", "ws://") + f"/api/v1/ws?ticket={ticket}"
    async with connect(ws_url, max_size=None, open_timeout=10) as ws:
        hello = json.loads(await ws.recv())
        if hello.get("type") != "hello":
            raise RuntimeError(f"expected hello, got {hello}")
        sock = Socket(ws, set(ids))
        socket_reader = asyncio.create_task(_read_socket(sock))
        try:
            for actions in (("kill", "start"), ("pause", "unpause")):
                print(
                    f"-- latency: {'/'.join(actions)}, {RATE:.0f} events/s asked for"
                    f" {DURATION_S:.0f} s on {len(ids)} containers"
                )
                await _latency_run(engine, project, ids, sock, actions)
                await _all_running(engine, ids)
            if CYCLES > 0:
                print(f"-- correctness: {CYCLES} stop/start cycles")
                await _correctness_run(engine, project, ids, sock)
            print(f"frames of other events or containers (ignored): {sock.other}")
        finally:
            socket_reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await socket_reader
    await _final_state(api, engine, service["id"], ids)


async def _run(server: Server, prefix: str) -> None:
    engine = engine_client()
    api = api_client(server.base_url, server.token())
    try:
        await _runs(server, api, engine, f"{prefix}-events")
        print(f"server RSS at the end: {server.rss_mib():.1f} MiB")
        print(f"at the end: {environment()}")
    finally:
        await api.aclose()
        await engine.aclose()


def main() -> None:
    run_benchmark("events", "events latency benchmark", _run)


if __name__ == "__main__":
    main()
