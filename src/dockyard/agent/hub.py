"""The registry of agents: their WebSockets, tunnels, liveness, and relays across replicas.

Every agent node is reached through a Unix socket the hub of each Dockyard process (every
`serve` replica, worker and beat) listens on for itself: a Docker client (docker-py, the
state watcher, a job) connects to `socket_url(node_id)` (what `agent://node-<id>`
resolves to in this process, see `dockyard.engine.addresses`). When this process holds the
agent's WebSocket, the hub turns each accepted connection into one stream of the
agent's WebSocket (`dockyard.agent.mux`), which the agent connects to its own engine.
While the agent is offline the hub answers such a client at once with an HTTP 503 saying
so, so every action on the node fails fast with a clear error. When another server replica
holds it (`nodes.agent_replica`, kept current by presence events and a periodic read), the
connection is relayed to that replica (`dockyard.agent.relay`).

The WebSocket side (`serve`) follows docs/agent-protocol.md: hello within 10 s with a valid
credential or close 1008; one live session per node (a newer one replaces the older);
heartbeats (offline after two missed); `state` and `events` feed the node's state watcher
(then `ack`); `metrics` go to the metrics store (`dockyard.metrics.ingest.MetricsIngest`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect

from dockyard.agent.mux import Mux, Stream, StreamOpenError
from dockyard.agent.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CLOSE_SERVICE_RESTART,
    CLOSE_TOO_BIG,
    HELLO_TIMEOUT_S,
    MAX_CHUNK,
    REASON_AUTH_TIMEOUT,
    REASON_INVALID_CREDENTIAL,
    REASON_REPLACED,
    REASON_REVOKED,
    Ack,
    Events,
    Heartbeat,
    Hello,
    Metrics,
    ProtocolError,
    Rotate,
    Rotated,
    State,
    StreamClose,
    StreamCredit,
    StreamError,
    StreamOpened,
    Welcome,
    encode,
    parse_agent_message,
)
from dockyard.agent.relay import (
    CLOSE_OFFLINE,
    CLOSE_UNAVAILABLE,
    RELAY_HEADER,
    RelayRefusedError,
    check_relay_token,
    first_done,
    relay_client,
    relay_token,
    serve_relay,
)
from dockyard.engine.addresses import (
    add_agent_socket_dir,
    agent_host,
    agent_socket_path,
    remove_agent_socket_dir,
)
from dockyard.kit.clock import utcnow
from dockyard.metrics.ingest import MetricsIngest
from dockyard.settings import Settings
from dockyard.system import replicas

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

log = structlog.get_logger(__name__)

LAST_SEEN_PERSIST_S = 30.0
PRESENCE_EVENT = "agent.presence"
PRESENCE_REFRESH_S = 5.0
FAILOVER_WAIT_S = 10.0
TUNNEL_ERROR_HEADER = "X-Dockyard-Tunnel-Error"  # node_offline | engine_unavailable
# Reading the request of a client we answer ourselves (offline node): bounded in size/time.
_REQUEST_READ_TIMEOUT_S = 2.0
_REQUEST_MAX_BYTES = 1024 * 1024


class AgentSessionInfo(BaseModel):
    """What the server knows about a connected agent."""

    node_id: int
    agent_version: str
    connected_at: datetime
    last_seen: datetime
    remote_addr: str | None = None
    docker_host: str | None = None  # the agent's own engine URL, as it reports it
    hostname: str | None = None
    replica: str | None = None  # the server replica holding its WebSocket


@dataclass
class _Presence:
    """An agent connected to another server replica, as this process last heard."""

    replica: str
    connected_at: datetime | None
    agent_version: str | None = None
    docker_host: str | None = None
    hostname: str | None = None
    heard_at: datetime = field(default_factory=utcnow)


class AgentAuthError(Exception):
    """A hello the server refuses (closed with 1008 and `reason`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Session:
    node_id: int
    ws: WebSocket
    hello: Hello
    remote_addr: str | None
    connected_at: datetime
    connected_mono: float
    last_rx: float
    mux: Mux = field(init=False)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end_code: int = CLOSE_NORMAL
    end_reason: str = ""
    rotations: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    listening_ports: set[int] | None = None

    def __post_init__(self) -> None:
        self.mux = Mux(self.send_text, self.send_bytes)

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            await self.ws.send_text(text)

    async def send_bytes(self, data: bytes) -> None:
        async with self.send_lock:
            await self.ws.send_bytes(data)

    def end(self, code: int, reason: str) -> None:
        """Ask `serve` to close this session (first caller's code and reason win)."""
        if not self.ended.is_set():
            self.end_code, self.end_reason = code, reason
            self.ended.set()

    def last_seen(self) -> datetime:
        return utcnow() - timedelta(seconds=max(0.0, time.monotonic() - self.last_rx))


@dataclass
class _NodeEntry:
    name: str
    last_seen: datetime | None
    server: asyncio.AbstractServer | None = None
    session: _Session | None = None
    clients: set[asyncio.Task[None]] = field(default_factory=set)


class AgentHub:
    """Connected agents, their tunnels and their liveness."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hello_timeout_s = HELLO_TIMEOUT_S
        self._runtime: Runtime | None = None
        self._nodes: dict[int, _NodeEntry] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._metrics = MetricsIngest()
        self._socket_dir: Path | None = None
        self.replica_id: str | None = None  # set when this process accepts agents (serve)
        self._remote: dict[int, _Presence] = {}
        self._replicas: dict[str, str] = {}  # live replica id -> url
        self._unreachable: dict[str, float] = {}  # replica id -> when a relay to it failed
        self._presence_epoch = 0  # bumped by every presence event (see `refresh`)
        self._heartbeat: asyncio.Task[None] | None = None
        self._peer_ssl: ssl.SSLContext | None = None  # made on the first relay over https

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def heartbeat_s(self) -> float:
        return float(self.settings.agent_heartbeat_s)

    # ---------------------------------------------------------------- public interface

    def socket_path(self, node_id: int) -> Path:
        """Where this process's hub listens for Docker clients of node `node_id`."""
        return agent_socket_path(node_id, self._socket_dir)

    def socket_url(self, node_id: int) -> str:
        """The Docker host URL `agent://node-<id>` resolves to in this process."""
        return f"unix://{self.socket_path(node_id)}"

    def _live(self, node_id: int) -> _Session | None:
        entry = self._nodes.get(node_id)
        session = entry.session if entry is not None else None
        if session is None or session.ended.is_set():
            return None
        if time.monotonic() - session.last_rx > 2 * self.heartbeat_s:
            return None
        return session

    def _remote_owner(self, node_id: int) -> tuple[str, str] | None:
        """(replica id, url) of the live replica holding the node's agent, if not this one."""
        presence = self._remote.get(node_id)
        if presence is None or presence.replica == self.replica_id:
            return None
        failed = self._unreachable.get(presence.replica)
        if failed is not None and time.monotonic() - failed < replicas.STALE_S:
            return None  # it did not answer: dead, its heartbeat not stale yet
        url = self._replicas.get(presence.replica)
        return (presence.replica, url) if url else None

    def is_online(self, node_id: int) -> bool:
        """True while the node's agent is connected (here, heard within 2 heartbeats, or
        to another live server replica)."""
        return self._live(node_id) is not None or self._remote_owner(node_id) is not None

    def session_info(self, node_id: int) -> AgentSessionInfo | None:
        """The connected agent's session, or None when it is offline."""
        session = self._live(node_id)
        if session is None:
            owner = self._remote_owner(node_id)
            presence = self._remote.get(node_id)
            if owner is None or presence is None:
                return None
            return AgentSessionInfo(
                node_id=node_id,
                agent_version=presence.agent_version or "",
                connected_at=presence.connected_at or presence.heard_at,
                last_seen=presence.heard_at,
                docker_host=presence.docker_host,
                hostname=presence.hostname,
                replica=owner[0],
            )
        return AgentSessionInfo(
            node_id=node_id,
            agent_version=session.hello.agent_version,
            connected_at=session.connected_at,
            last_seen=session.last_seen(),
            remote_addr=session.remote_addr,
            docker_host=session.hello.docker_host or None,
            hostname=session.hello.hostname or None,
            replica=self.replica_id,
        )

    def listening_ports(self, node_id: int) -> set[int] | None:
        """Host TCP ports in use on the agent's host (from its last metrics), if known."""
        session = self._live(node_id)
        if session is None or session.listening_ports is None:
            return None
        return set(session.listening_ports)

    async def disconnect(self, node_id: int, reason: str) -> bool:
        """Close the node's agent connection at once (revoke, rotate); True if one was open.

        A revoked or invalid credential closes with 1008 (the agent stops for good)."""
        entry = self._nodes.get(node_id)
        session = entry.session if entry is not None else None
        if session is None or session.ended.is_set():
            return False
        final = reason in (REASON_REVOKED, REASON_INVALID_CREDENTIAL)
        session.end(CLOSE_POLICY_VIOLATION if final else CLOSE_NORMAL, reason)
        # Let `serve` run its close now, so "at once" holds for the caller.
        for _ in range(50):
            if entry is None or entry.session is not session:
                break
            await asyncio.sleep(0.01)
        return True

    async def hand_off(self) -> bool:
        """Shutting down with another server replica alive: move this replica's agents
        there now (1012: they reconnect at once) and only relay from then on, so jobs still
        finishing here reach their nodes through the new holders. False, and nothing done,
        when this is the only live replica (its agents stay until `close`)."""
        runtime = self._runtime
        if runtime is None or self.replica_id is None:
            return False
        try:
            live = await replicas.alive(runtime.db)
            if not set(live) - {self.replica_id}:
                return False
            if self._heartbeat is not None:
                self._heartbeat.cancel()
            await replicas.deregister(runtime.db, self.replica_id)
        except Exception as exc:  # the database is away: agents leave at `close`
            log.warning("agent_hand_off_failed", error=str(exc)[:200])
            return False
        self._replicas = {k: v for k, v in live.items() if k != self.replica_id}
        moving = [e.session for e in self._nodes.values() if e.session is not None]
        for session in moving:
            session.end(CLOSE_SERVICE_RESTART, "server shutting down")
        log.info("agents_handed_off", agents=len(moving), replicas=len(self._replicas))
        return True

    async def close(self) -> None:
        """Close every agent connection (1012: reconnect, to another replica if there is one)
        and tunnel listener; give up this replica's registration."""
        self._closing = True
        sessions = [e.session for e in self._nodes.values() if e.session is not None]
        for session in sessions:
            session.end(CLOSE_SERVICE_RESTART, "server shutting down")
        for node_id in list(self._nodes):
            await self._stop_listener(node_id, self._nodes[node_id])
        self._nodes.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runtime is not None and self.replica_id is not None:
            with contextlib.suppress(Exception):
                await self._release_all()
                await replicas.deregister(self._runtime.db, self.replica_id)
        if self._socket_dir is not None:
            remove_agent_socket_dir(self._socket_dir)
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    # ---------------------------------------------------------------- node registry

    async def start(self, runtime: Runtime, *, accept_agents: bool) -> None:
        """Listen on this process's tunnel socket of every agent node.

        `accept_agents` (a `serve` replica): also register as a replica and run the
        sessions' housekeeping. Other processes (worker, beat) only relay."""
        self._runtime = runtime
        self._socket_dir = _make_socket_dir(Path(self.settings.data_dir))
        add_agent_socket_dir(self._socket_dir)
        if accept_agents:
            self.replica_id = runtime.runner_id
            await replicas.register(runtime.db, self.replica_id, self.settings.resolved_replica_url)
            self._metrics.runtime = runtime
            self._spawn(self._metrics.run(), "agent-metrics-ingest")
            self._spawn(self._last_seen_loop(), "agent-last-seen")
            self._spawn(self._watchdog(), "agent-watchdog")
            self._heartbeat = self._spawn(self._replica_heartbeat(), "replica-heartbeat")
        await self.refresh()
        self._spawn(self._refresh_loop(), "agent-presence-refresh")
        self._spawn(self._follow_presence(), "agent-presence-events")

    # ---------------------------------------------------------------- presence across replicas

    async def refresh(self) -> None:
        """Re-read agent nodes, their owners and the live replicas from the database: new
        nodes get listeners, deleted ones lose them."""
        from dockyard.nodes import repository

        runtime = self._runtime
        if runtime is None:
            return
        epoch = self._presence_epoch
        live = await replicas.alive(runtime.db)
        async with runtime.db.read_session() as session:
            nodes = await repository.list_agents(session)
        self._replicas = live
        remote: dict[int, _Presence] = {}
        for node in nodes:
            if node.agent_replica and node.agent_replica != self.replica_id:
                remote[node.id] = _Presence(
                    replica=node.agent_replica,
                    connected_at=node.agent_connected_at,
                    agent_version=node.agent_version,
                    docker_host=node.agent_docker_host,
                    hostname=node.agent_hostname,
                )
        if epoch == self._presence_epoch:  # else an event is newer than what was read
            self._remote = remote
        known = {node.id for node in nodes}
        for node in nodes:
            entry = self._nodes.get(node.id)
            if entry is None or entry.server is None:
                await self.add_node(node.id, node.name, node.last_seen)
            await self._sync_watcher(node.id)
        for node_id in [n for n in self._nodes if n not in known]:
            entry = self._nodes[node_id]
            if entry.session is None:  # deleted by another process
                await self.remove_node(node_id)
                await runtime.state.remove_node(node_id)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH_S)
            try:
                await self.refresh()
            except Exception as exc:  # the database being away must not end the loop
                log.warning("agent_presence_refresh_failed", error=str(exc)[:200])

    async def _replica_heartbeat(self) -> None:
        assert self._runtime is not None
        assert self.replica_id is not None
        while True:
            await asyncio.sleep(replicas.HEARTBEAT_S)
            try:
                await replicas.heartbeat(
                    self._runtime.db, self.replica_id, self.settings.resolved_replica_url
                )
            except Exception as exc:
                log.warning("replica_heartbeat_failed", error=str(exc)[:200])

    async def _follow_presence(self) -> None:
        """Apply other replicas' `agent.presence` events at once (the refresh catches up
        on any missed)."""
        assert self._runtime is not None
        async with self._runtime.events.subscribe() as subscription:
            while True:
                event = await subscription.get()
                if event.type != PRESENCE_EVENT or event.origin is None:
                    continue
                data = event.data
                try:
                    node_id, replica = int(data["node_id"]), str(data["replica"])
                except (KeyError, TypeError, ValueError):
                    continue
                if replica == self.replica_id:
                    continue
                if node_id not in self._nodes:  # created by another process: listen now
                    with contextlib.suppress(Exception):  # else the periodic refresh will
                        await self.refresh()
                self._presence_epoch += 1
                if data.get("online"):
                    self._unreachable.pop(replica, None)
                    self._remote[node_id] = _Presence(
                        replica=replica,
                        connected_at=utcnow(),
                        agent_version=data.get("agent_version"),
                        docker_host=data.get("docker_host"),
                        hostname=data.get("hostname"),
                    )
                    if replica not in self._replicas and data.get("replica_url"):
                        self._replicas[replica] = str(data["replica_url"])
                else:
                    current = self._remote.get(node_id)
                    if current is None or current.replica != replica:
                        continue
                    del self._remote[node_id]
                await self._sync_watcher(node_id, restart=True)

    async def _sync_watcher(self, node_id: int, *, restart: bool = False) -> None:
        """The node's state watcher takes pushes while its agent is connected here or
        nowhere (idle), and follows the engine through the tunnel while another replica
        holds the agent. `restart`: a follower waiting out its backoff reconnects now."""
        runtime = self._runtime
        if runtime is None or self._closing:
            return
        follow = self._live(node_id) is None and self._remote_owner(node_id) is not None
        watcher = await runtime.state.add_node(node_id, agent_host(node_id), push=not follow)
        if restart and follow and not watcher.connected:
            await runtime.state.restart_node(node_id)

    async def _claim(self, node_id: int, hello: Hello) -> None:
        """Record that this replica holds the node's agent, and tell the other processes."""
        from dockyard.nodes import repository

        assert self._runtime is not None
        now = utcnow()
        try:
            async with self._runtime.db.session() as session:
                await repository.set_agent_replica(session, node_id, self.replica_id, now)
                await session.commit()
        except Exception as exc:  # peers learn it from the event and the next refresh
            log.warning("agent_claim_not_saved", node_id=node_id, error=str(exc)[:200])
        self._runtime.events.publish(
            PRESENCE_EVENT,
            {
                "node_id": node_id,
                "replica": self.replica_id,
                "replica_url": self.settings.resolved_replica_url,
                "online": True,
                "agent_version": hello.agent_version,
                "docker_host": hello.docker_host or None,
                "hostname": hello.hostname or None,
            },
        )

    async def _release(self, node_id: int) -> None:
        """This replica no longer holds the node's agent (unless another already claimed)."""
        from dockyard.nodes import repository

        assert self._runtime is not None
        try:
            async with self._runtime.db.session() as session:
                await repository.clear_agent_replica(session, node_id, self.replica_id)
                await session.commit()
        except Exception as exc:
            log.warning("agent_release_not_saved", node_id=node_id, error=str(exc)[:200])
        self._runtime.events.publish(
            PRESENCE_EVENT, {"node_id": node_id, "replica": self.replica_id, "online": False}
        )

    async def _release_all(self) -> None:
        from dockyard.nodes import repository

        assert self._runtime is not None
        async with self._runtime.db.session() as session:
            await repository.clear_agent_replica(session, None, self.replica_id)
            await session.commit()

    async def add_node(self, node_id: int, name: str, last_seen: datetime | None) -> None:
        """Start the node's tunnel listener (idempotent)."""
        entry = self._nodes.get(node_id)
        if entry is None:
            entry = self._nodes[node_id] = _NodeEntry(name=name, last_seen=last_seen)
        entry.name = name
        if entry.server is not None or self._runtime is None:
            return
        path = self.socket_path(node_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                entry.clients.add(task)
            try:
                await self._serve_client(node_id, reader, writer)
            finally:
                if task is not None:
                    entry.clients.discard(task)

        try:
            entry.server = await asyncio.start_unix_server(on_client, path=str(path))
        except OSError as exc:
            log.error("agent_tunnel_listen_failed", node_id=node_id, path=str(path), error=str(exc))
            return
        # The folder is 0700 already; the socket itself is the server user's alone too.
        path.chmod(0o600)

    def rename_node(self, node_id: int, name: str) -> None:
        entry = self._nodes.get(node_id)
        if entry is not None:
            entry.name = name

    async def remove_node(self, node_id: int) -> None:
        """Stop the node's listener and drop it (after `disconnect`)."""
        entry = self._nodes.pop(node_id, None)
        if entry is not None:
            if entry.session is not None:
                entry.session.end(CLOSE_POLICY_VIOLATION, REASON_REVOKED)
            await self._stop_listener(node_id, entry)

    async def _stop_listener(self, node_id: int, entry: _NodeEntry) -> None:
        server, entry.server = entry.server, None
        if server is not None:
            server.close()
        for task in list(entry.clients):
            task.cancel()
        if entry.clients:
            await asyncio.gather(*entry.clients, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path(node_id).unlink()

    # ---------------------------------------------------------------- credential rotation

    async def rotate_credential(
        self, node_id: int, credential: str, timeout_s: float = 10.0
    ) -> bool:
        """Send `credential` to the online agent; True once it confirms it stored it."""
        session = self._live(node_id)
        if session is None:
            return False
        request_id = uuid.uuid4().hex
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        session.rotations[request_id] = future
        try:
            await session.send_text(encode(Rotate(request_id=request_id, credential=credential)))
            await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except (TimeoutError, ConnectionError, RuntimeError, WebSocketDisconnect):
            return False
        finally:
            session.rotations.pop(request_id, None)
        return True

    # ---------------------------------------------------------------- the WebSocket

    async def serve(self, ws: WebSocket, remote_addr: str | None) -> None:
        """Run one agent connection from accept to close."""
        await ws.accept()
        try:
            hello = await self._receive_hello(ws)
            node_id = await self._authenticate(hello, remote_addr)
        except ProtocolError as exc:
            await _close(ws, exc.close_code, exc.message)
            return
        except AgentAuthError as exc:
            log.warning("agent_rejected", remote_addr=remote_addr, reason=exc.reason)
            await _close(ws, CLOSE_POLICY_VIOLATION, exc.reason)
            return
        except WebSocketDisconnect:
            return
        except Exception as exc:  # the database is busy or away: the agent tries again
            log.warning("agent_hello_failed", remote_addr=remote_addr, error=str(exc)[:200])
            await _close(ws, CLOSE_INTERNAL_ERROR, "server busy, try again")
            return
        now = time.monotonic()
        session = _Session(
            node_id=node_id,
            ws=ws,
            hello=hello,
            remote_addr=remote_addr,
            connected_at=utcnow(),
            connected_mono=now,
            last_rx=now,
        )
        entry = self._nodes.get(node_id)
        if entry is None:
            # A node created by another server process: take it on now.
            entry = self._nodes[node_id] = _NodeEntry(name=f"#{node_id}", last_seen=None)
            await self._refresh_entry(node_id, entry)
        previous, entry.session = entry.session, session
        if previous is not None:
            previous.end(CLOSE_NORMAL, REASON_REPLACED)
        self._remote.pop(node_id, None)
        await self._claim(node_id, hello)
        log.info(
            "agent_connected",
            node_id=node_id,
            agent_version=hello.agent_version,
            remote_addr=remote_addr,
        )
        tasks: list[asyncio.Task[None]] = []
        try:
            await session.send_text(
                encode(
                    Welcome(
                        node_id=node_id,
                        heartbeat_s=self.heartbeat_s,
                        metrics_interval_s=float(self.settings.metrics_interval),
                        max_frame_bytes=self.settings.agent_max_frame_bytes,
                        acked_seq=hello.last_acked_seq,
                    )
                )
            )
            watcher = await self._watcher(node_id)
            tasks = [
                asyncio.create_task(self._read_loop(session, watcher), name=f"agent-{node_id}"),
            ]
            await session.ended.wait()
        except (WebSocketDisconnect, ConnectionError, RuntimeError) as exc:
            session.end(CLOSE_GOING_AWAY, str(exc) or "disconnected")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await session.mux.close_all(session.end_reason or "agent disconnected")
            for future in session.rotations.values():
                if not future.done():
                    future.set_exception(ConnectionError("the agent disconnected"))
            await _close(ws, session.end_code, session.end_reason)
            await self._session_ended(node_id, session)

    async def _receive_hello(self, ws: WebSocket) -> Hello:
        try:
            message = await asyncio.wait_for(ws.receive(), self.hello_timeout_s)
        except TimeoutError:
            raise AgentAuthError(REASON_AUTH_TIMEOUT) from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            self._check_size(len(data))
            raise AgentAuthError("the first message must be hello")
        self._check_size(len(text))
        parsed = parse_agent_message(text)
        if not isinstance(parsed, Hello):
            raise AgentAuthError("the first message must be hello")
        return parsed

    def _check_size(self, size: int) -> None:
        if size > self.settings.agent_max_frame_bytes:
            raise ProtocolError(
                f"frame of {size} bytes exceeds {self.settings.agent_max_frame_bytes}",
                close_code=CLOSE_TOO_BIG,
            )

    async def _authenticate(self, hello: Hello, remote_addr: str | None) -> int:
        """The node a hello's credential belongs to; `AgentAuthError` otherwise.

        Read-only unless something changed (a rotated credential confirmed by use, a new
        agent version): a reconnect storm must not queue up database writers."""
        from dockyard.nodes import credentials, repository

        del remote_addr
        node_id = credentials.credential_node_id(hello.credential)
        if node_id is None or self._runtime is None:
            raise AgentAuthError(REASON_INVALID_CREDENTIAL)
        async with self._runtime.db.read_session() as read:
            node = await repository.get(read, node_id)
            if node is None or node.kind != "agent":
                raise AgentAuthError(REASON_INVALID_CREDENTIAL)
            current = credentials.matches(hello.credential, node.credential_hash)
            pending = credentials.matches(hello.credential, node.pending_credential_hash)
            if not (current or pending):
                if node.revoked_at is not None:
                    raise AgentAuthError(REASON_REVOKED)
                raise AgentAuthError(REASON_INVALID_CREDENTIAL)
            reported = (
                hello.agent_version[:64] or None,
                hello.docker_host[:512] or None,
                hello.hostname[:255] or None,
            )
            changed = reported != (node.agent_version, node.agent_docker_host, node.agent_hostname)
            name = node.name
        if pending or changed:
            async with self._runtime.db.session() as session:
                node = await repository.get(session, node_id)
                if node is None:
                    raise AgentAuthError(REASON_INVALID_CREDENTIAL)
                now = utcnow()
                if pending:
                    if node.pending_credential_hash != credentials.hash_secret(hello.credential):
                        raise AgentAuthError(REASON_INVALID_CREDENTIAL)  # revoked meanwhile
                    # The agent stored a rotated credential whose confirmation got lost.
                    node.credential_hash = node.pending_credential_hash
                    node.pending_credential_hash = None
                    node.credential_rotated_at = now
                node.agent_version, node.agent_docker_host, node.agent_hostname = reported
                node.last_seen = now
                await session.commit()
        entry = self._nodes.get(node_id)
        if entry is not None:
            entry.name = name
        return node_id

    async def _refresh_entry(self, node_id: int, entry: _NodeEntry) -> None:
        from dockyard.nodes import repository

        if self._runtime is None:
            return
        async with self._runtime.db.read_session() as session:
            node = await repository.get(session, node_id)
        if node is not None:
            await self.add_node(node_id, node.name, node.last_seen)

    async def _watcher(self, node_id: int) -> Any:
        if self._runtime is None:
            return None
        return await self._runtime.state.add_node(node_id, agent_host(node_id), push=True)

    async def _read_loop(self, session: _Session, watcher: Any) -> None:
        ws = session.ws
        state_task: asyncio.Task[None] | None = None
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    session.end(CLOSE_GOING_AWAY, "agent disconnected")
                    return
                session.last_rx = time.monotonic()
                data = message.get("bytes")
                if data is not None:
                    self._check_size(len(data))
                    await session.mux.feed_bytes(data)
                    continue
                text = message.get("text") or ""
                self._check_size(len(text))
                msg = parse_agent_message(text)
                if isinstance(msg, StreamOpened | StreamError | StreamCredit | StreamClose):
                    await session.mux.feed_text(msg)
                elif isinstance(msg, Heartbeat):
                    pass
                elif isinstance(msg, Events):
                    if watcher is not None and msg.items:
                        watcher.apply_events([item.event for item in msg.items])
                    if msg.items:
                        await session.send_text(encode(Ack(seq=msg.items[-1].seq)))
                elif isinstance(msg, State):
                    if state_task is not None:
                        state_task.cancel()
                    if watcher is not None:
                        state_task = asyncio.create_task(
                            self._apply_state(session, watcher, msg.containers)
                        )
                elif isinstance(msg, Metrics):
                    session.listening_ports = set(msg.sample.host.listening_ports)
                    self._metrics.put(session.node_id, msg.sample)
                elif isinstance(msg, Rotated):
                    future = session.rotations.get(msg.request_id)
                    if future is not None and not future.done():
                        future.set_result(None)
                else:  # a second hello
                    raise ProtocolError("hello sent twice")
                # Not kept until this agent's next message (5 s later): a 100-container
                # sample would age into the collector's oldest generation meanwhile.
                del msg
        except ProtocolError as exc:
            log.warning("agent_protocol_error", node_id=session.node_id, error=exc.message)
            session.end(exc.close_code, exc.message[:120])
        except (WebSocketDisconnect, ConnectionError, RuntimeError) as exc:
            session.end(CLOSE_GOING_AWAY, str(exc)[:120] or "agent disconnected")
        finally:
            if state_task is not None:
                state_task.cancel()

    async def _apply_state(self, session: _Session, watcher: Any, containers: list[Any]) -> None:
        try:
            await watcher.apply_state(containers)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("agent_state_failed", node_id=session.node_id, error=str(exc))

    async def _watchdog(self) -> None:
        """One loop for every session: an agent silent for two heartbeats is disconnected."""
        tick = max(0.05, min(1.0, self.heartbeat_s / 4))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for entry in list(self._nodes.values()):
                session = entry.session
                if session is None or session.ended.is_set():
                    continue
                if now - session.last_rx > 2 * self.heartbeat_s:
                    log.info("agent_heartbeat_missed", node_id=session.node_id)
                    session.end(CLOSE_GOING_AWAY, "heartbeat timeout")

    async def _persist_last_seen(self, seen: dict[int, datetime]) -> None:
        """Store nodes' last-seen times, all in one transaction."""
        from dockyard.nodes import repository

        for node_id, at in seen.items():
            entry = self._nodes.get(node_id)
            if entry is not None:
                entry.last_seen = at
        if self._runtime is None or not seen:
            return
        try:
            async with self._runtime.db.session() as session:
                await repository.touch_last_seen(session, seen)
                await session.commit()
        except Exception as exc:  # the database being away must not end any session
            log.warning("agent_last_seen_not_saved", nodes=len(seen), error=str(exc))

    async def _last_seen_loop(self) -> None:
        """Every `LAST_SEEN_PERSIST_S`, store the connected agents' last-seen times."""
        while True:
            await asyncio.sleep(LAST_SEEN_PERSIST_S)
            seen = {
                node_id: entry.session.last_seen()
                for node_id, entry in self._nodes.items()
                if entry.session is not None and not entry.session.ended.is_set()
            }
            await self._persist_last_seen(seen)

    async def _session_ended(self, node_id: int, session: _Session) -> None:
        entry = self._nodes.get(node_id)
        if entry is None or entry.session is not session:
            return  # replaced by a newer session (or the node is gone)
        entry.session = None
        last_seen = entry.last_seen = session.last_seen()
        log.info("agent_disconnected", node_id=node_id, reason=session.end_reason)
        if self._runtime is not None and not self._closing:
            watcher = self._runtime.state.watcher(node_id)
            if watcher is not None and watcher.push:
                watcher.source_lost(f"the agent disconnected: {session.end_reason}")
            await self._release(node_id)
            await self._sync_watcher(node_id)
        await self._persist_last_seen({node_id: last_seen})

    # ---------------------------------------------------------------- the tunnel

    async def _serve_client(
        self, node_id: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One Docker client connection: a stream to the agent, or a 503 when offline."""
        try:
            session = self._live(node_id)
            if session is None:
                owner = self._remote_owner(node_id)
                if owner is not None:
                    await self._relay(node_id, owner, reader, writer)
                    return
                await _answer(reader, writer, self._offline_message(node_id), "node_offline")
                return
            await self._pipe_to_session(node_id, session, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _pipe_to_session(
        self,
        node_id: int,
        session: _Session,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """A stream of the agent's WebSocket held here, piped to the client."""
        try:
            stream = await session.mux.open_stream()
        except StreamOpenError as exc:
            if self._live(node_id) is None:  # the agent went away meanwhile
                message, kind = self._offline_message(node_id), "node_offline"
            else:
                message, kind = f"Node {self._name(node_id)}: {exc}", "engine_unavailable"
            await _answer(reader, writer, message, kind)
            return
        await _pipe(reader, writer, stream)

    async def _relay(
        self,
        node_id: int,
        owner: tuple[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Pipe a client through the replica holding the agent, or answer 503 if it can't.

        When that replica does not answer (it died), the agent is on its way to another
        one: wait up to `FAILOVER_WAIT_S` for it to show up (here or on a peer) before
        answering that the node is offline, so a job in flight survives a replica's death."""
        assert self._runtime is not None
        deadline = time.monotonic() + FAILOVER_WAIT_S
        tried: set[str] = set()
        target: tuple[str, str] | None = owner
        while target is not None:
            tried.add(target[0])
            token = relay_token(self._runtime.auth.secret, node_id)
            try:
                context = self._relay_ssl() if target[1].startswith("https:") else None
                await relay_client(target[1], node_id, token, reader, writer, context)
                return
            except RelayRefusedError as exc:
                if exc.kind == "unavailable":
                    message = f"Node {self._name(node_id)}: {exc}"
                    await _answer(reader, writer, message, "engine_unavailable")
                    return
                if exc.kind == "offline":  # the owner's own message names the node
                    self._drop_presence(node_id, target[0])
                    await _answer(reader, writer, str(exc), "node_offline")
                    return
                log.warning("agent_relay_replica_gone", node_id=node_id, replica=target[0])
                self._unreachable[target[0]] = time.monotonic()
                gone = f"Node {self._name(node_id)} is offline: {exc}."
            target = None
            while time.monotonic() < deadline:
                session = self._live(node_id)
                if session is not None:  # it came back here
                    await self._pipe_to_session(node_id, session, reader, writer)
                    return
                moved = self._remote_owner(node_id)
                if moved is not None and moved[0] not in tried:
                    target = moved
                    break
                await asyncio.sleep(0.2)
        await _answer(reader, writer, gone, "node_offline")

    def _drop_presence(self, node_id: int, replica: str) -> None:
        presence = self._remote.get(node_id)
        if presence is not None and presence.replica == replica:
            del self._remote[node_id]  # until an event or the refresh says otherwise

    def _relay_ssl(self) -> ssl.SSLContext:
        """Peers over https: the system CAs, plus this installation's own certificate.

        Made once: loading the CA bundle takes about 20 ms of CPU (on the event loop), and a
        follower relays every Docker call it makes to a node held elsewhere."""
        if self._peer_ssl is None:
            context = ssl.create_default_context()
            if self.settings.tls_cert:
                with contextlib.suppress(OSError, ssl.SSLError):
                    context.load_verify_locations(cafile=str(self.settings.tls_cert))
            self._peer_ssl = context
        return self._peer_ssl

    async def serve_relay(self, ws: WebSocket, node_id: int) -> None:
        """A peer replica's relay of one tunnel connection to an agent connected here."""
        token = ws.headers.get(RELAY_HEADER, "")
        if self._runtime is None or not check_relay_token(
            self._runtime.auth.secret, node_id, token
        ):
            await ws.close(code=CLOSE_POLICY_VIOLATION)  # before accept: HTTP 403
            return
        await ws.accept()
        session = self._live(node_id)
        if session is None:
            await _close(ws, CLOSE_OFFLINE, self._offline_message(node_id))
            return
        try:
            stream = await session.mux.open_stream()
        except StreamOpenError as exc:
            await _close(ws, CLOSE_UNAVAILABLE, str(exc))
            return
        await serve_relay(ws, stream)

    def _name(self, node_id: int) -> str:
        entry = self._nodes.get(node_id)
        return entry.name if entry is not None else f"#{node_id}"

    def _offline_message(self, node_id: int) -> str:
        entry = self._nodes.get(node_id)
        name = self._name(node_id)
        session = entry.session if entry is not None else None
        seen = session.last_seen() if session is not None else (entry.last_seen if entry else None)
        if seen is None:
            return f"Node {name} is offline: its agent has never connected."
        stamp = seen.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return f"Node {name} is offline: its agent was last seen {stamp}."


def _make_socket_dir(data_dir: Path) -> Path:
    """This hub's own folder of tunnel sockets (0700), `<data dir>/agents/<pid>.<n>` (or
    under the temp dir when that path is too long for a socket); dead processes' are removed."""
    parent = data_dir / "agents"
    if len(str(parent.resolve())) > 80:
        parent = Path(tempfile.gettempdir()) / f"dockyard-agents-{os.getuid()}"
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    parent.chmod(0o700)
    for child in parent.iterdir():
        pid = child.name.partition(".")[0]
        if child.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith("node-") and child.name.endswith(".sock"):
            child.unlink(missing_ok=True)  # a previous version's shared sockets
    for n in itertools.count():
        folder = parent / f"{os.getpid()}.{n}"
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            return folder
    raise AssertionError("unreachable")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await ws.close(code=code, reason=reason[:120])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: Stream) -> None:
    async def upstream() -> None:
        while True:
            data = await reader.read(MAX_CHUNK)
            if not data:
                return
            await stream.write(data)

    async def downstream() -> None:
        async for chunk in stream:
            writer.write(chunk)
            await writer.drain()

    try:
        await first_done(upstream(), downstream())
    finally:
        await stream.close()


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: str, kind: str
) -> None:
    """Read the client's request (bounded), then answer 503 with `message` and close."""
    try:
        head = await asyncio.wait_for(
            reader.readuntil(b"\r\n\r\n"), timeout=_REQUEST_READ_TIMEOUT_S
        )
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                with contextlib.suppress(ValueError):
                    length = int(value.strip())
        if 0 < length <= _REQUEST_MAX_BYTES:
            await asyncio.wait_for(reader.readexactly(length), timeout=_REQUEST_READ_TIMEOUT_S)
        elif b"transfer-encoding: chunked" in head.lower():
            await asyncio.wait_for(_drain_chunked(reader), timeout=_REQUEST_READ_TIMEOUT_S)
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    body = json.dumps({"message": message}).encode()
    writer.write(
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n{TUNNEL_ERROR_HEADER}: {kind}\r\n".encode()
        + b"Connection: close\r\n\r\n"
        + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()


async def _drain_chunked(reader: asyncio.StreamReader) -> None:
    """Read a chunked request body up to its last chunk (bounded by `_REQUEST_MAX_BYTES`)."""
    seen = 0
    tail = b""
    while seen <= _REQUEST_MAX_BYTES:
        data = await reader.read(65536)
        if not data:
            return
        seen += len(data)
        tail = (tail + data)[-5:]
        if tail == b"0\r\n\r\n":
            return
