"""HTTP and WebSocket routes of the container terminal and file browser.

Every route needs `services:exec` (reading a container's files can expose its secrets as
much as a shell can). See docs/api.md for the exec WebSocket protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import posixpath
import time
from typing import Annotated, Any
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response, WebSocket, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.websockets import WebSocketState

from dockyard.audit.service import record
from dockyard.auth.service import Principal
from dockyard.containers.access import EXEC_PERMISSION, ContainerTarget, resolve_container
from dockyard.containers.exec import SHELLS, ExecSession, shell_command
from dockyard.containers.files import Files, PathStat, normalize_path
from dockyard.containers.schemas import (
    FileContent,
    FileContentIn,
    FileList,
    MkdirIn,
    PathInfo,
    RenameIn,
)
from dockyard.deps import MetaDep, PermissionDependency, RuntimeDep, SessionDep, require
from dockyard.kit.errors import AuthenticationError, DockyardError
from dockyard.kit.request_meta import RequestMeta, request_meta
from dockyard.realtime.router import get_hub
from dockyard.realtime.service import origin_allowed
from dockyard.runtime import Runtime

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1", tags=["containers"])

Exec = Annotated[Principal, Depends(require(EXEC_PERMISSION))]
PathQuery = Annotated[str, Query(min_length=1, max_length=4096, description="Absolute path.")]
FILES = "/nodes/{node_id}/containers/{container_id}/files"

# WebSocket close codes.
NORMAL = 1000
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
IDLE_TIMEOUT = 4000
SESSION_LIMIT = 4001
EXEC_FAILED = 4002
MAX_INPUT_FRAME = 64 * 1024


# ---------------------------------------------------------------- files


async def _target(
    runtime: Runtime, principal: Principal, node_id: int, container_id: str, request: Request
) -> Files:
    target = await resolve_container(runtime, principal, node_id, container_id, request)
    return Files(target.engine, target.container)


def _info(path: str, stat: PathStat) -> PathInfo:
    return PathInfo(
        path=path,
        name=stat.name,
        type=stat.kind,
        size=stat.size,
        mode=stat.mode,
        mtime=stat.mtime,
        link_target=stat.link_target,
    )


async def _audit(
    session: Any,
    principal: Principal,
    meta: RequestMeta,
    action: str,
    node_id: int,
    container_id: str,
    **details: Any,
) -> None:
    await record(
        session,
        action=action,
        actor=principal.actor,
        target_type="container",
        target_id=container_id[:64],
        details={"node_id": node_id, **details},
        meta=meta,
    )
    await session.commit()


@router.get(FILES, response_model=FileList)
async def list_files(
    node_id: int,
    container_id: str,
    path: PathQuery,
    request: Request,
    runtime: RuntimeDep,
    principal: Exec,
) -> FileList:
    """A folder's direct entries, read from the archive stream's headers (bodies skipped)."""
    clean = normalize_path(path)
    files = await _target(runtime, principal, node_id, container_id, request)
    settings = runtime.settings
    _, entries, truncated = await files.list_dir(
        clean,
        max_entries=settings.files_max_list_entries,
        max_scan_bytes=settings.files_max_list_scan_bytes,
    )
    return FileList.model_validate({"path": clean, "entries": entries, "truncated": truncated})


@router.get(FILES + "/stat", response_model=PathInfo)
async def stat_file(
    node_id: int,
    container_id: str,
    path: PathQuery,
    request: Request,
    runtime: RuntimeDep,
    principal: Exec,
) -> PathInfo:
    """One path's type, size, mode and mtime (a symlink is reported, not followed)."""
    clean = normalize_path(path)
    files = await _target(runtime, principal, node_id, container_id, request)
    return _info(clean, await files.stat(clean))


@router.get(FILES + "/content", response_model=FileContent)
async def read_file(
    node_id: int,
    container_id: str,
    path: PathQuery,
    request: Request,
    runtime: RuntimeDep,
    principal: Exec,
) -> FileContent:
    """A text file's content (UTF-8, up to `files_max_view_bytes`); binary is refused."""
    clean = normalize_path(path)
    files = await _target(runtime, principal, node_id, container_id, request)
    info, content = await files.read_text(clean, max_bytes=runtime.settings.files_max_view_bytes)
    return FileContent(
        path=clean, content=content, size=info.size, mode=info.mode, mtime=info.mtime
    )


