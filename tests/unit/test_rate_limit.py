"""The sliding-window limiters, driven by a fake clock (Redis' shared windows: in
tests/integration/auth/test_shared_rate_limits.py)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from dockyard.auth.rate_limit import (
    REDIS_KEY_PREFIX,
    REDIS_RETRY_S,
    RateLimiter,
    RedisWindows,
    SlidingWindowLimiter,
    retry_after_header,
)


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


async def test_rate_limiter_counts_in_process_without_redis() -> None:
    clock = FakeClock()
    limiter = RateLimiter("login", 2, 60.0, clock=clock)
    assert [await limiter.hit("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(60.0)]
    assert await limiter.hit("b") == 0.0


async def test_rate_limiter_falls_back_to_its_own_count_while_redis_is_away(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing listens on the port: each hit falls back to the local window (limits still
    hold, per process), the outage is logged once, not once per request, and Redis is asked
    again only every REDIS_RETRY_S (an unreachable one must not slow every request)."""
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FakeClock()
    shared = RedisWindows(f"redis://127.0.0.1:{port}/0", clock=clock)
    limiter = RateLimiter("login", 2, 60.0, shared=shared, clock=clock)
    try:
        assert await limiter.hit("1.2.3.4") == 0.0
        asked: list[str] = []

        async def script(**kwargs: Any) -> int:
            asked.append(kwargs["keys"][0])
            raise ConnectionError("still away")

        shared._script = script
        assert await limiter.hit("1.2.3.4") == 0.0
        assert asked == []  # within REDIS_RETRY_S of the failure: not asked
        clock.advance(REDIS_RETRY_S)
        assert await limiter.hit("1.2.3.4") == pytest.approx(60.0 - REDIS_RETRY_S)
        assert asked == [REDIS_KEY_PREFIX + "login:1.2.3.4"]
    finally:
        await shared.close()
    assert capsys.readouterr().out.count("rate_limit_redis_unavailable") == 1
