"""The Dockyard agent: enrolls, dials out to the server, tunnels Docker API streams to its
own engine through the guard, and reports engine events, state and metrics.

Lean on purpose (it runs on every managed host): stdlib, Pydantic, websockets and the
agent's own modules; no FastAPI, SQLAlchemy, docker-py or the server app. Metrics come
from `dockyard.metrics.collector` when it can be imported.

Exit codes: 0 stopped by a signal, 1 unexpected failure, 2 bad configuration,
3 rejected by the server (invalid or revoked credential, refused enrollment): final, the
agent does not retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import random
import re
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from dockyard.agent import protocol as p
from dockyard.agent.engine import AgentEngine, AgentEngineError
from dockyard.agent.guard import DOCKER_SOCKETS, Guard, Policy
from dockyard.agent.journal import EventJournal, atomic_write
from dockyard.agent.mux import Mux, Stream, StreamRefusedError
from dockyard.agent.tunnel import pipe

log = logging.getLogger("dockyard.agent")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_REJECTED = 3

CREDENTIAL_FILE = "agent.json"
JOURNAL_FILE = "events.json"
EVENT_FILTERS = {"type": ["container", "image"]}
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_SESSION_S = 60.0
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


def agent_version() -> str:
    from dockyard import __version__

    return __version__


class AgentRejectedError(Exception):
    """The server refused this agent for good (exit code 3)."""


class AgentConfigError(Exception):
    """The agent cannot start with this configuration (exit code 2)."""


# ------------------------------------------------------------------------------------------
# configuration and credentials


@dataclass
class AgentOptions:
    data_dir: Path
    server: str | None = None  # one URL, or several separated by commas (server replicas)
    token: str | None = None
    docker_host: str = "unix:///var/run/docker.sock"
    allowed_bind_roots: list[str] = field(default_factory=list)
    allow_privileged: bool = False
    allow_build: bool = False
    hostname: str = field(default_factory=socket.gethostname)


@dataclass
class StoredCredential:
    server: str  # the first of `servers` (what older agents stored)
    node_id: int
    credential: str
    fingerprint: str | None = None
    servers: list[str] = field(default_factory=list)

    def urls(self) -> list[str]:
        """The server URLs to try, in order."""
        return self.servers or [self.server]

    @classmethod
    def load(cls, data_dir: Path) -> StoredCredential | None:
        path = data_dir / CREDENTIAL_FILE
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise AgentConfigError(f"cannot read {path}: {exc}") from exc
        try:
            return cls(
                server=str(doc["server"]),
                node_id=int(doc["node_id"]),
                credential=str(doc["credential"]),
                fingerprint=doc.get("fingerprint") or None,
                servers=[str(url) for url in doc.get("servers") or []],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AgentConfigError(f"{path} is not a valid agent credential file") from exc

    def save(self, data_dir: Path) -> None:
        doc = {
            "server": self.server,
            "node_id": self.node_id,
            "credential": self.credential,
            "fingerprint": self.fingerprint,
            "servers": self.urls(),
        }
        atomic_write(data_dir / CREDENTIAL_FILE, json.dumps(doc, indent=2) + "\n", mode=0o600)


def split_token(token: str) -> tuple[str, str | None]:
    """`(token, fingerprint)`: the fingerprint a TLS server appends after a dot, if any."""
    token = token.strip()
    if not token.startswith("dye_"):
        raise AgentConfigError("the enrollment token must start with dye_")
    _, dot, fp = token.partition(".")
    if dot:
        if not _FINGERPRINT.match(fp):
            raise AgentConfigError("the enrollment token's certificate fingerprint is malformed")
        return token, fp
    return token, None


def normalize_server(server: str) -> str:
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentConfigError(f"--server must be an http:// or https:// URL, not {server!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def split_servers(value: str) -> list[str]:
    """`--server` values: one URL or several separated by commas, normalized, no repeats."""
    urls: list[str] = []
    for part in value.split(","):
        if part.strip():
            url = normalize_server(part)
            if url not in urls:
                urls.append(url)
    if not urls:
        raise AgentConfigError("--server names no URL")
    return urls


def ws_url(server: str) -> str:
    parts = urlsplit(server)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + p.WS_PATH, "", ""))


def ssl_context(server: str, fingerprint: str | None) -> ssl.SSLContext | None:
    """None for http; a pinning context (no CA) with a fingerprint; else the system CAs."""
    if urlsplit(server).scheme != "https":
        return None
    if fingerprint:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the pin below is the check
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx
    return ssl.create_default_context()


def check_pin(ssl_object: Any, fingerprint: str | None) -> None:
    """Raise unless the peer certificate's SHA-256 is the pinned fingerprint."""
    if not fingerprint:
        return
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise AgentRejectedError("the server presented no certificate")
    seen = hashlib.sha256(der).hexdigest()
    if not hmac.compare_digest(seen, fingerprint):
        raise AgentRejectedError(
            f"the server's certificate fingerprint {seen} does not match the pinned {fingerprint}"
        )


