"""Long garbage-collection pauses are logged."""

from __future__ import annotations

import gc

import pytest
from structlog.testing import capture_logs

from dockyard.kit import gc_pauses


def test_a_collection_over_the_threshold_is_logged_once_per_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gc_pauses.watch()
    gc_pauses.watch()  # idempotent
    try:
        assert gc.callbacks.count(gc_pauses._on_gc) == 1
        monkeypatch.setattr(gc_pauses, "SLOW_PAUSE_S", 0.0)
        with capture_logs() as logs:
            gc.collect(2)
        pauses = [entry for entry in logs if entry["event"] == "gc_pause"]
        assert len(pauses) == 1
        assert pauses[0]["generation"] == 2
        assert pauses[0]["ms"] >= 0
        monkeypatch.setattr(gc_pauses, "SLOW_PAUSE_S", 60.0)
        with capture_logs() as logs:
            gc.collect(2)
        assert not [entry for entry in logs if entry["event"] == "gc_pause"]
    finally:
        gc.callbacks.remove(gc_pauses._on_gc)
