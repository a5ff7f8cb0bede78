"""The browser WebSocket through a real server (uvicorn on a free port) and the real engine."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dockyard.app import create_app
from dockyard.kit.events import EventBus
from dockyard.realtime.router import router as realtime_router
from dockyard.realtime.service import RealtimeHub
from dockyard.realtime.tickets import TicketStore
from dockyard.runtime import Runtime
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, make_settings
from tests.integration.state.docker_helpers import Containers, containers

ALLOWED_ORIGIN = "http://allowed.example"


class ShiftedClock:
    """The real monotonic clock, plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


@dataclass
class Server:
    app: FastAPI
    port: int
    hub: RealtimeHub
    clock: ShiftedClock
    http: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    async def login(self) -> str:
        response = await self.http.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def ticket(self, token: str | None = None) -> str:
        token = token or await self.login()
        response = await self.http.post(
            "/api/v1/realtime/ticket", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["expires_in"] == 30
        return str(body["ticket"])

    def connect(self, query: str = "", **kwargs: Any) -> Any:
        return connect(self.ws_url + query, proxy=None, open_timeout=5, close_timeout=2, **kwargs)


@pytest.fixture(scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str
) -> AsyncIterator[Server]:
    settings = make_settings(Path(tmp_path_factory.mktemp("realtime")))
    app = create_app(settings, configure_logs=False)
    if not any(getattr(route, "path", None) == "/api/v1/ws" for route in app.routes):
        app.include_router(realtime_router)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The same WebSocket implementation as `dockyard serve`.
    config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="websockets-sansio")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    for _ in range(500):
        if uv.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not uv.started:
        pytest.fail("the test server did not start", pytrace=False)
    runtime: Runtime = app.state.runtime
    clock = ShiftedClock()
    # A hub of our own, on a bus of its own: short timeouts, a movable clock, and no
    # events from the app's own watchers mixed into what the tests expect.
    hub = RealtimeHub(
        bus=EventBus(),
        auth=runtime.auth,
        engine_url_for={1: docker_host}.get,
        allowed_origins=[ALLOWED_ORIGIN],
        auth_timeout_s=0.5,
        session_check_s=0.3,
        tickets=TicketStore(30, clock=clock),
    )
    app.state.realtime = hub
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
        yield Server(app=app, port=port, hub=hub, clock=clock, http=http)
    await hub.close()
    uv.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()


@pytest.fixture(scope="module")
def made(docker_host: str, test_image: str) -> Iterator[Containers]:
    with containers(docker_host, test_image) as made:
        yield made


async def recv(ws: ClientConnection, timeout_s: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
    return message


async def recv_until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 5.0
) -> dict[str, Any]:
    async def find() -> dict[str, Any]:
        while True:
            message = await recv(ws, timeout_s)
            if predicate(message):
                return message

    return await asyncio.wait_for(find(), timeout_s)


async def closed_with(ws: ClientConnection, timeout_s: float = 5.0) -> tuple[int, str]:
    """Read until the server closes; return its close code and reason."""

    async def read_all() -> None:
        while True:
            await asyncio.wait_for(ws.recv(), timeout_s)

    with pytest.raises(ConnectionClosed) as closed:
        await read_all()
    frame = closed.value.rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


async def hello(ws: ClientConnection) -> dict[str, Any]:
    message = await recv(ws)
    assert message["type"] == "hello", message
    return message


def log_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("docker-logs-"))


async def until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    assert condition()


# ---------------------------------------------------------------- authentication


async def test_the_ticket_flow(server: Server) -> None:
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}") as ws:
        greeting = await hello(ws)
        assert greeting["user"]["email"] == ADMIN_EMAIL
        assert greeting["user"]["role"] == "admin"
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}


async def test_the_ticket_endpoint_needs_a_token(server: Server) -> None:
    response = await server.http.post("/api/v1/realtime/ticket")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


async def test_a_reused_ticket_is_refused(server: Server) -> None:
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)
    async with server.connect(f"?ticket={ticket}") as ws:
        assert await closed_with(ws) == (1008, "invalid or expired ticket")


