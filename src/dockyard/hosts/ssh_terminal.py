"""The web SSH terminal: `WS /api/v1/hosts/{host_id}/ssh?ticket=...&cols=&rows=`.

Authenticated by a single-use ticket from `POST /api/v1/realtime/ticket`, Origin checked like
the realtime socket, permission `hosts:ssh`. The server connects to the inventory host's own
address and port (through its bastion from the inventory) with the stored credential and only
the trusted host key: nothing in the WebSocket chooses where to connect.

Protocol (JSON text frames). Server to client: `status` (connecting), `connected`
(`user`, `host`, `port`, `fingerprint`, `key_type`, `idle_timeout_s`, `session_id`),
`output` (`data`), `exit` (`exit_status`), `error` (`code`, `message`, `details`), `pong`.
Client to server: `input` (`data`), `resize` (`cols`, `rows`), `ping`.
The socket closes after `exit` or `error`: 1000 normally, 1008 for a policy refusal
(origin, ticket, permission), 1011 when SSH failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from typing import Any

import asyncssh
import structlog
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from dockyard.audit.service import Actor, record
from dockyard.auth.service import Principal
from dockyard.kit.errors import AuthenticationError, DockyardError
from dockyard.kit.request_meta import RequestMeta, request_meta
from dockyard.realtime.router import get_hub
from dockyard.realtime.service import origin_allowed
from dockyard.runtime import Runtime
from dockyard.ssh import client, service

log = structlog.get_logger(__name__)

router = APIRouter(tags=["hosts"])

NORMAL = 1000
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
TERM_TYPE = "xterm-256color"
MAX_MESSAGE_CHARS = 64 * 1024
SESSION_CHECK_S = 5.0
SEND_TIMEOUT_S = 30.0


def _size(value: Any, default: int, upper: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return max(1, min(upper, number))


class _EndedError(Exception):
    def __init__(self, reason: str, code: int = NORMAL, error: DockyardError | None = None):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.error = error


async def _send(ws: WebSocket, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, separators=(",", ":"))
    try:
        await asyncio.wait_for(ws.send_text(text), SEND_TIMEOUT_S)
    except (WebSocketDisconnect, RuntimeError, OSError, TimeoutError) as exc:
        raise _EndedError("client_gone") from exc


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state == WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await ws.close(code=code, reason=reason[:120])


async def _refuse(ws: WebSocket, code: str, message: str, close_code: int) -> None:
    with contextlib.suppress(_EndedError):
        await _send(ws, {"type": "error", "code": code, "message": message, "details": {}})
    await _close(ws, close_code, message)


async def _audit(runtime: Runtime, **fields: Any) -> None:
    try:
        async with runtime.db.session() as session:
            await record(session, **fields)
            await session.commit()
    except Exception:  # an audit failure must not leave the socket hanging
        log.exception("ssh_audit_failed", action=fields.get("action"))


async def _authenticate(ws: WebSocket, runtime: Runtime) -> Principal | None:
    hub = get_hub(ws)
    if not origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), hub.allowed_origins):
        log.warning("ssh_ws_origin_refused", origin=ws.headers.get("origin"))
        await _refuse(ws, "origin_not_allowed", "origin not allowed", POLICY_VIOLATION)
        return None
    grant = await hub.tickets.redeem(ws.query_params.get("ticket") or "")
    if grant is None:
        await _refuse(ws, "invalid_ticket", "invalid or expired ticket", POLICY_VIOLATION)
        return None
    try:
        return await runtime.auth.principal_for_session(grant.user_id, grant.session_id)
    except AuthenticationError as exc:
        await _refuse(ws, exc.code, exc.message, POLICY_VIOLATION)
        return None


@router.websocket("/api/v1/hosts/{host_id}/ssh")
async def ssh_terminal(ws: WebSocket, host_id: int) -> None:
    """An interactive SSH session to an inventory host (see the module docstring)."""
    runtime: Runtime = ws.app.state.runtime
    await ws.accept()
    principal = await _authenticate(ws, runtime)
    if principal is None:
        return
    meta = request_meta(ws, runtime.settings.trusted_proxies)
    if not principal.can("hosts:ssh"):
        await _audit(
            runtime,
            action="access.denied",
            actor=principal.actor,
            outcome="denied",
            details={"permission": "hosts:ssh", "method": "WS", "path": ws.url.path},
            meta=meta,
        )
        await _refuse(
            ws, "permission_denied", "You do not have the 'hosts:ssh' permission.", POLICY_VIOLATION
        )
        return
    terminal = _Terminal(ws, runtime, principal, meta, host_id)
    await terminal.run()


class _Terminal:
    def __init__(
        self,
        ws: WebSocket,
        runtime: Runtime,
        principal: Principal,
        meta: RequestMeta,
        host_id: int,
    ) -> None:
        self.ws = ws
        self.runtime = runtime
        self.principal = principal
        self.meta = meta
        self.host_id = host_id
        self.settings = runtime.settings
        self.session_id = secrets.token_hex(8)
        self.last_input = time.monotonic()
        self.bytes_in = 0
        self.bytes_out = 0
        self.exit_status: int | None = None

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    async def run(self) -> None:
        settings = self.settings
        try:
            async with self.runtime.db.read_session() as session:
                host = await service.host_or_404(session, self.host_id)
                hostname, address, port = host.hostname, host.address, host.ssh_port
                target = await service.resolve_target(
                    session, service.secret_box(self.runtime.auth.secret), host
                )
        except DockyardError as exc:
            await _audit(
                self.runtime,
                action="host.ssh.session.failed",
                actor=self.actor,
                outcome="failure",
                target_type="host",
                target_id=self.host_id,
                details={"error": exc.code, "message": exc.message},
                meta=self.meta,
            )
            await _refuse(self.ws, exc.code, exc.message, POLICY_VIOLATION)
            return
        login = target.endpoint.login
        assert login is not None
        base = {
            "hostname": hostname,
            "address": address,
            "port": port,
            "user": login.username,
            "bastion": target.bastion.hostname if target.bastion else None,
            "session": self.session_id,
        }
        cols = _size(self.ws.query_params.get("cols"), 80, 1000)
        rows = _size(self.ws.query_params.get("rows"), 24, 1000)
        try:
            await _send(
                self.ws,
                {
                    "type": "status",
                    "state": "connecting",
                    "message": f"Connecting to {login.username}@{address}:{port}"
                    + (f" through {target.bastion.hostname}" if target.bastion else "")
                    + " ...",
                },
            )
        except _EndedError:
            return
        started = time.monotonic()
        reason = "closed"
        close_code = NORMAL
        opened = False
        try:
            async with client.connect(target, settings.ssh_connect_timeout_s) as conn:
                process = await conn.create_process(
                    term_type=TERM_TYPE,
                    term_size=(cols, rows),
                    encoding="utf-8",
                    errors="replace",
                )
                opened = True
                await _audit(
                    self.runtime,
                    action="host.ssh.session.started",
                    actor=self.actor,
                    target_type="host",
                    target_id=self.host_id,
                    details={**base, "fingerprint": target.endpoint.known_fingerprint},
                    meta=self.meta,
                )
                await _send(
                    self.ws,
                    {
                        "type": "connected",
                        "session_id": self.session_id,
                        "user": login.username,
                        "host": address,
                        "port": port,
                        "hostname": hostname,
                        "fingerprint": target.endpoint.known_fingerprint,
                        "key_type": target.endpoint.known_key.get_algorithm()
                        if target.endpoint.known_key
                        else None,
                        "idle_timeout_s": settings.ssh_idle_timeout_s,
                    },
                )
                reason, close_code = await self._pump(process)
        except client.SshError as exc:
            reason, close_code = exc.code, INTERNAL_ERROR
            await _audit(
                self.runtime,
                action="host.ssh.session.failed",
                actor=self.actor,
                outcome="failure",
                target_type="host",
                target_id=self.host_id,
                details={**base, "error": exc.code, "message": exc.message},
                meta=self.meta,
            )
            with contextlib.suppress(_EndedError):
                await _send(
                    self.ws,
                    {
                        "type": "error",
                        "code": exc.code,
                        "message": exc.message,
                        "details": exc.details,
                    },
                )
        except _EndedError as ended:
            reason, close_code = ended.reason, ended.code
        except (asyncssh.Error, OSError) as exc:
            reason, close_code = "ssh_error", INTERNAL_ERROR
            message = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            with contextlib.suppress(_EndedError):
                await _send(
                    self.ws,
                    {
                        "type": "error",
                        "code": "ssh_error",
                        "message": f"The SSH session failed: {message}",
                        "details": {},
                    },
                )
        finally:
            if opened:
                await _audit(
                    self.runtime,
                    action="host.ssh.session.ended",
                    actor=self.actor,
                    target_type="host",
                    target_id=self.host_id,
                    details={
                        **base,
                        "reason": reason,
                        "duration_s": round(time.monotonic() - started, 3),
                        "exit_status": self.exit_status,
                        "bytes_in": self.bytes_in,
                        "bytes_out": self.bytes_out,
                    },
                    meta=self.meta,
                )
        await _close(self.ws, close_code, reason)

    async def _pump(self, process: asyncssh.SSHClientProcess[str]) -> tuple[str, int]:
        tasks = {
            asyncio.create_task(self._from_ssh(process), name="from_ssh"),
            asyncio.create_task(self._from_client(process), name="from_client"),
            asyncio.create_task(self._idle_watch(), name="idle"),
            asyncio.create_task(self._session_watch(), name="session"),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        task = done.pop()
        exc = task.exception()
        if isinstance(exc, _EndedError):
            if exc.error is not None:
                with contextlib.suppress(_EndedError):
                    await _send(
                        self.ws,
                        {
                            "type": "error",
                            "code": exc.error.code,
                            "message": exc.error.message,
                            "details": exc.error.details,
                        },
                    )
            return exc.reason, exc.code
        if exc is not None:
            raise exc
        return "exit", NORMAL

    async def _from_ssh(self, process: asyncssh.SSHClientProcess[str]) -> None:
        while True:
            data = await process.stdout.read(32 * 1024)
            if not data:
                break
            self.bytes_out += len(data)
            await _send(self.ws, {"type": "output", "data": data})
        await process.wait_closed()
        self.exit_status = process.exit_status
        await _send(self.ws, {"type": "exit", "exit_status": process.exit_status})
        raise _EndedError("exit")

    async def _from_client(self, process: asyncssh.SSHClientProcess[str]) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise _EndedError("client_closed")
            text = message.get("text")
            if text is None:
                raw = message.get("bytes") or b""
                text = raw.decode("utf-8", "replace")
            if len(text) > MAX_MESSAGE_CHARS:
                raise _EndedError("message_too_big", 1009)
            try:
                body = json.loads(text)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                await _send(
                    self.ws,
                    {"type": "error", "code": "bad_message", "message": "Send JSON objects."},
                )
                continue
            kind = body.get("type")
            if kind == "input" and isinstance(body.get("data"), str):
                data = body["data"]
                self.last_input = time.monotonic()
                self.bytes_in += len(data)
                process.stdin.write(data)
            elif kind == "resize":
                cols = _size(body.get("cols"), 80, 1000)
                rows = _size(body.get("rows"), 24, 1000)
                self.last_input = time.monotonic()
                process.change_terminal_size(cols, rows)
            elif kind == "ping":
                await _send(self.ws, {"type": "pong"})
            else:
                await _send(
                    self.ws,
                    {
                        "type": "error",
                        "code": "unknown_type",
                        "message": "Expected input, resize or ping.",
                    },
                )

    async def _idle_watch(self) -> None:
        limit = float(self.settings.ssh_idle_timeout_s)
        while True:
            remaining = self.last_input + limit - time.monotonic()
            if remaining <= 0:
                minutes = limit / 60
                raise _EndedError(
                    "idle_timeout",
                    NORMAL,
                    DockyardError(
                        f"Closed after {minutes:g} minute(s) without input (idle timeout).",
                        code="idle_timeout",
                    ),
                )
            await asyncio.sleep(min(remaining, 5.0))

    async def _session_watch(self) -> None:
        """End the terminal when the user's login session ends or loses `hosts:ssh`."""
        while True:
            await asyncio.sleep(SESSION_CHECK_S)
            try:
                self.principal = await self.runtime.auth.principal_for_session(
                    self.principal.user.id, self.principal.session_id, fresh=True
                )
            except AuthenticationError as exc:
                raise _EndedError("session_ended", POLICY_VIOLATION, exc) from None
            if not self.principal.can("hosts:ssh"):
                raise _EndedError(
                    "permission_revoked",
                    POLICY_VIOLATION,
                    DockyardError("The 'hosts:ssh' permission was revoked.", code="forbidden"),
                )
