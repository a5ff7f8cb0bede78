"""The browser's one WebSocket: authentication, event fan-out, live logs, keepalive.

Protocol (JSON text frames), server to client: `hello`, then bus events as
`{"type", "data", "ts"}`, `overflow` when this socket fell behind (refetch), `ping`
every `ping_interval_s`, `pong`, `subscribed`, `logs.started` / `logs.line` / `logs.lines`
/ `logs.end` / `logs.error` / `logs.stopped`, and `error` for a bad client message (the
socket stays open). Client to server: `auth` (first message, when no ticket),
`ping`, `pong`, `subscribe`, `logs.follow`, `logs.stop`.

Backpressure: sends are serialized and awaited, so a slow browser slows only its own log
streams (their threads wait) and overflows only its own bus queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from dockyard.access.service import sees_all, service_permissions
from dockyard.auth.service import SESSIONS_REVOKED_EVENT, AuthService, Principal
from dockyard.engine.streams import LogLine, open_log_stream
from dockyard.kit.clock import utcnow
from dockyard.kit.db import write_generation
from dockyard.kit.errors import AuthenticationError, DockyardError
from dockyard.kit.events import EventBus, Subscription
from dockyard.realtime.schemas import (
    AuthMessage,
    LogsFollowMessage,
    LogsStopMessage,
    SubscribeMessage,
    TicketOut,
)
from dockyard.realtime.tickets import TicketStore
from dockyard.services.models import Service

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=BaseModel)
EngineUrlFor = Callable[[int], str | Awaitable[str | None] | None]
# (node id, container id or name) -> the Dockyard service id of that container, if any.
ContainerServiceFor = Callable[[int, str], int | None]

DEFAULT_EVENT_PREFIXES = ("service.", "container.", "job.", "audit.", "node.", "alert.")
# WebSocket close codes (RFC 6455).
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
SEND_TIMEOUT_S = 30.0
MAX_LINES_PER_FRAME = 500
MAX_FRAME_CHARS = 256 * 1024


# The permission an event family needs (service events also need to see the service).
_EVENT_PERMISSIONS = {
    "audit": "audit:read",
    "node": "nodes:read",
    "job": "jobs:read",
    "service": "services:read",
    "container": "services:read",
    "alert": "alerts:read",
}


class _PeerGoneError(Exception):
    """The socket can no longer be written to."""


# ---------------------------------------------------------------- helpers


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "ws": 80, "https": 443, "wss": 443}.get(scheme)


def _origin_key(origin: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of an origin, ports defaulted; None when it is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or _default_port(parts.scheme)


def origin_allowed(origin: str | None, host: str | None, allowed: Collection[str]) -> bool:
    """Same host as the `Host` header, or listed; no `Origin` (not a browser) is fine."""
    if origin is None:
        return True
    key = _origin_key(origin)
    if key is None:  # includes the opaque "null" origin
        return False
    if any(_origin_key(a) == key for a in allowed):
        return True
    if not host:
        return False
    try:
        host_parts = urlsplit(f"//{host.strip()}")
        host_port = host_parts.port
    except ValueError:
        return False
    if not host_parts.hostname:
        return False
    scheme, origin_host, origin_port = key
    return (
        host_parts.hostname.lower() == origin_host
        and (host_port or _default_port(scheme)) == origin_port
    )


class _Topics:
    """A client's `subscribe` filter: exact types and `prefix.` / `prefix.*` patterns."""

    def __init__(self, topics: Sequence[str] | None) -> None:
        self.all = topics is None
        self.exact: set[str] = set()
        self.prefixes: list[str] = []
        for topic in topics or ():
            if topic.endswith(".*"):
                self.prefixes.append(topic[:-1])
            elif topic.endswith("."):
                self.prefixes.append(topic)
            else:
                self.exact.add(topic)

    def matches(self, event_type: str) -> bool:
        return self.all or event_type in self.exact or event_type.startswith(tuple(self.prefixes))


def _line(container: str, line: LogLine) -> dict[str, Any]:
    # Each line names its container, so a client can merge lines of many frames directly.
    return {"container": container, "stream": line.stream, "ts": line.ts, "message": line.message}


# ---------------------------------------------------------------- the hub


