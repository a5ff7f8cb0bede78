"""HTTP routes: MCP server registry, usage ingest, analytics. Logic lives in service.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response, status

from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.kit.errors import ValidationFailedError
from dockyard.mcp_registry import reports, repository
from dockyard.mcp_registry import service as mcp
from dockyard.mcp_registry.schemas import (
    CostOut,
    ErrorsOut,
    McpCheckHistory,
    McpCheckOut,
    McpServerCreate,
    McpServerList,
    McpServerOut,
    McpServerPatch,
    McpToolChangeList,
    McpToolChangeOut,
    McpToolList,
    McpToolOut,
    OverviewOut,
    PerformanceOut,
    ToolsOut,
    ToolSummary,
    UsageBatchRaw,
    UsageIngestResult,
    UsersOut,
)

router = APIRouter(tags=["mcp"])
PREFIX = "/api/v1/mcp-servers"


@router.get(PREFIX, response_model=McpServerList)
async def list_mcp_servers(
    _: Annotated[Principal, Depends(require("mcp:read"))], session: ReadSessionDep
) -> McpServerList:
    """Registered MCP servers with their status, last check and tool count."""
    return McpServerList(items=await mcp.list_out(session))


@router.post(PREFIX, response_model=McpServerOut, status_code=status.HTTP_201_CREATED)
async def create_mcp_server(
    body: McpServerCreate,
    principal: Annotated[Principal, Depends(require("mcp:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    response: Response,
) -> McpServerOut:
    """Register a server; header values are stored encrypted and never returned."""
    server = await mcp.create_server(runtime, session, body, actor=principal.actor, meta=meta)
    await session.commit()
    response.headers["Location"] = f"{PREFIX}/{server.id}"
    return await mcp.server_out(session, server)


@router.get(f"{PREFIX}/{{server_id}}", response_model=McpServerOut)
async def get_mcp_server(
    server_id: int,
    _: Annotated[Principal, Depends(require("mcp:read"))],
    session: ReadSessionDep,
) -> McpServerOut:
    """One server with its last check (and the tools it listed) and `tool_count`."""
    return await mcp.server_out(session, await mcp.get_server(session, server_id))


@router.patch(f"{PREFIX}/{{server_id}}", response_model=McpServerOut)
async def update_mcp_server(
    server_id: int,
    body: McpServerPatch,
    principal: Annotated[Principal, Depends(require("mcp:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> McpServerOut:
    """Change a server; `headers` replaces all headers (`{}` removes them)."""
    server = await mcp.get_server(session, server_id)
    await mcp.update_server(runtime, session, server, body, actor=principal.actor, meta=meta)
    await session.commit()
    return await mcp.server_out(session, server)


@router.delete(f"{PREFIX}/{{server_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_mcp_server(
    server_id: int,
    principal: Annotated[Principal, Depends(require("mcp:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Delete a server with its checks, tools and usage data."""
    server = await mcp.get_server(session, server_id)
    await mcp.delete_server(session, server, actor=principal.actor, meta=meta)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(f"{PREFIX}/{{server_id}}/check", response_model=McpCheckOut)
async def check_mcp_server_now(
    server_id: int,
    _: Annotated[Principal, Depends(require("mcp:manage"))],
    runtime: RuntimeDep,
) -> McpCheckOut:
    """Initialize a session and list the tools now; the outcome is stored in the history."""
    check, result = await mcp.run_check(runtime, server_id)
    tools = [ToolSummary(name=t.name, description=t.description) for t in result.tools]
    return mcp.check_out(check, tools)


