"""Tier and bucket choice per range."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.metrics.models import HOUR, MINUTE, RAW
from dockyard.metrics.service import MAX_POINTS, RANGES, _rate, choose_tier
from tests.conftest import make_settings

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("range_", "res", "step"),
    [
        ("1h", RAW, 10),
        ("6h", RAW, 60),
        ("24h", RAW, 300),
        ("7d", MINUTE, 1800),
        ("30d", HOUR, 7200),
        ("90d", HOUR, 21600),
    ],
)
def test_default_tiers(tmp_path: Path, range_: str, res: int, step: int) -> None:
    tier = choose_tier(RANGES[range_], make_settings(tmp_path), NOW)
    assert (tier.res, tier.step) == (res, step)
    assert tier.since % step == 0
    assert tier.since <= NOW - RANGES[range_]
    assert RANGES[range_] / step <= MAX_POINTS


def test_retention_settings_move_the_tier(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics_raw_retention_h=2, metrics_interval=15)
    assert choose_tier(3600, settings, NOW).step == 15
    assert choose_tier(6 * 3600, settings, NOW).res == MINUTE
    wide = make_settings(tmp_path, metrics_minute_retention_days=31)
    assert choose_tier(RANGES["30d"], wide, NOW).res == MINUTE


def test_rate() -> None:
    assert _rate(200, 100, 10) == 10.0
    assert _rate(50, 100, 10) == 0.0  # counter reset
    assert _rate(50, None, 10) == 0.0