class RealtimeHub:
    """Serves `/api/v1/ws` connections and issues their tickets."""

    def __init__(
        self,
        *,
        bus: EventBus,
        auth: AuthService,
        engine_url_for: EngineUrlFor,
        allowed_origins: Sequence[str] = (),
        ticket_ttl_s: float = 30.0,
        auth_timeout_s: float = 5.0,
        ping_interval_s: float = 25.0,
        # Fallback re-check of the session (revocations by another process); revocations
        # in this process close sockets at once through `auth.sessions_revoked`.
        session_check_s: float = 2.0,
        max_log_streams: int = 10,
        max_message_bytes: int = 64 * 1024,
        event_prefixes: Sequence[str] = DEFAULT_EVENT_PREFIXES,
        tickets: TicketStore | None = None,
        container_service: ContainerServiceFor | None = None,
    ) -> None:
        self.bus = bus
        self.container_service = container_service
        self.auth = auth
        self.engine_url_for = engine_url_for
        self.allowed_origins = list(allowed_origins)
        self.tickets = tickets if tickets is not None else TicketStore(ticket_ttl_s)
        self.auth_timeout_s = auth_timeout_s
        self.ping_interval_s = ping_interval_s
        self.session_check_s = session_check_s
        self.max_log_streams = max_log_streams
        self.max_message_bytes = max_message_bytes
        self.event_prefixes = tuple(event_prefixes)
        self._connections: set[_Connection] = set()
        self._session_checks: dict[tuple[int, str], tuple[float, asyncio.Future[Principal]]] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    async def session_principal(self, user_id: int, session_id: str) -> Principal:
        """The login session's principal, read afresh at most once per `session_check_s`
        for all of this hub's sockets of that session (a page with many tabs, or many
        sockets of one token, costs one query, not one each)."""
        key = (user_id, session_id)
        now = time.monotonic()
        entry = self._session_checks.get(key)
        if entry is None or now - entry[0] >= self.session_check_s * 0.9:
            if len(self._session_checks) > 10_000:
                stale = now - 3 * self.session_check_s
                self._session_checks = {
                    k: v for k, v in self._session_checks.items() if v[0] > stale
                }
            future = asyncio.ensure_future(
                self.auth.principal_for_session(user_id, session_id, fresh=True)
            )
            # Read by every waiter; retrieved here too so a failure nobody awaits is quiet.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            entry = self._session_checks[key] = (now, future)
        return await asyncio.shield(entry[1])

    def issue_ticket(self, principal: Principal) -> TicketOut:
        """A single-use ticket bound to the caller's user and login session."""
        ticket = self.tickets.issue(principal.user.id, principal.session_id)
        return TicketOut(ticket=ticket, expires_in=int(self.tickets.ttl_s))

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Close every socket (server shutting down) and wait for them to finish."""
        for conn in list(self._connections):
            conn.request_close(GOING_AWAY, "server shutting down")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        await self.tickets.close()

    async def engine_url(self, node_id: int) -> str | None:
        result = self.engine_url_for(node_id)
        if inspect.isawaitable(result):
            return await result
        return result

    async def serve(self, ws: WebSocket) -> None:
        """Run one connection from handshake to close."""
        origin = ws.headers.get("origin")
        # Accept first, then close: the client then sees code 1008 and a reason rather
        # than a bare handshake failure.
        await ws.accept()
        if not origin_allowed(origin, ws.headers.get("host"), self.allowed_origins):
            log.warning("ws_origin_refused", origin=origin)
            await _close(ws, POLICY_VIOLATION, "origin not allowed")
            return
        principal = await self._authenticate(ws)
        if principal is None:
            return
        conn = _Connection(self, ws, principal)
        self._connections.add(conn)
        self._idle.clear()
        log.info("ws_connected", user_id=principal.user.id)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
            if not self._connections:
                self._idle.set()
            log.info("ws_disconnected", user_id=principal.user.id)

    async def _authenticate(self, ws: WebSocket) -> Principal | None:
        ticket = ws.query_params.get("ticket")
        if ticket is not None:
            grant = await self.tickets.redeem(ticket)
            if grant is None:
                await _close(ws, POLICY_VIOLATION, "invalid or expired ticket")
                return None
            try:
                return await self.auth.principal_for_session(grant.user_id, grant.session_id)
            except AuthenticationError as exc:
                await _close(ws, POLICY_VIOLATION, exc.message)
                return None
        try:
            message = await asyncio.wait_for(ws.receive(), self.auth_timeout_s)
        except TimeoutError:
            await _close(ws, POLICY_VIOLATION, "authentication timed out")
            return None
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is None or len(text) > self.max_message_bytes:
            await _close(ws, POLICY_VIOLATION, "authentication required")
            return None
        try:
            auth = AuthMessage.model_validate_json(text)
        except ValidationError:
            await _close(ws, POLICY_VIOLATION, "authentication required")
            return None
        try:
            return await self.auth.authenticate(auth.token)
        except AuthenticationError as exc:
            await _close(ws, POLICY_VIOLATION, exc.message)
            return None


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    # The peer may be gone already; there is nothing left to tell it then.
    if ws.application_state == WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await ws.close(code=code, reason=reason[:120])


# ---------------------------------------------------------------- one connection


class _LogFollow:
    def __init__(self, follow_id: str, node_id: int, containers: list[str]) -> None:
        self.id = follow_id
        self.node_id = node_id
        self.containers = containers
        self.tasks: list[asyncio.Task[None]] = []
        self.remaining = len(containers)


class _Connection:
    def __init__(self, hub: RealtimeHub, ws: WebSocket, principal: Principal) -> None:
        self.hub = hub
        self.ws = ws
        self.principal = principal
        self.topics = _Topics(None)
        self._send_lock = asyncio.Lock()
        self._follows: dict[str, _LogFollow] = {}
        self._close_code: tuple[int, str] | None = None
        self._closing = asyncio.Event()
        self._peer_gone = False
        # service id -> (generation of the services table, visible to this principal)
        self._visible: dict[int, tuple[int, bool]] = {}

    # -- plumbing

    def request_close(self, code: int, reason: str) -> None:
        if self._close_code is None:
            self._close_code = (code, reason)
        self._closing.set()

    async def send(self, payload: dict[str, Any]) -> None:
        await self.send_text(json.dumps(payload, separators=(",", ":"), default=str))

    async def send_text(self, text: str) -> None:
        if self._peer_gone:
            raise _PeerGoneError
        async with self._send_lock:
            try:
                # A timeout scope, not `wait_for`: no extra task per frame (an event goes
                # to every open socket, so per-frame overhead is multiplied by them).
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self.ws.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError, TimeoutError) as exc:
                self._peer_gone = True
                raise _PeerGoneError from exc

    async def error(self, code: str, message: str, **extra: Any) -> None:
        await self.send({"type": "error", "code": code, "message": message, **extra})

    async def run(self) -> None:
        user = self.principal.user
        async with self.hub.bus.subscribe() as subscription:
            tasks = [
                asyncio.create_task(self._receive()),
                asyncio.create_task(self._forward(subscription)),
                asyncio.create_task(self._ping()),
                asyncio.create_task(self._check_session()),
                asyncio.create_task(self._closing.wait()),
            ]
            try:
                await self.send(
                    {
                        "type": "hello",
                        "user": {
                            "id": user.id,
                            "email": user.email,
                            "display_name": user.display_name,
                            "role": user.role,
                        },
                        "ping_interval_s": self.hub.ping_interval_s,
                        "max_log_streams": self.hub.max_log_streams,
                        "max_message_bytes": self.hub.max_message_bytes,
                    }
                )
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    exc = task.exception()
                    if exc is not None and not isinstance(exc, _PeerGoneError):
                        log.error("ws_failed", exc_info=exc)
                        self.request_close(INTERNAL_ERROR, "internal error")
            except _PeerGoneError:
                pass
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await asyncio.gather(
                    *(self._stop_follow(f) for f in list(self._follows.values())),
                    return_exceptions=True,
                )
        if self._close_code is not None and not self._peer_gone:
            await _close(self.ws, *self._close_code)

    # -- tasks

    async def _receive(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                self._peer_gone = True
                return
            text = message.get("text")
            if text is None:
                await self.error("unsupported", "Binary frames are not supported.")
                continue
            if len(text) > self.hub.max_message_bytes or (
                len(text) * 4 > self.hub.max_message_bytes
                and len(text.encode()) > self.hub.max_message_bytes
            ):
                self.request_close(MESSAGE_TOO_BIG, "message too big")
                return
            await self._handle(text)

    async def _handle(self, text: str) -> None:
        try:
            body = json.loads(text)
        except ValueError:
            await self.error("bad_json", "The message is not valid JSON.")
            return
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            await self.error("bad_message", "A message is a JSON object with a string `type`.")
            return
        kind = body["type"]
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            sub = await self._parse(SubscribeMessage, body)
            if sub is not None:
                self.topics = _Topics(sub.topics)
                await self.send({"type": "subscribed", "topics": sub.topics})
        elif kind == "logs.follow":
            follow = await self._parse(LogsFollowMessage, body)
            if follow is not None:
                await self._start_follow(follow)
        elif kind == "logs.stop":
            stop = await self._parse(LogsStopMessage, body)
            if stop is not None:
                current = self._follows.get(stop.id)
                if current is None:
                    await self.error("unknown_stream", f"No log stream {stop.id!r}.", id=stop.id)
                else:
                    await self._stop_follow(current)
                    await self.send({"type": "logs.stopped", "id": stop.id})
        elif kind == "auth":
            await self.error("already_authenticated", "This socket is already authenticated.")
        else:
            await self.error("unknown_type", f"Unknown message type {kind[:64]!r}.")

    async def _parse(self, model: type[M], body: dict[str, Any]) -> M | None:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first.get("loc", ())) or "message"
            await self.error(
                "invalid_message", f"Invalid {body['type']} message at {path}: {first['msg']}."
            )
            return None

    async def _forward(self, subscription: Subscription) -> None:
        reported = 0
        while True:
            event = await subscription.get()
            if subscription.overflowed > reported:
                await self.send({"type": "overflow", "dropped": subscription.overflowed - reported})
                reported = subscription.overflowed
            if event.type == SESSIONS_REVOKED_EVENT:
                if self._revoked_by(event.data):
                    self.request_close(POLICY_VIOLATION, "session revoked")
                    return
                continue
            if not event.type.startswith(self.hub.event_prefixes):
                continue
            if self.topics.matches(event.type) and await self._may_see(event.type, event.data):
                await self.send_text(event.text)  # encoded once for all sockets

    async def _may_see(self, event_type: str, data: Any) -> bool:
        """Whether this connection's principal may receive the event (per service)."""
        principal = self.principal
        needed = _EVENT_PERMISSIONS.get(event_type.split(".", 1)[0])
        if needed is not None and not principal.can(needed):
            return False
        service_id = data.get("service_id") if isinstance(data, dict) else None
        if sees_all(principal):
            return True
        if event_type.startswith(("audit.", "node.", "alert.")):
            return needed is not None
        if not isinstance(service_id, int):
            return False  # not about a service this tenant could see
        return await self._service_visible(service_id)

    async def _service_visible(self, service_id: int) -> bool:
        generation = write_generation(("services",))
        cached = self._visible.get(service_id)
        if cached is not None and cached[0] == generation:
            return cached[1]
        async with self.hub.auth.db.read_session() as session:
            row = (
                await session.execute(
                    select(Service.id, Service.node_id, Service.owner_id).where(
                        Service.id == service_id
                    )
                )
            ).one_or_none()
        visible = row is not None and (
            service_permissions(self.principal, service_id=row[0], node_id=row[1], owner_id=row[2])
            is not None
        )
        if len(self._visible) > 10_000:
            self._visible.clear()
        self._visible[service_id] = (generation, visible)
        return visible

    def _revoked_by(self, data: Any) -> bool:
        """Whether an `auth.sessions_revoked` event ends this connection's session."""
        if not isinstance(data, dict) or data.get("user_id") != self.principal.user.id:
            return False
        session_ids = data.get("session_ids")
        return session_ids is None or self.principal.session_id in session_ids

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.hub.ping_interval_s)
            await self.send({"type": "ping", "ts": utcnow().isoformat()})

    async def _check_session(self) -> None:
        while True:
            await asyncio.sleep(self.hub.session_check_s)
            try:
                self.principal = await self.hub.session_principal(
                    self.principal.user.id, self.principal.session_id
                )
                self._visible.clear()  # grants may have changed
            except AuthenticationError as exc:
                with contextlib.suppress(_PeerGoneError):
                    await self.error(exc.code, exc.message)
                self.request_close(POLICY_VIOLATION, exc.message)
                return
            except Exception as exc:  # the database is busy or away: check next round
                log.warning("ws_session_check_skipped", error=str(exc)[:200])

    # -- logs

    async def _start_follow(self, msg: LogsFollowMessage) -> None:
        if msg.id in self._follows:
            await self.error("duplicate_stream", f"Log stream {msg.id!r} is running.", id=msg.id)
            return
        if len(self._follows) >= self.hub.max_log_streams:
            await self.error(
                "too_many_streams",
                f"At most {self.hub.max_log_streams} log streams per connection.",
                id=msg.id,
            )
            return
        if not self.principal.can("services:logs"):
            await self.error(
                "forbidden", "You do not have the 'services:logs' permission.", id=msg.id
            )
            return
        url = await self.hub.engine_url(msg.node_id)
        if url is None:
            await self.error("unknown_node", f"Node {msg.node_id} is not known.", id=msg.id)
            return
        containers = list(dict.fromkeys(msg.container_ids))
        if not sees_all(self.principal):
            for container in containers:
                lookup = self.hub.container_service
                service_id = lookup(msg.node_id, container) if lookup else None
                if service_id is None or not await self._service_visible(service_id):
                    # Same answer whether it exists or not.
                    await self.error(
                        "unknown_container", f"No container {container[:64]!r}.", id=msg.id
                    )
                    return
        follow = _LogFollow(msg.id, msg.node_id, containers)
        self._follows[msg.id] = follow
        await self.send({"type": "logs.started", "id": msg.id, "containers": containers})
        for container in containers:
            follow.tasks.append(asyncio.create_task(self._pump(follow, url, container, msg.tail)))

    async def _stop_follow(self, follow: _LogFollow) -> None:
        if self._follows.get(follow.id) is follow:
            del self._follows[follow.id]
        for task in follow.tasks:
            task.cancel()
        await asyncio.gather(*follow.tasks, return_exceptions=True)

    async def _pump(self, follow: _LogFollow, url: str, container: str, tail: int) -> None:
        try:
            async with await open_log_stream(
                url, container, follow=True, tail=tail, timestamps=True
            ) as stream:
                async for batch in stream:
                    # A backlog (slow socket) goes out as fewer, bigger frames.
                    for more in stream.take_ready(16):
                        batch.extend(more)
                    await self._send_lines(follow.id, container, batch)
            await self.send({"type": "logs.end", "id": follow.id, "container": container})
        except DockyardError as exc:
            with contextlib.suppress(_PeerGoneError):
                await self.send(
                    {
                        "type": "logs.error",
                        "id": follow.id,
                        "container": container,
                        "code": exc.code,
                        "message": exc.message,
                    }
                )
        except _PeerGoneError:
            pass
        finally:
            follow.remaining -= 1
            if follow.remaining == 0 and self._follows.get(follow.id) is follow:
                del self._follows[follow.id]

    async def _send_lines(self, follow_id: str, container: str, lines: list[LogLine]) -> None:
        if len(lines) == 1:
            line = lines[0]
            await self.send({"type": "logs.line", "id": follow_id, **_line(container, line)})
            return
        for chunk in _frames(lines):
            await self.send(
                {
                    "type": "logs.lines",
                    "id": follow_id,
                    "container": container,
                    "lines": [_line(container, line) for line in chunk],
                }
            )


def _frames(lines: list[LogLine]) -> Iterator[list[LogLine]]:
    """Split a backlog into frames of at most `MAX_LINES_PER_FRAME` lines / ~256 KiB."""
    chunk: list[LogLine] = []
    size = 0
    for line in lines:
        if chunk and (len(chunk) >= MAX_LINES_PER_FRAME or size >= MAX_FRAME_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += len(line.message) + 64
    if chunk:
        yield chunk