# ------------------------------------------------------------------------------------------
# enrollment


async def enroll(options: AgentOptions) -> StoredCredential:
    """Trade the one-time token for this node's credential, over a pinned connection."""
    if not options.server or not options.token:
        raise AgentConfigError(
            f"no credential in {options.data_dir / CREDENTIAL_FILE}: "
            "enroll first with --server URL --token TOKEN"
        )
    servers = split_servers(options.server)
    token, fingerprint = split_token(options.token)
    body = {
        "token": token,
        "agent_version": agent_version(),
        "docker_host": options.docker_host,
        "hostname": options.hostname,
    }
    # Any replica enrolls; one that cannot be reached hands over to the next.
    for index, server in enumerate(servers):
        try:
            status, doc = await _post_json(server, p.ENROLL_PATH, body, fingerprint)
            break
        except (OSError, ConnectionError, TimeoutError, ssl.SSLError):
            if index == len(servers) - 1:
                raise
    if status in (400, 401, 403, 404, 409, 410, 422):
        raise AgentRejectedError(f"enrollment refused ({status}): {_error_message(doc)}")
    if status not in (200, 201):
        raise ConnectionError(f"enrollment failed ({status}): {_error_message(doc)}")
    try:
        node_id = int(doc["node_id"])
        credential = str(doc["credential"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConnectionError("the enrollment answer is malformed") from exc
    pin = fingerprint
    if pin is None and urlsplit(server).scheme == "https":
        pin = doc.get("server_fingerprint") or None  # seen over a CA-verified connection
    return StoredCredential(
        server=servers[0], node_id=node_id, credential=credential, fingerprint=pin, servers=servers
    )


async def _post_json(
    server: str, path: str, body: dict[str, Any], fingerprint: str | None
) -> tuple[int, Any]:
    """A minimal HTTP/1.1 POST: the pin is checked on this very connection before the token
    is sent (an HTTP library could not do that)."""
    parts = urlsplit(server)
    https = parts.scheme == "https"
    host = parts.hostname or "localhost"
    port = parts.port or (443 if https else 80)
    ctx = ssl_context(server, fingerprint)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=ctx, server_hostname=host if ctx else None),
        15,
    )
    try:
        if ctx is not None:
            check_pin(writer.get_extra_info("ssl_object"), fingerprint)
        data = json.dumps(body).encode()
        head = (
            f"POST {parts.path.rstrip('/')}{path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"User-Agent: dockyard-agent/{agent_version()}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(-1), 30)
    finally:
        writer.close()
    head_raw, _, payload = raw.partition(b"\r\n\r\n")
    lines = head_raw.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise ConnectionError("the server sent an invalid HTTP answer") from exc
    if any(ln.lower().startswith("transfer-encoding:") and "chunked" in ln.lower() for ln in lines):
        payload = _dechunk(payload)
    try:
        doc = json.loads(payload) if payload.strip() else {}
    except ValueError:
        doc = {"message": payload.decode("utf-8", errors="replace")[:300]}
    return status, doc


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        line, _, rest = data.partition(b"\r\n")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


def _error_message(doc: Any) -> str:
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if doc.get("message"):
            return str(doc["message"])
        if doc.get("detail"):
            return str(doc["detail"])
    return "no details"


# ------------------------------------------------------------------------------------------
# the agent