async def test_a_garbage_ticket_is_refused(server: Server) -> None:
    async with server.connect("?ticket=garbage") as ws:
        assert await closed_with(ws) == (1008, "invalid or expired ticket")


async def test_an_expired_ticket_is_refused(server: Server) -> None:
    ticket = await server.ticket()
    server.clock.offset += 31
    try:
        async with server.connect(f"?ticket={ticket}") as ws:
            assert await closed_with(ws) == (1008, "invalid or expired ticket")
    finally:
        server.clock.offset = 0


async def test_a_ticket_of_a_revoked_session_is_refused(server: Server) -> None:
    token = await server.login()
    ticket = await server.ticket(token)
    response = await server.http.post(
        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 204
    async with server.connect(f"?ticket={ticket}") as ws:
        code, reason = await closed_with(ws)
        assert code == 1008
        assert "session" in reason


async def test_a_foreign_origin_is_refused(server: Server) -> None:
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}", origin="http://evil.example") as ws:
        assert await closed_with(ws) == (1008, "origin not allowed")
    # The refusal did not spend the ticket check: nothing was redeemed.
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)


@pytest.mark.parametrize("origin", ["same-host", ALLOWED_ORIGIN])
async def test_same_host_and_listed_origins_are_allowed(server: Server, origin: str) -> None:
    value = f"http://127.0.0.1:{server.port}" if origin == "same-host" else origin
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}", origin=value) as ws:
        await hello(ws)


async def test_first_message_token_auth(server: Server) -> None:
    token = await server.login()
    async with server.connect() as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        greeting = await hello(ws)
        assert greeting["user"]["email"] == ADMIN_EMAIL


async def test_a_bad_first_message_token_is_refused(server: Server) -> None:
    async with server.connect() as ws:
        await ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
        code, reason = await closed_with(ws)
        assert code == 1008
        assert "invalid" in reason


async def test_something_else_first_is_refused(server: Server) -> None:
    async with server.connect() as ws:
        await ws.send(json.dumps({"type": "subscribe", "topics": []}))
        assert await closed_with(ws) == (1008, "authentication required")


async def test_no_auth_within_the_timeout_is_refused(server: Server) -> None:
    started = time.monotonic()
    async with server.connect() as ws:
        assert await closed_with(ws) == (1008, "authentication timed out")
    assert time.monotonic() - started < 3


async def test_the_socket_closes_when_the_session_is_revoked(server: Server) -> None:
    token = await server.login()
    ticket = await server.ticket(token)
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)
        response = await server.http.post(
            "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 204
        error = await recv_until(ws, lambda m: m["type"] == "error")
        assert error["code"] == "session_ended"
        code, _ = await closed_with(ws)
        assert code == 1008


async def test_server_shutdown_closes_sockets_as_going_away(server: Server) -> None:
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)
        await server.hub.close(timeout_s=3)
        assert await closed_with(ws) == (1001, "server shutting down")
    assert server.hub.connection_count == 0


# ---------------------------------------------------------------- events


async def test_bus_events_arrive_filtered_by_subscription(server: Server) -> None:
    bus = server.hub.bus
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)
        bus.publish("internal.secret", {"x": 1})  # not on the allowlist
        bus.publish("service.status", {"node_id": 1, "service_id": 5})
        event = await recv(ws)
        assert event["type"] == "service.status"
        assert event["data"] == {"node_id": 1, "service_id": 5}
        assert event["ts"]

        await ws.send(json.dumps({"type": "subscribe", "topics": ["job.*"]}))
        assert await recv(ws) == {"type": "subscribed", "topics": ["job.*"]}
        bus.publish("service.status", {"service_id": 6})
        bus.publish("job.progress", {"job_id": 1, "percent": 50})
        event = await recv(ws)
        assert event["type"] == "job.progress"
        assert event["data"]["percent"] == 50


