"""Graceful shutdown of `dockyard serve` on SIGTERM/SIGINT.

uvicorn's own shutdown closes the listening sockets, then every open connection (WebSockets
get close code 1012 without a reason), waits `timeout_graceful_shutdown` for requests, and
only then runs the application's lifespan shutdown. Dockyard needs a few steps before the
connections go, so `GracefulServer.shutdown` runs, in this order:

1. stop listening (new connections go to another replica, or wait for the restart);
2. the job runner takes no new job (a job submitted from now on stays queued in the
   database: the next process's recovery runs it);
3. browsers' WebSockets (`/api/v1/ws`, container exec, SSH terminals) are closed with
   1001 "server shutting down", so the UI reconnects (to another replica when there is one);
4. when another server replica is alive, this one's agents are handed to it now (closed
   with 1012, they reconnect there at once; `AgentHub.hand_off`): with the listener closed
   no peer could reach them here, and this process's draining jobs reach them by relay;
5. running jobs get `DOCKYARD_SHUTDOWN_GRACE_S` to finish, while engines, the event bridge
   and (on the only replica) agents still work; those still running then are marked
   failed (see `dockyard.jobs.runner`);
6. the remaining agents are disconnected by their hub (1012);
7. uvicorn's own shutdown: open HTTP requests get what is left of the grace period, then
   the lifespan shutdown (scheduler, runtime).

The process then exits 0 (uvicorn would re-raise the signal and die by it). `exit_process`
does not wait for Docker calls that interrupted jobs left blocked in worker threads (a
`docker stop` still waiting for its container): their jobs are recorded already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from typing import Any

import structlog
import uvicorn

log = structlog.get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

GOING_AWAY = 1001
SHUTDOWN_REASON = "server shutting down"
# Agents and replica relays: their hub closes them (they reconnect to another replica).
AGENT_PATH_PREFIX = "/api/v1/agent/"
CLOSE_TIMEOUT_S = 2.0


class _TrackedSocket:
    """One browser WebSocket's `send`, which the shutdown can close from outside."""

    # No lock: the flags are read and set without an await in between, and the server
    # writes concurrent sends in the order they were made (a close made during a pending
    # send goes after it).

    def __init__(self, send: Send) -> None:
        self._send = send
        self.accepted = False
        self.closed = False

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "websocket.send":  # the common case, checked first
            if self.closed:
                return  # closed by the shutdown: the handler learns it on its next receive
        elif kind == "websocket.accept":
            self.accepted = True
        elif kind in ("websocket.close", "websocket.http.response.start"):
            if self.closed and kind == "websocket.close":
                return
            self.closed = True
        await self._send(message)

    async def close(self, code: int, reason: str) -> bool:
        if not self.accepted or self.closed:
            return False
        self.closed = True
        await self._send({"type": "websocket.close", "code": code, "reason": reason})
        return True


class WebSocketTracker:
    """ASGI wrapper that remembers the open browser WebSockets, so a shutdown can close them
    with a code and a reason before the server drops the connections."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._open: set[_TrackedSocket] = set()
        self.closing = False  # set by `close_all`: later sockets are closed at once

    @property
    def open_count(self) -> int:
        return len(self._open)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or str(scope.get("path", "")).startswith(AGENT_PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.closing:  # a socket opened on a kept-alive connection during the shutdown
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send(
                    {"type": "websocket.close", "code": GOING_AWAY, "reason": SHUTDOWN_REASON}
                )
            return
        tracked = _TrackedSocket(send)
        self._open.add(tracked)
        try:
            await self.app(scope, receive, tracked.send)
        finally:
            self._open.discard(tracked)

    async def close_all(self, code: int = GOING_AWAY, reason: str = SHUTDOWN_REASON) -> int:
        """Close every open browser socket, and any opened later; returns how many were
        closed here."""
        self.closing = True

        async def one(tracked: _TrackedSocket) -> bool:
            try:
                return await asyncio.wait_for(tracked.close(code, reason), CLOSE_TIMEOUT_S)
            except Exception:  # the peer is gone already: nothing to tell it
                return False

        results = await asyncio.gather(*(one(t) for t in list(self._open)))
        return sum(results)


async def drain(runtime: Any, tracker: WebSocketTracker | None, grace_s: float) -> None:
    """Steps 2-6 of the module docstring."""
    runtime.jobs.begin_shutdown()
    await runtime.realtime.close(timeout_s=CLOSE_TIMEOUT_S)
    if tracker is not None:
        closed = await tracker.close_all()
        if closed:
            log.info("ws_closed_for_shutdown", sockets=closed)
    # With another replica alive its agents move now (the listener is closed already, so
    # peers could not reach them here while jobs drain); jobs reach them by relay.
    await runtime.agents.hand_off()
    await runtime.jobs.stop(grace_s)
    await runtime.agents.close()


class GracefulServer(uvicorn.Server):
    """uvicorn's server with Dockyard's shutdown steps and a clean exit status."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        runtime_of: Callable[[], Any],
        tracker: WebSocketTracker | None,
        grace_s: float,
    ) -> None:
        super().__init__(config)
        self._runtime_of = runtime_of
        self._tracker = tracker
        self.grace_s = grace_s

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            # The shutdown was graceful: exit 0 rather than re-raising the signal.
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_s
        log.info("server_shutting_down", grace_s=self.grace_s)
        for server in self.servers:
            server.close()
        runtime = self._runtime_of()
        if runtime is not None and not self.force_exit:
            task = asyncio.create_task(drain(runtime, self._tracker, self.grace_s))
            # A second Ctrl-C (force exit) abandons the drain.
            while not task.done() and not self.force_exit:
                await asyncio.wait({task}, timeout=0.2)
            if not task.done():
                task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                log.warning("shutdown_drain_abandoned")
            except Exception:
                log.exception("shutdown_drain_failed")
        # What is left of the grace period for open HTTP requests.
        self.config.timeout_graceful_shutdown = max(1, math.ceil(deadline - loop.time()))
        await super().shutdown(sockets)


def exit_process(code: int = 0, *, wait_s: float = 1.0) -> None:
    """End a process whose shutdown is complete (`serve`, `worker`, `beat`).

    The interpreter would wait at exit for every thread-pool thread, among them Docker calls
    that interrupted jobs left blocked (a `docker stop` waiting for its container; the engine
    completes it on its own, and the job is recorded already). Threads get `wait_s` to end;
    if some are still running then, the process exits at once, after flushing its output.
    """
    deadline = time.monotonic() + wait_s
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    for thread in others:
        thread.join(max(0.0, deadline - time.monotonic()))
    lingering = [t.name for t in others if t.is_alive()]
    if not lingering:
        return
    log.warning("shutdown_abandoning_threads", threads=lingering)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
