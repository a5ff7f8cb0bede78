"""Export, import (plan and apply), snapshots, diff and rollback of the configuration.

The document is one YAML mapping: `version: 1` and `kinds: {<kind>: [objects]}`. It is
written with sorted keys, block style, and objects sorted by each kind's key, so the same
configuration always gives the same bytes (export -> import -> export is identical).
"""

from __future__ import annotations

import difflib
import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.config.kinds import KINDS, ConfigKind, KindContext, invalid, ordered
from dockyard.config.models import ConfigSnapshot
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import NotFoundError, PermissionDeniedError, ValidationFailedError

DOCUMENT_VERSION = 1
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    change: str  # added | changed | removed


def parse_kinds(value: str | None) -> list[str] | None:
    """`?kinds=services,hosts` → the names (422 for an unknown one); None means all."""
    if value is None or not value.strip():
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise ValidationFailedError(
            f"Unknown configuration kind {unknown[0]!r}.",
            code="config_invalid",
            details={
                "errors": [
                    {"path": "query.kinds", "message": f"unknown kind {n!r}"} for n in unknown
                ],
                "kinds": sorted(KINDS),
            },
        )
    return sorted(set(names))


def dump_document(kinds: dict[str, list[dict[str, Any]]]) -> str:
    doc = {"version": DOCUMENT_VERSION, "kinds": kinds}
    return yaml.safe_dump(
        doc, sort_keys=True, default_flow_style=False, allow_unicode=True, width=100, indent=2
    )