@router.get(f"{PREFIX}/{{server_id}}/history", response_model=McpCheckHistory)
async def mcp_server_history(
    server_id: int,
    _: Annotated[Principal, Depends(require("mcp:read"))],
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> McpCheckHistory:
    """The latest checks, newest first."""
    await mcp.get_server(session, server_id)
    rows = await repository.check_history(session, server_id, limit)
    return McpCheckHistory(items=[mcp.check_out(c) for c in rows])


@router.get(f"{PREFIX}/{{server_id}}/tools", response_model=McpToolList)
async def mcp_server_tools(
    server_id: int,
    _: Annotated[Principal, Depends(require("mcp:read"))],
    session: ReadSessionDep,
) -> McpToolList:
    """The tools listed at the last healthy check, with their input schemas."""
    await mcp.get_server(session, server_id)
    rows = await repository.tools(session, server_id)
    return McpToolList(
        items=[
            McpToolOut(
                name=t.name,
                description=t.description,
                input_schema=t.input_schema or {},
                first_seen_at=t.first_seen_at,
                last_seen_at=t.last_seen_at,
            )
            for t in rows
        ]
    )


@router.get(f"{PREFIX}/{{server_id}}/tool-changes", response_model=McpToolChangeList)
async def mcp_server_tool_changes(
    server_id: int,
    _: Annotated[Principal, Depends(require("mcp:read"))],
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> McpToolChangeList:
    """Tools added or removed between checks, newest first."""
    await mcp.get_server(session, server_id)
    rows = await repository.tool_changes(session, server_id, limit)
    return McpToolChangeList(
        items=[
            McpToolChangeOut(
                id=c.id, change=c.change, tool_name=c.tool_name, check_id=c.check_id, at=c.at
            )
            for c in rows
        ]
    )


# ---------------------------------------------------------------- usage and analytics


@router.post("/api/v1/usage/events", response_model=UsageIngestResult)
async def ingest_usage_events(
    body: UsageBatchRaw,
    _: Annotated[Principal, Depends(require("analytics:ingest"))],
    session: SessionDep,
) -> UsageIngestResult:
    """Store a batch of at most 10,000 usage events, idempotently by event id.

    The whole batch is validated first: any invalid event is a 422 naming `events[i].field`
    and nothing is stored; more than 10,000 events is a 413.
    """
    result = await mcp.ingest(session, body.model_dump())
    await session.commit()
    return result


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


async def _view(
    view: str,
    session: Any,
    since: datetime | None,
    until: datetime | None,
    mcp_server_id: int | None,
    format: str,
) -> Any:
    for name, value in (("since", since), ("until", until)):
        if value is not None and not 1970 <= value.year <= 9000:
            raise ValidationFailedError(
                f"`{name}` is out of range.",
                details={"errors": [{"path": name, "message": "must be between 1970 and 9000"}]},
            )
    r = reports.resolve_range(_aware(since), _aware(until), mcp_server_id)
    if r.since >= r.until:
        raise ValidationFailedError(
            "`since` must be before `until`.",
            details={"errors": [{"path": "since", "message": "must be before until"}]},
        )
    data = await reports.build(view, session, r)
    if format == "csv":
        return Response(
            content=reports.to_csv(view, data),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="dockyard-{view}.csv"'},
        )
    return data


Since = Annotated[datetime | None, Query(description="Start (ISO 8601; default: 7 days ago).")]
Until = Annotated[datetime | None, Query(description="End, exclusive (default: now).")]
ServerFilter = Annotated[int | None, Query(description="Only this MCP server.")]
Format = Annotated[Literal["json", "csv"], Query()]
_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


@router.get("/api/v1/analytics/overview", response_model=OverviewOut, responses=_CSV)
async def analytics_overview(
    _: Annotated[Principal, Depends(require("analytics:read"))],
    session: ReadSessionDep,
    since: Since = None,
    until: Until = None,
    mcp_server_id: ServerFilter = None,
    format: Format = "json",
) -> Any:
    """Totals, cost today and queries/cost/latency/errors per hour."""
    return await _view("overview", session, since, until, mcp_server_id, format)


@router.get("/api/v1/analytics/cost", response_model=CostOut, responses=_CSV)
async def analytics_cost(
    _: Annotated[Principal, Depends(require("analytics:read"))],
    session: ReadSessionDep,
    since: Since = None,
    until: Until = None,
    mcp_server_id: ServerFilter = None,
    format: Format = "json",
) -> Any:
    """Cost today, per day, and per MCP server per day (UTC days)."""
    return await _view("cost", session, since, until, mcp_server_id, format)


@router.get("/api/v1/analytics/performance", response_model=PerformanceOut, responses=_CSV)
async def analytics_performance(
    _: Annotated[Principal, Depends(require("analytics:read"))],
    session: ReadSessionDep,
    since: Since = None,
    until: Until = None,
    mcp_server_id: ServerFilter = None,
    format: Format = "json",
) -> Any:
    """Average and p95 duration (p95 estimated from a fixed-bucket histogram)."""
    return await _view("performance", session, since, until, mcp_server_id, format)


@router.get("/api/v1/analytics/errors", response_model=ErrorsOut, responses=_CSV)
async def analytics_errors(
    _: Annotated[Principal, Depends(require("analytics:read"))],
    session: ReadSessionDep,
    since: Since = None,
    until: Until = None,
    mcp_server_id: ServerFilter = None,
    format: Format = "json",
) -> Any:
    """Error rate overall and per hour."""
    return await _view("errors", session, since, until, mcp_server_id, format)


@router.get("/api/v1/analytics/tools", response_model=ToolsOut, responses=_CSV)
async def analytics_tools(
    _: Annotated[Principal, Depends(require("analytics:read"))],
    session: ReadSessionDep,
    since: Since = None,
    until: Until = None,
    mcp_server_id: ServerFilter = None,
    format: Format = "json",
) -> Any:
    """The most used tools (top 100)."""
    return await _view("tools", session, since, until, mcp_server_id, format)


@router.get("/api/v1/analytics/users", response_model=UsersOut, responses=_CSV)
async def analytics_users(
    _: Annotated[Principal, Depends(require("analytics:read"))],
    session: ReadSessionDep,
    since: Since = None,
    until: Until = None,
    mcp_server_id: ServerFilter = None,
    format: Format = "json",
) -> Any:
    """Activity per user."""
    return await _view("users", session, since, until, mcp_server_id, format)


__all__ = ["router"]
