"""Long garbage-collection pauses, logged: a full collection stops the event loop, and on a
server holding thousands of sockets it can take longer than anything else it does."""

from __future__ import annotations

import gc
import time
from typing import Any

import structlog

log = structlog.get_logger(__name__)

SLOW_PAUSE_S = 0.05
_started: list[float] = []


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
        return
    if not _started:
        return
    took = time.perf_counter() - _started.pop()
    if took >= SLOW_PAUSE_S:
        log.warning(
            "gc_pause",
            generation=info.get("generation"),
            ms=round(took * 1000, 1),
            collected=info.get("collected"),
        )


def watch() -> None:
    """Log every collection that pauses the process for `SLOW_PAUSE_S` or more."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)