async def test_overflow_is_reported(server: Server) -> None:
    bus = server.hub.bus
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)
        # Published without yielding: the socket's queue (1000) cannot keep up.
        for i in range(1500):
            bus.publish("job.progress", {"i": i})
        overflow = await recv(ws)
        assert overflow == {"type": "overflow", "dropped": 500}
        first = await recv(ws)
        assert first["data"]["i"] == 500
        last = await recv_until(ws, lambda m: m["data"]["i"] == 1499)
        assert last["type"] == "job.progress"


async def test_server_pings(server: Server) -> None:
    server.hub.ping_interval_s = 0.2
    try:
        ticket = await server.ticket()
        async with server.connect(f"?ticket={ticket}") as ws:
            await hello(ws)
            ping = await recv(ws, 2)
            assert ping["type"] == "ping"
    finally:
        server.hub.ping_interval_s = 25.0


# ---------------------------------------------------------------- bad client messages


async def test_malformed_and_unknown_messages_get_error_frames(server: Server) -> None:
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)
        await ws.send("{not json")
        assert (await recv(ws))["code"] == "bad_json"
        await ws.send("[1, 2]")
        assert (await recv(ws))["code"] == "bad_message"
        await ws.send(json.dumps({"type": "teleport"}))
        error = await recv(ws)
        assert error == {
            "type": "error",
            "code": "unknown_type",
            "message": "Unknown message type 'teleport'.",
        }
        await ws.send(json.dumps({"type": "logs.follow", "id": "x", "node_id": "one"}))
        assert (await recv(ws))["code"] == "invalid_message"
        await ws.send(b"\x00binary")
        assert (await recv(ws))["code"] == "unsupported"
        await ws.send(json.dumps({"type": "logs.stop", "id": "nope"}))
        assert (await recv(ws))["code"] == "unknown_stream"
        # Still usable.
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}


async def test_a_100kb_message_closes_the_socket(server: Server) -> None:
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)
        await ws.send(json.dumps({"type": "ping", "pad": "x" * 100_000}))
        assert await closed_with(ws) == (1009, "message too big")


# ---------------------------------------------------------------- logs


async def test_logs_follow_and_stop(server: Server, made: Containers) -> None:
    script = "i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.05; done"
    cid = await asyncio.to_thread(made.run, ["sh", "-c", script])
    threads_before = log_threads()
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)
        follow = {"type": "logs.follow", "id": "s1", "node_id": 1, "container_ids": [cid]}
        await ws.send(json.dumps({**follow, "tail": 3}))
        started = await recv(ws)
        assert started == {"type": "logs.started", "id": "s1", "containers": [cid]}
        lines: list[dict[str, Any]] = []
        while len(lines) < 10:
            frame = await recv(ws)
            assert frame["id"] == "s1"
            assert frame["container"] == cid
            if frame["type"] == "logs.line":
                lines.append(frame)
            else:
                assert frame["type"] == "logs.lines"
                lines.extend(frame["lines"])
        assert {line["container"] for line in lines} == {cid}
        assert {line["stream"] for line in lines} == {"stdout", "stderr"}
        assert all(line["ts"] for line in lines)
        assert any(line["message"].startswith("out ") for line in lines)

        await ws.send(
            json.dumps({"type": "logs.follow", "id": "s1", "node_id": 1, "container_ids": [cid]})
        )
        await recv_until(ws, lambda m: m["type"] == "error")

        await ws.send(json.dumps({"type": "logs.stop", "id": "s1"}))
        await recv_until(ws, lambda m: m["type"] == "logs.stopped")
        with pytest.raises(TimeoutError):
            await recv_until(ws, lambda m: m["type"].startswith("logs."), 0.5)
        assert log_threads() == threads_before

        # The id is free again; an unknown container is reported, not fatal.
        await ws.send(json.dumps({**follow, "container_ids": ["dockyard-no-such-thing"]}))
        await recv_until(ws, lambda m: m["type"] == "logs.started")
        error = await recv_until(ws, lambda m: m["type"] == "logs.error")
        assert error["code"] == "engine_object_not_found"
        await ws.send(json.dumps({**follow, "id": "s2", "node_id": 99}))
        assert (await recv(ws))["code"] == "unknown_node"


