"""Sliding-window rate limits (sign-in, MFA codes, agent enrollment, API calls).

`SlidingWindowLimiter` counts in this process. `RateLimiter` is what the server uses: when
scale-out configures Redis, every replica counts in the same Redis sorted set per key, so
two replicas behind a round-robin proxy allow `limit` attempts in all, not `limit` each.
While Redis does not answer, each replica falls back to its own count (limits stay, if
per replica) rather than refusing every sign-in.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

from dockyard.kit.errors import DockyardError

log = structlog.get_logger(__name__)

REDIS_KEY_PREFIX = "dockyard:rate:"
REDIS_TIMEOUT_S = 1.0
REDIS_RETRY_S = 5.0  # after a failure, count locally this long before asking Redis again
# One atomic step per attempt, on Redis' clock (replicas' clocks may differ): drop the
# hits older than the window, refuse with the wait (ms) until the oldest leaves it, else
# record this hit under a unique member. Returns 0 when allowed.
_HIT_SCRIPT = """
local window_ms = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) + window_ms - now, 1)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window_ms)
return 0
"""


class SlidingWindowLimiter:
    """Allow at most `limit` hits per `window_s` seconds per key."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    def hit(self, key: str) -> float:
        """Record an attempt. Returns 0 when allowed, else the seconds until one is."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self._max_keys:
                self._evict(now)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(hits[0] + self.window_s - now, 0.001)
        hits.append(now)
        return 0.0

    def _evict(self, now: float) -> None:
        stale = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]
        for key in stale:
            del self._hits[key]
        if len(self._hits) >= self._max_keys:  # still full: drop the oldest half
            for key in list(self._hits)[: self._max_keys // 2]:
                del self._hits[key]


class RedisWindows:
    """Sliding windows kept in Redis, shared by every replica (one lazy connection pool)."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._url = url
        self._clock = clock
        self._client: Any = None
        self._script: Any = None
        self._unavailable = False
        self._retry_at = 0.0

    async def hit(self, key: str, limit: int, window_s: float) -> float | None:
        """Seconds to wait (0: allowed, and counted); None when Redis did not answer."""
        if self._unavailable and self._clock() < self._retry_at:
            return None  # an unreachable Redis must not add its timeout to every request
        try:
            if self._client is None:
                import redis.asyncio as aioredis

                self._client = aioredis.from_url(
                    self._url,
                    socket_timeout=REDIS_TIMEOUT_S,
                    socket_connect_timeout=REDIS_TIMEOUT_S,
                )
                self._script = self._client.register_script(_HIT_SCRIPT)
            wait_ms = await self._script(
                keys=[REDIS_KEY_PREFIX + key],
                args=[limit, max(1, int(window_s * 1000)), secrets.token_hex(8)],
            )
        except Exception as exc:
            if not self._unavailable:  # once per outage, not once per request
                log.warning("rate_limit_redis_unavailable", error=str(exc)[:200])
            self._unavailable = True
            self._retry_at = self._clock() + REDIS_RETRY_S
            return None
        if self._unavailable:
            log.info("rate_limit_redis_available")
            self._unavailable = False
        return int(wait_ms) / 1000.0

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = self._script = None


class RateLimiter:
    """At most `limit` hits per `window_s` seconds per key, across replicas when `shared`."""

    def __init__(
        self,
        name: str,
        limit: int,
        window_s: float,
        *,
        shared: RedisWindows | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.limit = limit
        self.window_s = window_s
        self.shared = shared
        self.local = SlidingWindowLimiter(limit, window_s, clock=clock)

    async def hit(self, key: str) -> float:
        """Record an attempt. Returns 0 when allowed, else the seconds until one is."""
        if self.shared is not None:
            wait = await self.shared.hit(f"{self.name}:{key}", self.limit, self.window_s)
            if wait is not None:
                return wait
        return self.local.hit(key)


def retry_after_header(seconds: float) -> str:
    """`Retry-After` value in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


def rate_limited_error(message: str, wait: float) -> DockyardError:
    """429 `rate_limited` for attempts (sign-in, MFA codes, enrollment): the wait in
    `Retry-After` and in `details.retry_after_s`."""
    return DockyardError(
        message,
        code="rate_limited",
        status_code=429,
        details={"retry_after_s": int(retry_after_header(wait))},
        headers={"Retry-After": retry_after_header(wait)},
    )