class Agent:
    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.engine = AgentEngine(options.docker_host)
        sockets = list(DOCKER_SOCKETS)
        if self.engine.socket_path:
            sockets.append(self.engine.socket_path)
        self.policy = Policy(
            allowed_bind_roots=list(options.allowed_bind_roots),
            allow_privileged=options.allow_privileged,
            allow_build=options.allow_build,
            docker_sockets=sockets,
        )
        self.journal = EventJournal(options.data_dir / JOURNAL_FILE)
        self.credential: StoredCredential | None = None
        self._ops: OrderedDict[str, None] = OrderedDict()
        self._changed = asyncio.Event()  # new events or a state to send
        self.state_generation = 0  # bumped when a fresh `state` is due
        self.engine_connected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._ws: ClientConnection | None = None
        self.sessions = 0  # completed handshakes (tests and logs)
        self.server_index = 0  # which of the credential's URLs the next session dials
        self.last_close_code: int | None = None
        self._stop_task: asyncio.Future[None] | None = None
        self.collect: Callable[[Any], Awaitable[Any]] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        if self._ws is not None:
            self._stop_task = asyncio.ensure_future(
                self._ws.close(p.CLOSE_GOING_AWAY, "agent stopping")
            )

    async def run(self) -> int:
        """Run until stopped (0) or rejected (3); configuration problems give 2."""
        try:
            self.options.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            stored = StoredCredential.load(self.options.data_dir)
            if stored is None or self.options.token:
                # A token given again re-enrolls (after an offline rotation wiped the
                # credential); a spent token with a stored credential keeps the stored one.
                try:
                    enrolled = await self._enroll_with_retries()
                except AgentRejectedError as exc:
                    if stored is None:
                        raise
                    log.warning("enrollment refused (%s); using the stored credential", exc)
                    enrolled = None
                if enrolled is not None:
                    enrolled.save(self.options.data_dir)
                    log.info("enrolled as node %s", enrolled.node_id)
                    stored = enrolled
            if stored is None:
                return EXIT_OK  # stopped while enrolling
            if self.options.server:  # the URLs given now win (a replica added or moved)
                urls = split_servers(self.options.server)
                if urls != stored.urls():
                    stored = dataclasses.replace(stored, server=urls[0], servers=urls)
                    stored.save(self.options.data_dir)
            self.credential = stored
        except AgentConfigError as exc:
            log.error("%s", exc)
            return EXIT_CONFIG
        except AgentRejectedError as exc:
            log.error("the server rejected this agent: %s", exc)
            return EXIT_REJECTED
        # Import the metrics collector now, before any connection: a first import inside a
        # session would stall the loop (heartbeats included) on a slow host.
        self.collect = _load_collector()
        watcher = asyncio.create_task(self._watch_engine(), name="agent-engine-events")
        try:
            return await self._connect_loop()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            with contextlib.suppress(OSError):
                self.journal.flush()

    async def _enroll_with_retries(self) -> StoredCredential | None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                return await enroll(self.options)
            except (OSError, ConnectionError, TimeoutError, ssl.SSLError) as exc:
                delay = _backoff(attempt)
                attempt += 1
                log.warning("enrollment failed (%s); retrying in %.1f s", exc, delay)
                await self._sleep(delay)
        return None

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _connect_loop(self) -> int:
        """Sessions until stopped: after a lost one the next URL is dialled; the backoff
        steps once per round of every URL; a server restarting (1012) is left at once."""
        attempt = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            self.last_close_code = None
            try:
                await self._session()
            except AgentRejectedError as exc:
                log.error("the server rejected this agent: %s; not retrying", exc)
                return EXIT_REJECTED
            except (
                OSError,
                ConnectionError,
                TimeoutError,
                InvalidHandshake,
                ConnectionClosed,
                p.ProtocolError,
                ssl.SSLError,
            ) as exc:
                if not self._stopping.is_set():
                    log.warning("connection to the server lost: %s", _describe(exc))
            except Exception:  # never die on a surprise: log it and reconnect
                log.exception("the session failed unexpectedly")
            if self._stopping.is_set():
                break
            urls = self.credential.urls() if self.credential is not None else [""]
            self.server_index = (self.server_index + 1) % len(urls)
            if time.monotonic() - started > STABLE_SESSION_S:
                attempt = 0
            if self.last_close_code == p.CLOSE_SERVICE_RESTART:
                delay = random.uniform(0.1, 0.5)  # noqa: S311 - jitter: not all at once
            else:
                delay = _backoff(attempt // len(urls))
                attempt += 1
            log.info("reconnecting to %s in %.1f s", urls[self.server_index], delay)
            await self._sleep(delay)
        return EXIT_OK

    # -- one connection ---------------------------------------------------------------------------

    async def _session(self) -> None:
        cred = self.credential
        assert cred is not None
        urls = cred.urls()
        server = urls[self.server_index % len(urls)]
        ctx = ssl_context(server, cred.fingerprint)
        try:
            ws = await connect(
                ws_url(server),
                ssl=ctx,
                max_size=p.MAX_FRAME_BYTES,
                ping_interval=None,  # liveness is ours: heartbeats + pings per heartbeat_s
                open_timeout=15,
                close_timeout=5,
                compression=None,
                proxy=None,
                user_agent_header=f"dockyard-agent/{agent_version()}",
            )
        except InvalidStatus as exc:
            code = exc.response.status_code
            if code in (401, 403):
                raise AgentRejectedError(f"the server refused the connection ({code})") from exc
            raise
        self._ws = ws
        try:
            if ctx is not None:
                check_pin(ws.transport.get_extra_info("ssl_object"), cred.fingerprint)
            await self._handshake_and_serve(ws, cred, server)
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            if rcvd is not None and rcvd.code == p.CLOSE_POLICY_VIOLATION:
                raise AgentRejectedError(rcvd.reason or "policy violation") from exc
            raise
        finally:
            self.last_close_code = ws.close_code
            self._ws = None
            await ws.close()

    async def _handshake_and_serve(
        self, ws: ClientConnection, cred: StoredCredential, server: str
    ) -> None:
        hello = p.Hello(
            credential=cred.credential,
            agent_version=agent_version(),
            docker_host=self.options.docker_host,
            hostname=self.options.hostname,
            last_acked_seq=self.journal.acked_seq,
        )
        await ws.send(p.encode(hello))
        first = await asyncio.wait_for(ws.recv(), p.HELLO_TIMEOUT_S + 5)
        msg = p.parse_server_message(first)
        if not isinstance(msg, p.Welcome):
            raise p.ProtocolError(f"expected welcome, got {msg.type}")
        if msg.node_id != cred.node_id:
            log.warning(
                "the server calls this agent node %s (stored: %s)", msg.node_id, cred.node_id
            )
        with contextlib.suppress(AttributeError):
            ws.protocol.max_size = msg.max_frame_bytes  # type: ignore[attr-defined]
        self.sessions += 1
        log.info("connected to %s as node %s", server, msg.node_id)
        session = _Session(self, ws, msg)
        await session.serve()

    # -- streams --------------------------------------------------------------------------------

    def remember_op(self, op: str) -> bool:
        """False when `op` already ran (the last `OP_MEMORY` keys are remembered)."""
        if op in self._ops:
            return False
        self._ops[op] = None
        while len(self._ops) > p.OP_MEMORY:
            self._ops.popitem(last=False)
        return True

    async def handle_stream(self, stream: Stream) -> None:
        if not self.remember_op(stream.op):
            raise StreamRefusedError("operation already ran")
        try:
            reader, writer = await self.engine.open_connection()
        except AgentEngineError as exc:
            raise StreamRefusedError(str(exc)) from exc
        await stream.accept()
        await pipe(stream, reader, writer, Guard(self.policy))

    # -- engine events ----------------------------------------------------------------------------

    def request_state(self) -> None:
        self.state_generation += 1
        self._changed.set()

    async def _watch_engine(self) -> None:
        """Follow the engine's events for good: reconnect with `since=` after a drop."""
        last_nano = 0  # time of the last event seen (engine clock)
        connected_nano = 0  # first connection (agent clock), until an event is seen
        seen_at_last: set[tuple[str, str, str]] = set()
        attempt = 0

        def connected() -> None:
            nonlocal attempt, connected_nano
            attempt = 0
            if not connected_nano:
                # Nothing seen yet: a later reconnect replays from here, not from nothing.
                connected_nano = time.time_ns()
            if not self.engine_connected.is_set():
                log.info("following the engine's events at %s", self.engine.base_url)
            self.engine_connected.set()
            self.request_state()  # a fresh state after every (re)connect

        while True:
            since = _since(last_nano or connected_nano) if (last_nano or connected_nano) else None
            try:
                async for event in self.engine.events(
                    since=since, filters=EVENT_FILTERS, on_connected=connected
                ):
                    nano = int(event.get("timeNano") or int(event.get("time") or 0) * 1_000_000_000)
                    key = (str(event.get("Type")), str(event.get("Action")), str(event.get("id")))
                    if nano < last_nano or (nano == last_nano and key in seen_at_last):
                        continue  # replayed by since=
                    if nano > last_nano:
                        last_nano, seen_at_last = nano, set()
                    seen_at_last.add(key)
                    self.journal.add(event)
                    self._changed.set()
                log.warning("the engine closed its event stream")
            except AgentEngineError as exc:
                if self.engine_connected.is_set() or attempt == 0:
                    log.warning("engine events: %s", exc)
            except Exception:  # a malformed event must not end the watcher for good
                log.exception("following the engine's events failed")
            self.engine_connected.clear()
            delay = min(_backoff(attempt), 10.0)
            attempt += 1
            await asyncio.sleep(delay)


class _Session:
    """One authenticated WebSocket: reader, heartbeats, events, metrics, streams."""

    def __init__(self, agent: Agent, ws: ClientConnection, welcome: p.Welcome) -> None:
        self.agent = agent
        self.ws = ws
        self.welcome = welcome
        self._send_lock = asyncio.Lock()
        self.mux = Mux(self.send_text, self.send_bytes, on_open=agent.handle_stream)
        self.last_rx = time.monotonic()

    async def send_text(self, text: str) -> None:
        async with self._send_lock:
            await self.ws.send(text)

    async def send_bytes(self, frame: bytes) -> None:
        async with self._send_lock:
            await self.ws.send(frame)

    async def send(self, msg: Any) -> None:
        await self.send_text(p.encode(msg))

    async def serve(self) -> None:
        journal = self.agent.journal
        journal.resume_from(self.welcome.acked_seq)
        tasks = [
            asyncio.create_task(self._heartbeats(), name="agent-heartbeats"),
            asyncio.create_task(self._events(), name="agent-events"),
            asyncio.create_task(self._metrics(), name="agent-metrics"),
        ]
        reader = asyncio.create_task(self._read(), name="agent-reader")
        try:
            done, _ = await asyncio.wait([reader, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception() if not task.cancelled() else None
                if exc is not None:
                    raise exc
        finally:
            for task in (reader, *tasks):
                task.cancel()
            await asyncio.gather(reader, *tasks, return_exceptions=True)
            await self.mux.close_all("connection to the server lost")

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                self.last_rx = time.monotonic()
                if isinstance(frame, bytes):
                    await self.mux.feed_bytes(frame)
                    continue
                msg = p.parse_server_message(frame)
                if isinstance(msg, p.STREAM_MESSAGE_TYPES):
                    await self.mux.feed_text(msg)
                elif isinstance(msg, p.Ack):
                    self.agent.journal.ack(msg.seq)
                elif isinstance(msg, p.Rotate):
                    await self._rotate(msg)
                else:
                    raise p.ProtocolError(f"unexpected {msg.type} message")
        except p.ProtocolError as exc:
            log.warning("protocol error from the server: %s", exc.message)
            await self.ws.close(exc.close_code, exc.message[:120])
            raise
        # `async for` ends quietly on a normal close; surface 1008 to the caller.
        rcvd = self.ws.close_code
        if rcvd == p.CLOSE_POLICY_VIOLATION:
            raise AgentRejectedError(self.ws.close_reason or "policy violation")
        log.info("the server closed the connection (%s %s)", rcvd, self.ws.close_reason or "")

    async def _rotate(self, msg: p.Rotate) -> None:
        cred = self.agent.credential
        assert cred is not None
        updated = dataclasses.replace(cred, credential=msg.credential)
        updated.save(self.agent.options.data_dir)
        self.agent.credential = updated
        log.info("credential rotated")
        await self.send(p.Rotated(request_id=msg.request_id))

    async def _heartbeats(self) -> None:
        interval = self.welcome.heartbeat_s
        while True:
            await self.send(p.Heartbeat(sent_at=datetime.now(UTC)))
            with contextlib.suppress(Exception):
                waiter = asyncio.ensure_future(await self.ws.ping())
                waiter.add_done_callback(self._pong)
            await asyncio.sleep(interval)
            if time.monotonic() - self.last_rx > 3 * interval:
                log.warning("nothing heard from the server for %.0f s", 3 * interval)
                await self.ws.close(p.CLOSE_GOING_AWAY, "server silent")
                return

    def _pong(self, waiter: asyncio.Future[Any]) -> None:
        if not waiter.cancelled() and waiter.exception() is None:
            self.last_rx = time.monotonic()  # a pong is a frame from the server

    async def _events(self) -> None:
        agent, journal = self.agent, self.agent.journal
        sent_upto = journal.acked_seq
        state_sent = -1
        while True:
            agent._changed.clear()
            if state_sent != agent.state_generation or state_sent < 0:
                generation = agent.state_generation
                if await self._send_state():
                    state_sent = generation
            items = journal.after(sent_upto, limit=p.MAX_EVENTS_PER_MESSAGE)
            if items:
                text = p.encode(p.Events(items=items))
                while len(text) > self.welcome.max_frame_bytes and len(items) > 1:
                    items = items[: len(items) // 2]  # big events: fewer per message
                    text = p.encode(p.Events(items=items))
                if len(text) <= self.welcome.max_frame_bytes:
                    await self.send_text(text)
                else:
                    log.error("event %s exceeds the frame limit; skipped", items[0].seq)
                sent_upto = items[-1].seq
                continue
            await agent._changed.wait()
            await asyncio.sleep(0.02)  # let a burst gather into one message

    async def _send_state(self) -> bool:
        try:
            containers = await self.agent.engine.list_containers(all=True)
        except (AgentEngineError, ValueError) as exc:
            log.debug("state not sent: %s", exc)
            return False  # the engine watcher asks again once the engine is back
        text = p.encode(p.State(containers=containers))
        if len(text) > self.welcome.max_frame_bytes:
            # Too many containers for one frame: drop the bulky, derivable parts.
            slim = [{k: v for k, v in c.items() if k not in _BULKY} for c in containers]
            text = p.encode(p.State(containers=slim))
            if len(text) > self.welcome.max_frame_bytes:
                log.error("state of %d containers exceeds the frame limit", len(containers))
                return True
        await self.send_text(text)
        return True

    async def _metrics(self) -> None:
        collect = self.agent.collect
        if collect is None:
            await asyncio.Event().wait()
            return
        interval = self.welcome.metrics_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                sample = await collect(self.agent.engine)
            except Exception as exc:  # a failed sweep skips one sample, never the session
                log.warning("metrics sweep failed: %s", exc)
                continue
            await self.send(p.Metrics(sample=sample))


_BULKY = frozenset(
    {"Mounts", "NetworkSettings", "HostConfig", "Command", "ImageManifestDescriptor"}
)
_collector_warned = False


def _load_collector() -> Callable[[Any], Awaitable[Any]] | None:
    global _collector_warned
    try:
        from dockyard.metrics.collector import collect_sample
    except ImportError as exc:
        if not _collector_warned:
            log.warning("metrics are not available in this build: %s", exc)
            _collector_warned = True
        return None
    return collect_sample


def _since(nano: int) -> str:
    """Docker's `since=` for a time in nanoseconds: `seconds.nanoseconds`."""
    return f"{nano // 1_000_000_000}.{nano % 1_000_000_000:09d}"


def _backoff(attempt: int) -> float:
    """0.5 s doubling to 30 s, with jitter (50-100 % of the step)."""
    step = min(BACKOFF_MAX_S, BACKOFF_START_S * (2.0 ** min(attempt, 16)))
    return step * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd
        if frame is not None:
            return f"closed by the server ({frame.code} {frame.reason})".strip()
        return "connection closed"
    return (str(exc).strip() or exc.__class__.__name__)[:300]


async def run_agent(options: AgentOptions) -> int:
    """Run the agent until SIGINT/SIGTERM; returns the exit code."""
    import signal

    agent = Agent(options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, agent.stop)
    return await agent.run()
