"""CSV import (streamed, validated per row, batched, atomic) and export of hosts.

Import reads the request body chunk by chunk into a spooled temporary file (memory above
1 MiB goes to disk) while enforcing the size limit, so a slow client never holds the
database's write lock. It then parses that file incrementally with the `csv` module over
decoded lines and writes in batches of `BATCH` rows with bulk INSERT/UPDATE statements (no
ORM objects kept), all in one transaction: the whole import commits or nothing does.
Memory stays bounded by the batch, plus one set of the file's host names (duplicates).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from dockyard.audit.service import Actor, record
from dockyard.hosts import repository, validation
from dockyard.hosts.models import Host
from dockyard.hosts.schemas import ImportResult, ImportRowError
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import ConflictError, DockyardError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta

COLUMNS = ("hostname", "address", "ssh_port", "ssh_user", "bastion", "environment", "tags", "notes")
CSV_MEDIA_TYPES = ("text/csv", "application/csv")
BATCH = 500
MAX_REPORTED_ERRORS = 1000
SPOOL_IN_MEMORY = 1024 * 1024
# Export prefixes cells starting with these with a quote, so spreadsheets never run them.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def check_content_type(content_type: str | None) -> None:
    """415 unless the body is declared as CSV (UTF-8)."""
    media, _, params = (content_type or "").partition(";")
    if media.strip().lower() not in CSV_MEDIA_TYPES:
        raise DockyardError(
            "Send the hosts as CSV with `Content-Type: text/csv`.",
            code="unsupported_media_type",
            status_code=415,
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
            "us-ascii",
        ):
            raise DockyardError(
                "The CSV must be UTF-8.", code="unsupported_media_type", status_code=415
            )


def import_conflict() -> ConflictError:
    """A concurrent change made the import's writes collide (e.g. the same new hostname)."""
    return ConflictError(
        "Hosts changed while importing; nothing was imported. Try again.",
        code="import_conflict",
    )


def too_large(limit: int) -> DockyardError:
    return DockyardError(
        f"The CSV is larger than the {limit}-byte limit (DOCKYARD_HOST_IMPORT_MAX_BYTES).",
        code="payload_too_large",
        status_code=413,
        details={"max_bytes": limit},
    )


async def spool(body: AsyncIterator[bytes], limit: int) -> IO[bytes]:
    """The body in a spooled temporary file (rewound); 413 past `limit` bytes."""
    spooled: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    try:
        async for chunk in body:
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            spooled.write(chunk)
    except ClientDisconnect:
        spooled.close()
        raise DockyardError("The client went away before the CSV was sent.") from None
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return spooled


@dataclass
class _Row:
    number: int
    values: dict[str, Any]