async def export_kinds(
    ctx: KindContext, names: list[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    return {kind.name: await kind.export_sorted(ctx) for kind in ordered(names)}


async def export_document(ctx: KindContext, names: list[str] | None = None) -> str:
    return dump_document(await export_kinds(ctx, names))


def load_document(text: str) -> dict[str, Any]:
    """Parse and check the outer shape (422 naming the path of what is wrong)."""
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise invalid("body", "the document is larger than 16 MiB")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise invalid("body", f"not valid YAML{where}") from exc
    if not isinstance(doc, dict):
        raise invalid("body", "the document must be a mapping with `version` and `kinds`")
    extra = sorted(str(k) for k in doc if k not in ("version", "kinds"))
    if extra:
        raise invalid(str(extra[0]), "unknown field")
    if doc.get("version") != DOCUMENT_VERSION:
        raise invalid("version", f"must be {DOCUMENT_VERSION}")
    kinds = doc.get("kinds")
    if kinds is None:
        kinds = {}
    if not isinstance(kinds, dict):
        raise invalid("kinds", "must be a mapping of kind name to a list of objects")
    for name, items in kinds.items():
        if name not in KINDS:
            raise invalid(f"kinds.{name}", f"unknown kind (known: {', '.join(sorted(KINDS))})")
        if items is None:
            kinds[name] = []
        elif not isinstance(items, list):
            raise invalid(f"kinds.{name}", "must be a list")
    return kinds


async def apply_document(
    ctx: KindContext,
    kinds: dict[str, Any],
    *,
    only: list[str] | None,
    prune: bool,
) -> list[Change]:
    """Plan and apply in the caller's transaction; the caller commits or rolls back.

    Kinds not in the document are left alone; with `only`, kinds not named are ignored.
    """
    names = [n for n in kinds if only is None or n in only]
    changes: list[Change] = []
    planned: list[tuple[ConfigKind, list[tuple[str, dict[str, Any], str]], dict[str, Any]]] = []
    # Validate everything first, so an error names its path before anything is applied.
    for kind in ordered(names):
        desired: list[tuple[str, dict[str, Any], str]] = []
        seen: dict[str, str] = {}
        for index, raw in enumerate(kinds[kind.name]):
            path = f"kinds.{kind.name}[{index}]"
            item = await kind.normalize(ctx, raw, path)
            key = kind.key(item)
            if key in seen:
                raise invalid(path, f"duplicate of {seen[key]} ({key})")
            seen[key] = path
            desired.append((key, item, path))
        current = {kind.key(i): i for i in await kind.export(ctx)}
        planned.append((kind, desired, current))
    for kind, desired, current in planned:
        wanted = {key for key, _, _ in desired}
        if prune and kind.prunable:
            for key in sorted(set(current) - wanted, reverse=True):
                await kind.delete(ctx, current[key])
                changes.append(Change(kind.name, key, "removed"))
        for key, item, path in desired:
            if key not in current:
                await kind.create(ctx, item, path)
                changes.append(Change(kind.name, key, "added"))
            elif current[key] != item:
                await kind.update(ctx, current[key], item, path)
                changes.append(Change(kind.name, key, "changed"))
        await ctx.session.flush()
    return changes


def write_permissions(kinds: Iterable[str], prune: bool) -> list[str]:
    perms: set[str] = set()
    for name in kinds:
        kind = KINDS[name]
        perms.update(kind.write_permissions)
        if prune and name == "services":
            perms.add("services:delete")
    return sorted(perms)


# ---------------------------------------------------------------- snapshots


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def compress(text: str) -> bytes:
    return zlib.compress(text.encode(), 9)


def decompress(data: bytes) -> str:
    return zlib.decompress(data).decode()


async def latest_snapshot(session: AsyncSession) -> ConfigSnapshot | None:
    return (
        await session.execute(select(ConfigSnapshot).order_by(ConfigSnapshot.id.desc()).limit(1))
    ).scalar_one_or_none()


def _summary(changes: list[Change]) -> str:
    if not changes:
        return ""
    parts = [f"{c.change} {c.kind} {c.name}" for c in changes[:5]]
    more = len(changes) - 5
    return ("; ".join(parts) + (f"; and {more} more" if more > 0 else ""))[:500]


async def store_snapshot(
    session: AsyncSession,
    document: str,
    *,
    source: str,
    actor: Actor | None,
    retention: int,
    summary: str = "",
    force: bool = False,
) -> ConfigSnapshot | None:
    """Store `document` unless it equals the latest snapshot (then None); apply retention."""
    digest = sha256_text(document)
    latest = await latest_snapshot(session)
    if latest is not None and latest.sha256 == digest and not force:
        return None
    if latest is not None and not summary:
        summary = _summary(diff_documents(decompress(latest.document), document))
    snapshot = ConfigSnapshot(
        parent_id=latest.id if latest else None,
        source=source,
        actor_type=actor.type if actor else None,
        actor_id=actor.id if actor else None,
        actor_label=actor.label if actor else None,
        sha256=digest,
        size=len(document.encode()),
        document=compress(document),
        summary=summary,
        created_at=utcnow(),
    )
    session.add(snapshot)
    await session.flush()
    if retention > 0:
        old_ids = (
            (
                await session.execute(
                    select(ConfigSnapshot.id).order_by(ConfigSnapshot.id.desc()).offset(retention)
                )
            )
            .scalars()
            .all()
        )
        if old_ids:
            await session.execute(delete(ConfigSnapshot).where(ConfigSnapshot.id.in_(old_ids)))
    return snapshot


async def snapshot_or_404(session: AsyncSession, snapshot_id: int) -> ConfigSnapshot:
    row = await session.get(ConfigSnapshot, snapshot_id)
    if row is None:
        raise NotFoundError(
            f"Configuration snapshot {snapshot_id} does not exist.", code="snapshot_not_found"
        )
    return row


def _objects(document: str) -> dict[tuple[str, str], Any]:
    doc = yaml.safe_load(document) or {}
    out: dict[tuple[str, str], Any] = {}
    for name, items in (doc.get("kinds") or {}).items():
        kind = KINDS.get(name)
        for item in items or []:
            key = kind.key(item) if kind is not None else str(item)
            out[(name, key)] = item
    return out


def diff_documents(left: str, right: str) -> list[Change]:
    """Per-object changes from `left` to `right` (kinds absent from one side count empty)."""
    a, b = _objects(left), _objects(right)
    changes = []
    for key in sorted(set(a) | set(b)):
        if key not in a:
            changes.append(Change(key[0], key[1], "added"))
        elif key not in b:
            changes.append(Change(key[0], key[1], "removed"))
        elif a[key] != b[key]:
            changes.append(Change(key[0], key[1], "changed"))
    return changes


def unified_diff(left: str, right: str, from_name: str, to_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            left.splitlines(keepends=True),
            right.splitlines(keepends=True),
            fromfile=from_name,
            tofile=to_name,
        )
    )


def check_permissions(principal: Any, perms: Iterable[str]) -> None:
    for perm in perms:
        if not principal.can(perm):
            raise PermissionDeniedError(
                f"You do not have the '{perm}' permission.", details={"permission": perm}
            )


async def audit_import(
    ctx: KindContext, *, action: str, changes: list[Change], details: dict[str, Any]
) -> None:
    await record(
        ctx.session,
        action=action,
        actor=ctx.actor,
        target_type="config",
        details={
            **details,
            "changes": len(changes),
            "added": sum(1 for c in changes if c.change == "added"),
            "changed": sum(1 for c in changes if c.change == "changed"),
            "removed": sum(1 for c in changes if c.change == "removed"),
        },
        meta=ctx.meta,
    )