@router.put(FILES + "/content", response_model=PathInfo)
async def write_file(
    node_id: int,
    container_id: str,
    body: FileContentIn,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    principal: Exec,
) -> PathInfo:
    """Replace an existing text file's content, keeping its mode and owner."""
    clean = normalize_path(body.path)
    files = await _target(runtime, principal, node_id, container_id, request)
    info = await files.write_text(
        clean, body.content, max_bytes=runtime.settings.files_max_view_bytes
    )
    await _audit(
        session,
        principal,
        meta,
        "container.file.edited",
        node_id,
        container_id,
        path=clean,
        size=info.size,
    )
    return _info(clean, info)


def _disposition(name: str) -> str:
    ascii_name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name) or "download"
    return f"attachment; filename=\"{ascii_name[:150]}\"; filename*=UTF-8''{quote(name[:150])}"


@router.get(
    FILES + "/download",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The file's bytes, or a tar of a folder or symlink.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                "application/x-tar": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def download_file(
    node_id: int,
    container_id: str,
    path: PathQuery,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    principal: Exec,
) -> StreamingResponse:
    """A file's bytes, or a tar of a folder or symlink (the link itself), streamed."""
    clean = normalize_path(path)
    files = await _target(runtime, principal, node_id, container_id, request)
    info, chunks, is_tar = await files.download(clean)
    try:
        await _audit(
            session,
            principal,
            meta,
            "container.file.downloaded",
            node_id,
            container_id,
            path=clean,
            type=info.kind,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            chunks.close()  # type: ignore[attr-defined]
        raise
    base = posixpath.basename(clean) or "root"
    headers = {"Content-Disposition": _disposition(base + ".tar" if is_tar else base)}
    if not is_tar:
        headers["Content-Length"] = str(info.size)
    return StreamingResponse(
        chunks,
        media_type="application/x-tar" if is_tar else "application/octet-stream",
        headers=headers,
    )


@router.post(
    FILES + "/upload",
    response_model=PathInfo,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_file(
    node_id: int,
    container_id: str,
    path: PathQuery,
    name: Annotated[str, Query(min_length=1, max_length=255, description="The file's name.")],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    principal: Exec,
) -> PathInfo:
    """Upload the raw request body as `path/name` (streamed; `Content-Length` required).

    The body is the file's bytes (`application/octet-stream`), not a tar or a form: the
    single tar entry sent to the engine is built here, so no `../` entry can get in.
    """
    clean = normalize_path(path)
    limit = runtime.settings.files_max_upload_bytes
    raw_length = request.headers.get("content-length")
    if raw_length is None or not raw_length.isdigit():
        raise DockyardError(
            "Send the file as the raw body with a Content-Length.",
            code="length_required",
            status_code=411,
        )
    size = int(raw_length)
    if size > limit:
        raise DockyardError(
            f"The file is larger than the {limit} bytes allowed.",
            code="upload_too_large",
            status_code=413,
            details={"limit": limit},
        )
    files = await _target(runtime, principal, node_id, container_id, request)
    info = await files.upload(clean, name, size, request.stream())
    target = posixpath.join(clean, name)
    await _audit(
        session,
        principal,
        meta,
        "container.file.uploaded",
        node_id,
        container_id,
        path=target,
        size=size,
    )
    return _info(target, info)


@router.post(FILES + "/mkdir", response_model=PathInfo, status_code=status.HTTP_201_CREATED)
async def make_folder(
    node_id: int,
    container_id: str,
    body: MkdirIn,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    principal: Exec,
) -> PathInfo:
    """Create a folder (through the archive API: works on stopped containers too)."""
    parent = normalize_path(body.path)
    files = await _target(runtime, principal, node_id, container_id, request)
    info = await files.mkdir(parent, body.name)
    target = posixpath.join(parent, body.name)
    await _audit(
        session, principal, meta, "container.file.mkdir", node_id, container_id, path=target
    )
    return _info(target, info)


@router.post(FILES + "/rename", response_model=PathInfo)
async def rename_file(
    node_id: int,
    container_id: str,
    body: RenameIn,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    principal: Exec,
) -> PathInfo:
    """Rename within the same folder (`mv -n` exec: running containers only)."""
    clean = normalize_path(body.path)
    files = await _target(runtime, principal, node_id, container_id, request)
    info = await files.rename(clean, body.new_name)
    target = posixpath.join(posixpath.dirname(clean), body.new_name)
    await _audit(
        session,
        principal,
        meta,
        "container.file.renamed",
        node_id,
        container_id,
        path=clean,
        new_path=target,
    )
    return _info(target, info)


@router.delete(FILES, status_code=status.HTTP_204_NO_CONTENT)
async def delete_file(
    node_id: int,
    container_id: str,
    path: PathQuery,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    principal: Exec,
) -> Response:
    """Delete a file or a folder with its content (`rm -rf` exec: running containers only)."""
    clean = normalize_path(path)
    files = await _target(runtime, principal, node_id, container_id, request)
    await files.delete(clean)
    await _audit(
        session, principal, meta, "container.file.deleted", node_id, container_id, path=clean
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- exec terminal


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state == WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await ws.close(code=code, reason=reason[:120])


class TicketGate(PermissionDependency):
    """A WebSocket's gate: Origin allowlist, single-use ticket, permission, container access.

    Accepts the socket first, so a refusal reaches the client as close code 1008 with a
    reason; returns None after closing it.
    """

    async def __call__(  # type: ignore[override]
        self, ws: WebSocket, node_id: int, container_id: str
    ) -> ContainerTarget | None:
        runtime: Runtime = ws.app.state.runtime
        await ws.accept()
        origin = ws.headers.get("origin")
        if not origin_allowed(origin, ws.headers.get("host"), runtime.settings.allowed_origins):
            log.warning("exec_origin_refused", origin=origin)
            await _close(ws, POLICY_VIOLATION, "origin not allowed")
            return None
        grant = await get_hub(ws).tickets.redeem(ws.query_params.get("ticket") or "")
        if grant is None:
            await _close(ws, POLICY_VIOLATION, "invalid or expired ticket")
            return None
        try:
            principal = await runtime.auth.principal_for_session(grant.user_id, grant.session_id)
        except AuthenticationError as exc:
            await _close(ws, POLICY_VIOLATION, exc.message)
            return None
        if principal.mfa_enrollment_required:
            await _close(ws, POLICY_VIOLATION, "two-factor authentication setup required")
            return None
        if not principal.can(self.permission):
            async with runtime.db.session() as session:
                await record(
                    session,
                    action="access.denied",
                    actor=principal.actor,
                    outcome="denied",
                    details={"permission": self.permission, "path": ws.url.path},
                    meta=request_meta(ws, runtime.settings.trusted_proxies),
                )
                await session.commit()
            await _close(
                ws, POLICY_VIOLATION, f"you do not have the '{self.permission}' permission"
            )
            return None
        try:
            target = await resolve_container(runtime, principal, node_id, container_id, ws)
        except DockyardError as exc:
            await _close(ws, POLICY_VIOLATION, exc.message)
            return None
        ws.state.principal = principal
        return target


_exec_gate = TicketGate(EXEC_PERMISSION)


class _Resize(BaseModel):
    type: str
    cols: int = Field(ge=1, le=1000)
    rows: int = Field(ge=1, le=1000)


@router.websocket("/containers/{node_id}/{container_id}/exec")
async def exec_terminal(
    ws: WebSocket,
    target: Annotated[ContainerTarget | None, Depends(_exec_gate)],
    cmd: str = "sh",
    cols: int = 80,
    rows: int = 24,
) -> None:
    """Interactive shell (`cmd=sh|bash`) in a running container; see docs/api.md."""
    if target is None:
        return
    runtime: Runtime = ws.app.state.runtime
    principal: Principal = ws.state.principal
    if cmd not in SHELLS:
        await _close(ws, POLICY_VIOLATION, "cmd must be sh or bash")
        return
    cols, rows = max(1, min(cols, 1000)), max(1, min(rows, 1000))
    try:
        session = await ExecSession.open(
            target.engine, target.container, shell_command(cmd), cols=cols, rows=rows
        )
    except DockyardError as exc:
        await _close(ws, EXEC_FAILED, exc.message)
        return
    meta = request_meta(ws, runtime.settings.trusted_proxies)
    details = {
        "node_id": target.node_id,
        "container": target.container[:64],
        "service_id": target.service_id,
        "shell": cmd,
        "exec_id": session.exec_id,
    }
    async with runtime.db.session() as db:
        await record(
            db,
            action="container.exec.started",
            actor=principal.actor,
            target_type="container",
            target_id=target.container[:64],
            details=details,
            meta=meta,
        )
        await db.commit()
    started = time.monotonic()
    reason = await _pump(ws, session, runtime)
    code = await session.exit_code()
    await session.close()
    duration = round(time.monotonic() - started, 3)
    async with runtime.db.session() as db:
        await record(
            db,
            action="container.exec.ended",
            actor=principal.actor,
            target_type="container",
            target_id=target.container[:64],
            details={**details, "duration_s": duration, "reason": reason, "exit_code": code},
            meta=meta,
        )
        await db.commit()
    log.info("exec_ended", container=target.container[:12], reason=reason, duration_s=duration)


async def _pump(ws: WebSocket, session: ExecSession, runtime: Runtime) -> str:
    """Copy both ways until one side ends; the reason the session ended."""
    idle_s = runtime.settings.exec_idle_timeout_s
    deadline = time.monotonic() + runtime.settings.exec_max_session_s
    last_input = time.monotonic()
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def finish(reason: str) -> None:
        if not ended.done():
            ended.set_result(reason)

    await ws.send_text(json.dumps({"type": "ready", "exec_id": session.exec_id}))

    async def output() -> None:
        while True:
            block = await session.read()
            if block is None:
                finish("exited")
                return
            try:
                await asyncio.wait_for(ws.send_bytes(block), 30)
            except Exception:
                finish("client_gone")
                return

    async def handle_text(text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await ws.send_text(json.dumps({"type": "error", "message": "expected JSON"}))
            return
        kind = message.get("type")
        if kind == "input" and isinstance(message.get("data"), str):
            await session.write(message["data"].encode("utf-8"))
        elif kind == "resize":
            try:
                size = _Resize.model_validate(message)
            except ValidationError:
                await ws.send_text(json.dumps({"type": "error", "message": "bad resize"}))
                return
            with contextlib.suppress(Exception):
                await session.resize(size.cols, size.rows)
        elif kind == "ping":
            await ws.send_text(json.dumps({"type": "pong"}))
        else:
            await ws.send_text(json.dumps({"type": "error", "message": "unknown message"}))

    async def incoming() -> None:
        nonlocal last_input
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                finish("client_closed")
                return
            last_input = time.monotonic()
            data = message.get("bytes")
            text = message.get("text")
            if data is not None:
                if len(data) > MAX_INPUT_FRAME:
                    finish("input_too_big")
                    return
                await session.write(data)
            elif text is not None:
                if len(text) > MAX_INPUT_FRAME:
                    finish("input_too_big")
                    return
                await handle_text(text)

    async def watchdog() -> None:
        while True:
            now = time.monotonic()
            if now >= deadline:
                finish("session_limit")
                return
            if now - last_input >= idle_s:
                finish("idle_timeout")
                return
            await asyncio.sleep(min(1.0, max(0.05, idle_s / 10)))

    tasks = [asyncio.create_task(fn()) for fn in (output, incoming, watchdog)]
    for task in tasks:
        task.add_done_callback(
            lambda t: finish("error") if not t.cancelled() and t.exception() else None
        )
    try:
        reason = await ended
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
    if reason == "exited":
        code = await session.exit_code()
        with contextlib.suppress(Exception):
            await ws.send_text(json.dumps({"type": "exit", "code": code}))
        await _close(ws, NORMAL, "process exited")
    elif reason == "idle_timeout":
        await _close(ws, IDLE_TIMEOUT, "idle timeout")
    elif reason == "session_limit":
        await _close(ws, SESSION_LIMIT, "session time limit reached")
    elif reason == "input_too_big":
        await _close(ws, 1009, "input frame too big")
    elif reason == "error":
        await _close(ws, INTERNAL_ERROR, "terminal error")
    return reason
