"""dockyard.kit.shutdown: the WebSocket tracker (fake ASGI app and server), the exit."""

from __future__ import annotations

import asyncio
from typing import Any

from dockyard.kit.shutdown import SHUTDOWN_REASON, WebSocketTracker, exit_process


class FakeConnection:
    """The server side of one WebSocket: what the app sent, and the client's messages."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming.put_nowait({"type": "websocket.connect"})

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: Any) -> None:
        self.sent.append(dict(message))
        if message["type"] == "websocket.close":  # the client answers the close frame
            self.incoming.put_nowait({"type": "websocket.disconnect", "code": message["code"]})


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Accepts, then sends what it receives until the client disconnects, then says bye."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            break
        await send({"type": "websocket.send", "text": message.get("text")})
    await send({"type": "websocket.send", "text": "too late"})  # dropped: already closed
    await send({"type": "websocket.close", "code": 1000})


async def start(tracker: WebSocketTracker, path: str) -> tuple[FakeConnection, asyncio.Task[None]]:
    conn = FakeConnection()
    scope = {"type": "websocket", "path": path}
    task = asyncio.create_task(tracker(scope, conn.receive, conn.send))
    for _ in range(100):
        if conn.sent:
            break
        await asyncio.sleep(0.01)
    return conn, task


async def test_browser_sockets_are_closed_with_1001_and_the_reason() -> None:
    tracker = WebSocketTracker(echo_app)
    browser, browser_task = await start(tracker, "/api/v1/ws")
    terminal, terminal_task = await start(tracker, "/api/v1/containers/1/abc/exec")
    agent, agent_task = await start(tracker, "/api/v1/agent/ws")
    assert tracker.open_count == 2  # agents are their hub's business

    browser.incoming.put_nowait({"type": "websocket.receive", "text": "hi"})
    await asyncio.sleep(0.05)
    assert browser.sent[-1] == {"type": "websocket.send", "text": "hi"}

    assert await tracker.close_all() == 2
    await asyncio.wait_for(asyncio.gather(browser_task, terminal_task), 2)
    for conn in (browser, terminal):
        closes = [m for m in conn.sent if m["type"] == "websocket.close"]
        assert closes == [{"type": "websocket.close", "code": 1001, "reason": SHUTDOWN_REASON}]
        assert conn.sent[-1]["type"] == "websocket.close"  # nothing after the close
    assert tracker.open_count == 0
    assert not agent_task.done()  # the agent's socket was left open
    assert not [m for m in agent.sent if m["type"] == "websocket.close"]
    agent.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(agent_task, 2)


async def test_a_socket_opened_during_the_shutdown_is_closed_at_once() -> None:
    tracker = WebSocketTracker(echo_app)
    assert await tracker.close_all() == 0
    late, task = await start(tracker, "/api/v1/ws")
    await asyncio.wait_for(task, 2)
    assert late.sent == [
        {"type": "websocket.accept"},
        {"type": "websocket.close", "code": 1001, "reason": SHUTDOWN_REASON},
    ]


async def test_a_socket_not_yet_accepted_is_left_to_the_app() -> None:
    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.2)
        await send({"type": "websocket.close", "code": 1008, "reason": "no"})

    tracker = WebSocketTracker(slow_app)
    conn, task = await start(tracker, "/api/v1/ws")
    assert await tracker.close_all() == 0
    await asyncio.wait_for(task, 2)
    assert conn.sent == [{"type": "websocket.close", "code": 1008, "reason": "no"}]


async def test_http_passes_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    tracker = WebSocketTracker(app)
    conn = FakeConnection()
    await tracker({"type": "http", "path": "/api/v1/ws"}, conn.receive, conn.send)
    assert seen == ["http"]
    assert tracker.open_count == 0


def test_exit_process_does_not_wait_for_a_blocked_thread(monkeypatch: Any) -> None:
    import os
    import threading

    exits: list[int] = []
    monkeypatch.setattr(os, "_exit", exits.append)  # never end the test run
    release = threading.Event()
    blocked = threading.Thread(target=release.wait, name="blocked-docker-call")
    blocked.start()
    try:
        exit_process(3, wait_s=0.1)
        assert exits == [3]
    finally:
        release.set()
        blocked.join()
