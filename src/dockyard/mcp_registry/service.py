"""MCP registry logic: CRUD, checks (history, tool lists and changes, up/down events),
periodic checking, and validated usage ingest."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.kit.secrets_box import SecretBox, SecretBoxError
from dockyard.mcp_registry import analytics, repository
from dockyard.mcp_registry.client import McpCheckResult, check_mcp_server
from dockyard.mcp_registry.models import (
    McpCheck,
    McpServer,
    McpTool,
    McpToolChange,
    UsageEvent,
)
from dockyard.mcp_registry.schemas import (
    MAX_BATCH,
    McpCheckOut,
    McpServerCreate,
    McpServerOut,
    McpServerPatch,
    ToolSummary,
    UsageEventIn,
    UsageIngestResult,
)

log = structlog.get_logger(__name__)

TICK_INTERVAL_S = 5.0
MAX_CONCURRENT_CHECKS = 10
MAX_ERRORS_REPORTED = 50


def secret_box(runtime: Any) -> SecretBox:
    return SecretBox(runtime.auth.secret, purpose="mcp-headers")


def _encrypt_headers(runtime: Any, headers: dict[str, str] | None) -> tuple[str | None, list[str]]:
    if not headers:
        return None, []
    return secret_box(runtime).encrypt(json.dumps(headers)), sorted(headers)


def decrypt_headers(runtime: Any, server: McpServer) -> dict[str, str]:
    if not server.headers_encrypted:
        return {}
    try:
        data = json.loads(secret_box(runtime).decrypt(server.headers_encrypted))
    except (SecretBoxError, ValueError):
        log.warning("mcp_headers_undecryptable", server_id=server.id)
        return {}
    return {str(k): str(v) for k, v in data.items()}


# ---------------------------------------------------------------- read


async def get_server(session: AsyncSession, server_id: int) -> McpServer:
    """The server, or a 404."""
    server = await repository.get(session, server_id)
    if server is None:
        raise NotFoundError(f"MCP server {server_id} not found.")
    return server


def check_out(check: McpCheck, tools: list[ToolSummary] | None = None) -> McpCheckOut:
    return McpCheckOut(
        id=check.id,
        checked_at=check.checked_at,
        healthy=check.healthy,
        latency_ms=check.latency_ms,
        server_name=check.server_name,
        server_version=check.server_version,
        protocol_version=check.protocol_version,
        tool_count=check.tool_count,
        tools=tools or [],
        error=check.error,
    )


def _server_out(server: McpServer, tool_count: int, last: McpCheck | None) -> McpServerOut:
    return McpServerOut(
        id=server.id,
        name=server.name,
        description=server.description,
        url=server.url,
        transport=server.transport,
        header_names=list(server.header_names or []),
        service_id=server.service_id,
        enabled=server.enabled,
        tags=list(server.tags or []),
        check_interval_s=server.check_interval_s,
        timeout_s=server.timeout_s,
        status=server.status,
        tool_count=tool_count,
        last_check=check_out(last) if last is not None else None,
        created_at=server.created_at,
        updated_at=server.updated_at,
    )


async def list_out(session: AsyncSession) -> list[McpServerOut]:
    servers = list(await repository.all_by_name(session))
    counts = await repository.tool_counts(session, [s.id for s in servers])
    checks = await repository.checks_by_server(
        session, [s.last_check_id for s in servers if s.last_check_id]
    )
    return [_server_out(s, counts.get(s.id, 0), checks.get(s.id)) for s in servers]


async def server_out(session: AsyncSession, server: McpServer) -> McpServerOut:
    counts = await repository.tool_counts(session, [server.id])
    checks = await repository.checks_by_server(
        session, [server.last_check_id] if server.last_check_id else []
    )
    last = checks.get(server.id)
    tools: list[ToolSummary] = []
    out = _server_out(server, counts.get(server.id, 0), last)
    if out.last_check is not None and last is not None and last.healthy:
        rows = await session.scalars(
            select(McpTool).where(McpTool.server_id == server.id).order_by(McpTool.name)
        )
        tools = [ToolSummary(name=t.name, description=t.description) for t in rows.all()]
        out.last_check.tools = tools
    return out


# ---------------------------------------------------------------- write


async def _check_unique_name(session: AsyncSession, name: str, except_id: int | None) -> None:
    if await repository.name_taken(session, name, except_id=except_id):
        raise ConflictError(
            f"An MCP server named {name!r} already exists.", code="mcp_server_exists"
        )


async def _check_service(session: AsyncSession, service_id: int | None) -> None:
    if service_id is None:
        return
    from dockyard.services.models import Service

    if await session.get(Service, service_id) is None:
        raise ValidationFailedError(
            f"Service {service_id} does not exist.",
            details={"errors": [{"path": "service_id", "message": "no such service"}]},
        )


async def create_server(
    runtime: Any,
    session: AsyncSession,
    body: McpServerCreate,
    *,
    actor: Actor,
    meta: RequestMeta | None,
) -> McpServer:
    await _check_unique_name(session, body.name, None)
    await _check_service(session, body.service_id)
    encrypted, names = _encrypt_headers(runtime, body.headers)
    server = McpServer(
        name=body.name,
        description=body.description,
        url=body.url,
        transport=body.transport,
        headers_encrypted=encrypted,
        header_names=names,
        service_id=body.service_id,
        enabled=body.enabled,
        tags=body.tags,
        check_interval_s=body.check_interval_s,
        timeout_s=body.timeout_s,
        status="unknown",
        next_check_at=utcnow() if body.enabled else None,
        created_by_label=actor.label,
    )
    session.add(server)
    await session.flush()
    await record(
        session,
        action="mcp_server.create",
        actor=actor,
        target_type="mcp_server",
        target_id=server.id,
        details={
            "name": server.name,
            "url": server.url,
            "transport": server.transport,
            "header_names": names,
        },
        meta=meta,
    )
    return server


async def update_server(
    runtime: Any,
    session: AsyncSession,
    server: McpServer,
    body: McpServerPatch,
    *,
    actor: Actor,
    meta: RequestMeta | None,
) -> McpServer:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is not None:
        await _check_unique_name(session, changes["name"], server.id)
    if "service_id" in changes:
        await _check_service(session, changes["service_id"])
    changed: list[str] = []
    for key, value in changes.items():
        if key == "headers":
            encrypted, names = _encrypt_headers(runtime, value)
            server.headers_encrypted, server.header_names = encrypted, names
            changed.append("headers")
            continue
        if value is None and key not in ("service_id",):
            continue
        if getattr(server, key) != value:
            setattr(server, key, value)
            changed.append(key)
    if "enabled" in changed or "url" in changed or "transport" in changed:
        server.next_check_at = utcnow() if server.enabled else None
    await record(
        session,
        action="mcp_server.update",
        actor=actor,
        target_type="mcp_server",
        target_id=server.id,
        details={"name": server.name, "changed": changed},
        meta=meta,
    )
    return server


async def delete_server(
    session: AsyncSession, server: McpServer, *, actor: Actor, meta: RequestMeta | None
) -> None:
    server_id, name = server.id, server.name
    for model in (UsageEvent, *(rollup for rollup, _, _ in analytics.ROLLUPS)):
        await session.execute(delete(model).where(model.mcp_server_id == server_id))
    await session.execute(delete(McpToolChange).where(McpToolChange.server_id == server_id))
    await session.execute(delete(McpTool).where(McpTool.server_id == server_id))
    await session.execute(delete(McpCheck).where(McpCheck.server_id == server_id))
    await session.delete(server)
    await record(
        session,
        action="mcp_server.delete",
        actor=actor,
        target_type="mcp_server",
        target_id=server_id,
        details={"name": name},
        meta=meta,
    )


# ---------------------------------------------------------------- checks


async def store_check(
    session: AsyncSession, server: McpServer, result: McpCheckResult, *, now: datetime
) -> McpCheck:
    """Store a check, update the tool list (recording changes) and the up/down status."""
    had_listing = (
        await session.scalar(
            select(McpCheck.id)
            .where(McpCheck.server_id == server.id, McpCheck.healthy.is_(True))
            .limit(1)
        )
    ) is not None
    check = McpCheck(
        server_id=server.id,
        checked_at=now,
        healthy=result.healthy,
        latency_ms=result.latency_ms,
        server_name=result.server_name,
        server_version=result.server_version,
        protocol_version=result.protocol_version,
        tool_count=result.tool_count if result.healthy else None,
        error=result.error,
    )
    session.add(check)
    await session.flush()
    if result.healthy:
        current = {
            t.name: t
            for t in (
                await session.scalars(select(McpTool).where(McpTool.server_id == server.id))
            ).all()
        }
        seen = {t.name: t for t in result.tools}
        for name, tool in seen.items():
            row = current.get(name)
            if row is None:
                session.add(
                    McpTool(
                        server_id=server.id,
                        name=name,
                        description=tool.description,
                        input_schema=tool.input_schema,
                        first_seen_at=now,
                        last_seen_at=now,
                    )
                )
                if had_listing:
                    session.add(
                        McpToolChange(
                            server_id=server.id,
                            check_id=check.id,
                            change="added",
                            tool_name=name,
                            at=now,
                        )
                    )
            else:
                row.description = tool.description
                row.input_schema = tool.input_schema
                row.last_seen_at = now
        for name, row in current.items():
            if name not in seen:
                await session.delete(row)
                session.add(
                    McpToolChange(
                        server_id=server.id,
                        check_id=check.id,
                        change="removed",
                        tool_name=name,
                        at=now,
                    )
                )
    previous = server.status
    status = "up" if result.healthy else "down"
    server.status = status
    server.last_check_id = check.id
    if previous != status and (status == "down" or previous == "down"):
        publish_after_commit(
            session,
            f"mcp.server.{status}",
            {
                "id": server.id,
                "name": server.name,
                "url": server.url,
                "previous": previous,
                "error": result.error,
                "check_id": check.id,
            },
        )
    return check


async def _guarded_check(
    runtime: Any, url: str, transport: str, headers: dict[str, str], timeout_s: float
) -> McpCheckResult:
    """Probe unless `DOCKYARD_HEALTH_ALLOWED_HOSTS` (the checks' SSRF guard) refuses the host."""
    from urllib.parse import urlsplit

    from dockyard.health.probes import HostGuard

    guard = HostGuard(list(getattr(runtime.settings, "health_allowed_hosts", []) or []))
    refused = await guard.check(urlsplit(url).hostname or "")
    if refused is not None:
        return McpCheckResult(healthy=False, latency_ms=0.0, error=f"SSRF guard: {refused}")
    return await check_mcp_server(url, transport, headers, timeout_s)


async def run_check(runtime: Any, server_id: int) -> tuple[McpCheck, McpCheckResult]:
    """Probe the server now and store the outcome (its own transaction)."""
    async with runtime.db.read_session() as session:
        server = await get_server(session, server_id)
        url, transport, timeout_s = server.url, server.transport, server.timeout_s
        headers = decrypt_headers(runtime, server)
    result = await _guarded_check(runtime, url, transport, headers, timeout_s)
    async with runtime.db.session() as session:
        server = await get_server(session, server_id)
        now = utcnow()
        check = await store_check(session, server, result, now=now)
        server.next_check_at = now + timedelta(seconds=server.check_interval_s)
        await session.commit()
    return check, result


async def claim_due(runtime: Any, now: datetime) -> list[int]:
    """Claim the enabled servers whose next check is due (safe with several loops)."""
    async with runtime.db.read_session() as session:
        candidates = list(
            (
                await session.execute(
                    select(McpServer.id, McpServer.check_interval_s).where(
                        McpServer.enabled.is_(True),
                        or_(McpServer.next_check_at.is_(None), McpServer.next_check_at <= now),
                    )
                )
            ).all()
        )
    claimed: list[int] = []
    for server_id, interval in candidates:
        async with runtime.db.session() as session:
            result = await session.execute(
                update(McpServer)
                .where(
                    McpServer.id == server_id,
                    or_(McpServer.next_check_at.is_(None), McpServer.next_check_at <= now),
                )
                .values(next_check_at=now + timedelta(seconds=interval))
            )
            await session.commit()
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(int(server_id))
    return claimed


async def check_due_servers(runtime: Any) -> None:
    """One tick of the periodic MCP checks (run by the embedded scheduler and `beat`)."""
    claimed = await claim_due(runtime, utcnow())
    if not claimed:
        return
    semaphore = asyncio.Semaphore(MAX_CONCURRENT_CHECKS)

    async def one(server_id: int) -> None:
        async with semaphore:
            try:
                await run_check(runtime, server_id)
            except NotFoundError:
                pass
            except Exception:
                log.exception("mcp_check_failed", server_id=server_id)

    await asyncio.gather(*(one(server_id) for server_id in claimed))


# ---------------------------------------------------------------- usage ingest


def _event_errors(index: int, exc: ValidationError) -> list[dict[str, str]]:
    errors = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        path = f"events[{index}].{loc}" if loc else f"events[{index}]"
        errors.append({"path": path, "message": str(err.get("msg", "invalid value"))})
    return errors


def _invalid(errors: list[dict[str, str]]) -> ValidationFailedError:
    shown = errors[:MAX_ERRORS_REPORTED]
    first = shown[0]["path"] if shown else "events"
    return ValidationFailedError(
        f"The batch is invalid ({len(errors)} problem(s), first at {first}); nothing was stored.",
        details={"errors": shown, "total": len(errors)},
    )


async def ingest(session: AsyncSession, body: Any) -> UsageIngestResult:
    """Validate the whole batch (any problem: 422, nothing stored), then store it."""
    from dockyard.kit.errors import DockyardError

    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise _invalid([{"path": "events", "message": "must be a list of events"}])
    extra = sorted(set(body) - {"events"})
    if extra:
        raise _invalid([{"path": extra[0], "message": "unknown field"}])
    raw: list[Any] = body["events"]
    if len(raw) > MAX_BATCH:
        raise DockyardError(
            f"A batch holds at most {MAX_BATCH} events ({len(raw)} sent); nothing was stored.",
            code="batch_too_large",
            status_code=413,
            details={"errors": [{"path": "events", "message": f"at most {MAX_BATCH} events"}]},
        )
    servers = (await session.execute(select(McpServer.id, McpServer.name))).all()
    by_id = {int(i): int(i) for i, _ in servers}
    by_name = {str(n).lower(): int(i) for i, n in servers}
    errors: list[dict[str, str]] = []
    parsed: list[analytics.NewEvent] = []
    for index, item in enumerate(raw):
        try:
            event = UsageEventIn.model_validate(item)
        except ValidationError as exc:
            errors.extend(_event_errors(index, exc))
            continue
        ref = event.mcp_server
        server_id: int | None
        if isinstance(ref, int):
            server_id = by_id.get(ref)
        else:
            server_id = by_name.get(ref.lower())
            if server_id is None and ref.isdigit():
                server_id = by_id.get(int(ref))
        if server_id is None:
            errors.append(
                {"path": f"events[{index}].mcp_server", "message": f"unknown MCP server {ref!r}"}
            )
            continue
        parsed.append(
            analytics.NewEvent(
                id=event.id,
                ts=event.timestamp.astimezone(utcnow().tzinfo),
                user=event.user,
                mcp_server_id=server_id,
                tool=event.tool,
                duration_ms=event.duration_ms,
                success=event.success,
                error=event.error,
                tokens_in=event.tokens_in,
                tokens_out=event.tokens_out,
                tokens_cached=event.tokens_cached,
                cost=event.cost_estimate,
            )
        )
    if errors:
        raise _invalid(errors)
    stored = await analytics.insert_events(session, parsed)
    return UsageIngestResult(received=len(raw), stored=stored, duplicates=len(raw) - stored)
