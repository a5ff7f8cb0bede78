"""The per-user API rate limit (`DOCKYARD_API_RATE_PER_MINUTE`), in-process sliding window."""

from __future__ import annotations

from starlette.requests import Request

from dockyard.auth.rate_limit import SlidingWindowLimiter, retry_after_header
from dockyard.kit.errors import DockyardError


def check_api_rate(request: Request, user_id: int, per_minute: int) -> None:
    """429 `rate_limited` with `Retry-After` once a user made `per_minute` calls in 60 s.

    Keyed by user, not by IP, so a spoofed `X-Forwarded-For` changes nothing. One limiter
    per application (kept on `app.state`).
    """
    state = request.app.state
    limiter: SlidingWindowLimiter | None = getattr(state, "api_rate_limiter", None)
    if limiter is None or limiter.limit != per_minute:
        limiter = SlidingWindowLimiter(per_minute, 60.0)
        state.api_rate_limiter = limiter
    wait = limiter.hit(str(user_id))
    if wait:
        raise DockyardError(
            "Too many requests: slow down and retry later.",
            code="rate_limited",
            status_code=429,
            headers={"Retry-After": retry_after_header(wait)},
        )