@dataclass
class _State:
    created: int = 0
    updated: int = 0
    errors: list[ImportRowError] = field(default_factory=list)
    error_count: int = 0
    seen: dict[str, int] = field(default_factory=dict)

    def error(self, row: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(ImportRowError(row=row, field=column, message=message))


def _unescape(cell: str) -> str:
    """Undo the export's formula guard: `'=x` imports as `=x`."""
    if len(cell) > 1 and cell[0] == "'" and cell[1] in FORMULA_PREFIXES:
        return cell[1:]
    return cell


_RULES: dict[str, Any] = {
    "hostname": validation.hostname,
    "address": validation.address,
    "ssh_port": validation.ssh_port,
    "ssh_user": validation.ssh_user,
    "bastion": validation.bastion,
    "environment": validation.environment,
    "tags": validation.split_tags,
    "notes": validation.notes,
}


def _validate(number: int, record: list[str], index: dict[str, int], state: _State) -> _Row | None:
    if len(record) != len(index):
        state.error(number, "row", f"has {len(record)} fields; the header has {len(index)} columns")
        return None
    values: dict[str, Any] = {}
    ok = True
    for column in COLUMNS:
        cell = _unescape(record[index[column]])
        if column in ("hostname", "address") and not cell.strip():
            state.error(number, column, f"{column} is required")
            ok = False
            continue
        try:
            values[column] = _RULES[column](cell)
        except ValueError as exc:
            state.error(number, column, str(exc))
            ok = False
    if not ok:
        return None
    first = state.seen.get(values["hostname"])
    if first is not None:
        state.error(number, "hostname", f"duplicate hostname: already in row {first}")
        return None
    state.seen[values["hostname"]] = number
    return _Row(number, values)


def _header(reader: Iterator[list[str]]) -> dict[str, int]:
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ValidationFailedError(
            f"The header row cannot be read: {exc}.",
            details={"errors": [{"path": "body.header", "message": "unreadable"}]},
        ) from None
    if not header:
        raise ValidationFailedError(
            "The CSV is empty: it needs a header row " + ",".join(COLUMNS) + ".",
            details={
                "errors": [{"path": "body.header", "message": "missing"}],
                "missing": list(COLUMNS),
            },
        )
    names = [name.strip().lower() for name in header]
    missing = [c for c in COLUMNS if c not in names]
    unknown = [n for n in names if n not in COLUMNS]
    repeated = sorted({n for n in names if names.count(n) > 1 and n in COLUMNS})
    if missing or unknown or repeated:
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if unknown:
            parts.append("unknown columns: " + ", ".join(repr(n) for n in unknown))
        if repeated:
            parts.append("repeated columns: " + ", ".join(repeated))
        raise ValidationFailedError(
            "The CSV header is wrong (" + "; ".join(parts) + "). Expected: " + ",".join(COLUMNS),
            code="invalid_csv_header",
            details={
                "missing": missing,
                "unknown": unknown,
                "repeated": repeated,
                "expected": list(COLUMNS),
                "errors": [{"path": "body.header", "message": "; ".join(parts)}],
            },
        )
    return {name: position for position, name in enumerate(names)}


async def _write(
    session: AsyncSession, rows: list[_Row], owner_id: int, state: _State, dry_run: bool
) -> None:
    existing = await repository.ids_by_hostname(session, [r.values["hostname"] for r in rows])
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row in rows:
        values = dict(row.values)
        values["tags"] = validation.pack_tags(values["tags"])
        values["updated_at"] = now
        host_id = existing.get(values["hostname"])
        if host_id is None:
            values.update(owner_id=owner_id, created_at=now)
            inserts.append(values)
        else:
            values["id"] = host_id
            updates.append(values)
    state.created += len(inserts)
    state.updated += len(updates)
    if dry_run:
        return
    if inserts:
        await session.execute(insert(Host), inserts)
    if updates:
        await session.execute(update(Host), updates)


async def import_csv(
    session: AsyncSession,
    source: IO[bytes],
    *,
    dry_run: bool,
    actor: Actor,
    owner_id: int,
    meta: RequestMeta,
) -> ImportResult:
    """Validate every row; upsert the good ones by hostname (unless `dry_run`).

    The caller commits (or, for a dry run, rolls back); a failed commit leaves nothing.
    """
    text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    index = _header(reader)
    state = _State()
    batch: list[_Row] = []
    number = 1
    try:
        while True:
            try:
                record_ = next(reader, None)
            except csv.Error as exc:
                # The reader dropped the bad line and starts afresh on the next one.
                number += 1
                state.error(number, "row", f"not valid CSV: {exc}")
                continue
            except UnicodeDecodeError:
                state.error(number + 1, "row", "not valid UTF-8; the rest of the file was skipped")
                break
            if record_ is None:
                break
            number += 1
            if not record_ or all(not cell.strip() for cell in record_):
                continue  # blank line
            row = _validate(number, record_, index, state)
            if row is not None:
                batch.append(row)
            if len(batch) >= BATCH:
                await _write(session, batch, owner_id, state, dry_run)
                batch = []
        if batch:
            await _write(session, batch, owner_id, state, dry_run)
    finally:
        text.detach()
    if not dry_run:
        await record(
            session,
            action="host.imported",
            actor=actor,
            target_type="host",
            details={
                "created": state.created,
                "updated": state.updated,
                "errors": state.error_count,
            },
            meta=meta,
        )
        await session.flush()
    return ImportResult(
        created=state.created,
        updated=state.updated,
        errors=state.errors,
        error_count=state.error_count,
        dry_run=dry_run,
    )


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def header_line() -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(COLUMNS)
    return buffer.getvalue()


def export_line(host: Host) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(
        [
            _cell(host.hostname),
            _cell(host.address),
            _cell(host.ssh_port),
            _cell(host.ssh_user),
            _cell(host.bastion),
            _cell(host.environment),
            _cell(";".join(validation.unpack_tags(host.tags))),
            _cell(host.notes),
        ]
    )
    return buffer.getvalue()
