"""Rate limits shared through a real Redis: two `RedisWindows` stand for two replicas (each
has its own connection pool), and a limit counts the hits of both. The two-replica sign-in
through nginx is in tests/integration/scaleout/test_reverse_proxy.py."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from dockyard.auth.rate_limit import REDIS_KEY_PREFIX, RateLimiter, RedisWindows
from tests.conftest import require_env


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[RedisWindows, RedisWindows]]:
    url = require_env("DOCKYARD_TEST_REDIS_URL")
    first, second = RedisWindows(url), RedisWindows(url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def name() -> str:
    """A limiter name of its own, so runs never share keys."""
    return f"test-{secrets.token_hex(4)}"


async def test_two_replicas_share_one_count_per_key(
    replicas: tuple[RedisWindows, RedisWindows],
) -> None:
    limit_name = name()
    on_a, on_b = (RateLimiter(limit_name, 3, 60.0, shared=r) for r in replicas)
    for limiter in (on_a, on_b, on_a):  # alternately, as a round-robin proxy would
        assert await limiter.hit("10.0.0.1") == 0.0
    refused = await on_b.hit("10.0.0.1")
    assert 59.0 < refused <= 60.0  # the oldest hit leaves the window in about a minute
    assert await on_a.hit("10.0.0.1") > 0  # refused on either replica
    assert await on_a.hit("10.0.0.2") == 0.0  # another key has its own count
    # Only the Redis count was used: the local fallback windows stayed empty.
    assert on_a.local.hit("10.0.0.1") == 0.0

    client = aioredis.from_url(require_env("DOCKYARD_TEST_REDIS_URL"))
    try:
        key = f"{REDIS_KEY_PREFIX}{limit_name}:10.0.0.1"
        assert await client.zcard(key) == 3  # refused attempts are not recorded
        assert 0 < await client.pttl(key) <= 60_000  # the key expires with its window
    finally:
        await client.aclose()


async def test_the_window_slides_on_redis_clock(
    replicas: tuple[RedisWindows, RedisWindows],
) -> None:
    limit_name = name()
    on_a, on_b = (RateLimiter(limit_name, 2, 0.5, shared=r) for r in replicas)
    assert await on_a.hit("u:1") == 0.0
    await asyncio.sleep(0.3)
    assert await on_b.hit("u:1") == 0.0
    wait = await on_a.hit("u:1")
    assert 0 < wait <= 0.25  # the first hit leaves the window 0.5 s after it was made
    await asyncio.sleep(wait + 0.05)
    assert await on_b.hit("u:1") == 0.0  # the first hit left; the second still counts
    assert await on_a.hit("u:1") > 0


async def test_concurrent_hits_from_both_replicas_never_pass_the_limit(
    replicas: tuple[RedisWindows, RedisWindows],
) -> None:
    limit_name = name()
    on_a, on_b = (RateLimiter(limit_name, 25, 60.0, shared=r) for r in replicas)
    waits = await asyncio.gather(*(lim.hit("same") for _ in range(50) for lim in (on_a, on_b)))
    assert sum(1 for w in waits if w == 0.0) == 25
