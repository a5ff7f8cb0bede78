"""The per-IP login limiter, driven by a fake clock."""

from __future__ import annotations

import pytest

from dockyard.auth.rate_limit import SlidingWindowLimiter, retry_after_header


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_allows_up_to_the_limit_then_refuses_with_the_wait() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 60.0, clock=clock)
    for _ in range(3):
        assert limiter.hit("1.2.3.4") == 0.0
        clock.advance(10)
    # Hits at 1000, 1010, 1020; now 1030: the oldest leaves the window at 1060.
    assert limiter.hit("1.2.3.4") == pytest.approx(30.0)
    clock.advance(29.5)
    assert limiter.hit("1.2.3.4") == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.hit("1.2.3.4") == 0.0


def test_window_is_sliding_not_fixed() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 60.0, clock=clock)
    assert limiter.hit("ip") == 0.0  # t=0
    clock.advance(50)
    assert limiter.hit("ip") == 0.0  # t=50
    clock.advance(5)
    assert limiter.hit("ip") > 0  # t=55: two hits within 60 s
    clock.advance(5)
    assert limiter.hit("ip") == 0.0  # t=60: the first hit left the window
    assert limiter.hit("ip") == pytest.approx(50.0)  # t=60: hits at 50 and 60


def test_refused_attempts_do_not_extend_the_block() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 60.0, clock=clock)
    assert limiter.hit("ip") == 0.0
    for _ in range(20):
        clock.advance(2.9)
        assert limiter.hit("ip") > 0
    clock.now = 1060.0
    assert limiter.hit("ip") == 0.0


def test_keys_are_independent() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 60.0, clock=clock)
    assert limiter.hit("10.0.0.1") == 0.0
    assert limiter.hit("10.0.0.1") > 0
    assert limiter.hit("10.0.0.2") == 0.0
    assert limiter.hit("unknown") == 0.0


def test_wait_is_never_zero_when_refused() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 60.0, clock=clock)
    limiter.hit("ip")
    clock.advance(59.99999999)
    wait = limiter.hit("ip")
    assert wait > 0


def test_stale_keys_are_evicted_when_full() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 60.0, clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        limiter.hit(key)
    clock.advance(61)
    limiter.hit("d")
    assert set(limiter._hits) == {"d"}


def test_memory_is_bounded_when_every_key_is_fresh() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 60.0, clock=clock, max_keys=10)
    for i in range(1000):
        assert limiter.hit(f"10.0.{i // 256}.{i % 256}") == 0.0
        assert len(limiter._hits) <= 10


@pytest.mark.parametrize(
    ("seconds", "header"),
    [(0.0, "1"), (0.001, "1"), (0.999, "1"), (1.0, "1"), (1.01, "2"), (59.2, "60"), (900, "900")],
)
def test_retry_after_header_is_whole_seconds_at_least_one(seconds: float, header: str) -> None:
    assert retry_after_header(seconds) == header
