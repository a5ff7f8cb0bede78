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


# Young collections every 50,000 allocations (not 700), the old generation looked at after
# 20 x 100 of them (not 10 x 10). With thousands of open sockets and agents a full
# collection pauses the event loop for 100-200 ms; at the defaults one came every few
# seconds under load, mostly for objects that were merely in flight when a young collection
# promoted them. Cyclic garbage is still found, in fewer and larger passes.
THRESHOLDS = (50_000, 20, 100)


def tune() -> None:
    """Freeze what start-up built (it lives as long as the process, so no collection needs to
    scan it again), set `THRESHOLDS`, and log long pauses (`watch`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    watch()


def watch() -> None:
    """Log every collection that pauses the process for `SLOW_PAUSE_S` or more."""
    if _on_gc not in gc.callbacks:
        gc.callbacks.append(_on_gc)
