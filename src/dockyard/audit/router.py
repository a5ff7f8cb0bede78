"""HTTP routes for reading, exporting and verifying the audit log."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from dockyard.audit import repository
from dockyard.audit.schemas import (
    AuditEventOut,
    AuditFilters,
    AuditPage,
    AuditVerifyOut,
    Outcome,
)
from dockyard.audit.service import verify_chain
from dockyard.auth.service import Principal
from dockyard.deps import ReadSessionDep, RuntimeDep, require
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import DockyardError
from dockyard.kit.pagination import decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
T = TypeVar("T")


def audit_filters(
    actor: Annotated[str | None, Query(max_length=320, description="User id or email")] = None,
    action: Annotated[str | None, Query(max_length=128, description="Action prefix")] = None,
    target_type: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=128)] = None,
    outcome: Outcome | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditFilters:
    return AuditFilters(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        since=_as_utc(since),
        until=_as_utc(until),
    )


def _as_utc(value: datetime | None) -> datetime | None:
    """A time without an offset is read as UTC (what the API documents)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _before_id(cursor: str | None) -> int | None:
    if not cursor:
        return None
    value = decode_cursor(cursor).get("before_id")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DockyardError("The cursor is not valid.", code="invalid_cursor")
    return value


FiltersDep = Annotated[AuditFilters, Depends(audit_filters)]


@router.get("", response_model=AuditPage)
async def list_events(
    _: Annotated[Principal, Depends(require("audit:read"))],
    session: ReadSessionDep,
    filters: FiltersDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPage:
    """Events newest first, filtered, with cursor pagination."""
    rows = await repository.list_page(session, filters, before_id=_before_id(cursor), limit=limit)
    items = [AuditEventOut.model_validate(r) for r in rows[:limit]]
    next_cursor = encode_cursor({"before_id": items[-1].id}) if len(rows) > limit else None
    return AuditPage(items=items, next_cursor=next_cursor)


_CSV_FIELDS = list(AuditEventOut.model_fields)


@router.get(
    "/export",
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
    response_class=StreamingResponse,
)
async def export_events(
    _: Annotated[Principal, Depends(require("audit:read"))],
    runtime: RuntimeDep,
    filters: FiltersDep,
    format: Literal["csv", "jsonl"] = "csv",
) -> StreamingResponse:
    """Stream every matching event as CSV or JSON lines (bounded memory)."""

    async def rows() -> AsyncIterator[str]:
        async with runtime.db.read_session() as session:
            events = repository.iterate(session, filters)
            first = await anext(events, None)  # fails here, before the 200 is sent
            if format == "csv":
                buffer = io.StringIO()
                writer = csv.DictWriter(buffer, fieldnames=_CSV_FIELDS)
                writer.writeheader()
                yield buffer.getvalue()
            else:
                yield ""
            if first is None:
                return
            async for event in _chain(first, events):
                data = AuditEventOut.model_validate(event).model_dump(mode="json")
                if format == "jsonl":
                    yield json.dumps(data, ensure_ascii=False) + "\n"
                else:
                    buffer = io.StringIO()
                    data["details"] = json.dumps(data["details"], ensure_ascii=False)
                    csv.DictWriter(buffer, fieldnames=_CSV_FIELDS).writerow(data)
                    yield buffer.getvalue()

    body = rows()
    # Run the query before the response starts, so a failure is a proper error response.
    head = await anext(body)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        _chain(head, body),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="dockyard-audit-{stamp}.{format}"'},
    )


async def _chain(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    yield first
    async for item in rest:
        yield item


@router.get("/verify", response_model=AuditVerifyOut)
async def verify(
    _: Annotated[Principal, Depends(require("audit:read"))], runtime: RuntimeDep
) -> AuditVerifyOut:
    """Walk the hash chain and report the first broken row, if any."""
    result = await verify_chain(runtime.db)
    return AuditVerifyOut(
        ok=result.ok, checked=result.checked, bad_id=result.bad_id, reason=result.reason
    )
