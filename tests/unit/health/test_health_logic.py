"""Pure pieces of health checks: slot spreading, the host guard, status ranges, JSON paths."""

from __future__ import annotations

from collections import Counter

import pytest

from dockyard.health.probes import _MISSING, HostGuard, json_lookup
from dockyard.health.runner import next_slot, slot_offset
from dockyard.health.schemas import parse_status_ranges


def test_slots_are_deterministic_and_spread() -> None:
    interval = 30
    offsets = [slot_offset(i, interval) for i in range(1, 1001)]
    assert offsets == [slot_offset(i, interval) for i in range(1, 1001)]
    assert all(0 <= o < interval for o in offsets)
    per_second = Counter(int(o) for o in offsets)
    assert len(per_second) == interval  # every second of the interval is used
    assert max(per_second.values()) <= 2 * 1000 / interval  # no herd


def test_next_slot_is_the_first_after() -> None:
    for check_id in (1, 7, 1234):
        slot = next_slot(check_id, 60, 1_000_000.0)
        assert 1_000_000.0 < slot <= 1_000_060.0
        assert (slot - slot_offset(check_id, 60)) % 60 == pytest.approx(0)
        assert next_slot(check_id, 60, slot) == pytest.approx(slot + 60)


async def test_host_guard() -> None:
    assert await HostGuard([]).check("anything.example") is None
    guard = HostGuard(["127.0.0.1", ".internal.test", "api.example.com", "10.0.0.0/8"])
    assert await guard.check("127.0.0.1") is None
    assert await guard.check("10.2.3.4") is None
    assert await guard.check("api.example.com") is None
    assert await guard.check("db.internal.test") is None
    assert await guard.check("127.0.0.2") == "host 127.0.0.2 is not allowed"
    assert await guard.check("[::1]") == "host ::1 is not allowed"
    # A name not listed is allowed only if it resolves inside a listed network.
    assert await HostGuard(["127.0.0.0/8"]).check("localhost") is None
    assert await HostGuard(["10.0.0.0/8"]).check("localhost") == "host localhost is not allowed"
    assert await HostGuard(["api.example.com"]).check("other.example.com") is not None


def test_status_ranges_and_json_paths() -> None:
    assert parse_status_ranges("200-399") == [(200, 399)]
    assert parse_status_ranges("200, 204,301-302") == [(200, 200), (204, 204), (301, 302)]
    for bad in ("2xx", "399-200", "99", ""):
        with pytest.raises(ValueError, match=r"status code|codes must be"):
            parse_status_ranges(bad)
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}, "ok": True}
    assert json_lookup(doc, "a.b.1.c") == 2
    assert json_lookup(doc, "$.ok") is True
    assert json_lookup(doc, "a.b.5.c") is _MISSING
    assert json_lookup(doc, "a.x") is _MISSING
