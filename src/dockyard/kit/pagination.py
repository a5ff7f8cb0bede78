"""List envelopes: offset pages and opaque cursor pages."""

from __future__ import annotations

import base64
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from dockyard.kit.errors import DockyardError

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """An offset page: `{"items", "total", "limit", "offset"}`."""

    items: list[T]
    total: int
    limit: int
    offset: int


class CursorPage(BaseModel, Generic[T]):
    """A cursor page: `{"items", "next_cursor"}`; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(payload: dict[str, Any]) -> str:
    """Opaque, URL-safe cursor from a small JSON payload."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """Inverse of `encode_cursor`; a bad cursor is a 400, not a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DockyardError("The cursor is not valid.", code="invalid_cursor") from exc
    if not isinstance(value, dict):
        raise DockyardError("The cursor is not valid.", code="invalid_cursor")
    return value