async def test_leaving_the_page_stops_every_log_stream(server: Server, made: Containers) -> None:
    cid = await asyncio.to_thread(
        made.run, ["sh", "-c", "while true; do echo tick; sleep 0.05; done"]
    )
    threads_before = log_threads()
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)
        for n in range(10):
            await ws.send(
                json.dumps(
                    {"type": "logs.follow", "id": f"s{n}", "node_id": 1, "container_ids": [cid]}
                )
            )
        for n in range(10):
            await recv_until(ws, lambda m, n=n: m["type"] == "logs.started" and m["id"] == f"s{n}")
        await ws.send(
            json.dumps({"type": "logs.follow", "id": "s10", "node_id": 1, "container_ids": [cid]})
        )
        refused = await recv_until(ws, lambda m: m["type"] == "error")
        assert refused["code"] == "too_many_streams"
        await until(lambda: log_threads() == threads_before + 10)
    # The browser left: every stream and its thread ends.
    await until(lambda: log_threads() == threads_before and server.hub.connection_count == 0)


async def test_a_follow_ends_with_its_container(server: Server, made: Containers) -> None:
    cid = await asyncio.to_thread(made.run, ["sh", "-c", "echo one; sleep 0.2; echo two"])
    ticket = await server.ticket()
    async with server.connect(f"?ticket={ticket}") as ws:
        await hello(ws)
        await ws.send(
            json.dumps({"type": "logs.follow", "id": "a", "node_id": 1, "container_ids": [cid]})
        )
        messages: list[str] = []
        while True:
            frame = await recv(ws)
            if frame["type"] == "logs.line":
                messages.append(frame["message"])
            elif frame["type"] == "logs.lines":
                messages.extend(line["message"] for line in frame["lines"])
            elif frame["type"] == "logs.end":
                assert frame == {"type": "logs.end", "id": "a", "container": cid}
                break
        assert messages == ["one", "two"]


# ---------------------------------------------------------------- the app's own wiring


async def test_a_kill_reaches_the_browser_through_the_apps_own_wiring(
    server: Server, made: Containers
) -> None:
    runtime = server.runtime
    state = getattr(runtime, "state", None)
    hub = getattr(runtime, "realtime", None)
    if state is None or hub is None:
        pytest.fail("Runtime has no `state`/`realtime`: wire them as the report says")
    node_ids = state.node_ids()
    assert node_ids, "the app watches no node"
    watcher = state.watcher(node_ids[0])
    await watcher.wait_connected(10)

    server.app.state.realtime = hub
    try:
        ticket = await server.ticket()
        async with server.connect(f"?ticket={ticket}") as ws:
            await hello(ws)
            await ws.send(json.dumps({"type": "subscribe", "topics": ["container.", "service."]}))
            await recv_until(ws, lambda m: m["type"] == "subscribed")
            labels = {"io.dockyard.service-id": "999998"}
            cid = await asyncio.to_thread(made.run, ["sleep", "300"], labels=labels)

            def about(state_name: str) -> Callable[[dict[str, Any]], bool]:
                return lambda m: (
                    m["type"] == "container.state"
                    and m["data"]["container_id"] == cid
                    and m["data"]["state"] == state_name
                )

            await recv_until(ws, about("running"))
            started = time.monotonic()
            await asyncio.to_thread(made.client.kill, cid)
            exited = await recv_until(ws, about("exited"), 2)
            elapsed = time.monotonic() - started
            assert exited["data"]["service_id"] == 999998
            assert exited["data"]["node_id"] == node_ids[0]
            await recv_until(
                ws,
                lambda m: m["type"] == "service.status" and m["data"].get("service_id") == 999998,
                2,
            )
            print(f"\nkill -> browser frame: {elapsed * 1000:.0f} ms (including the kill call)")
            assert elapsed < 2
    finally:
        server.app.state.realtime = server.hub
