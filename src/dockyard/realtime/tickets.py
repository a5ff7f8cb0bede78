"""Single-use, short-lived WebSocket tickets, so access tokens never appear in a URL.

URLs end up in proxy logs and browser history; a ticket that works once, for 30 seconds,
is worthless there. A ticket is signed (HMAC of the installation's secret key), so any
server replica redeems what another issued: behind a round-robin proxy the ticket request
and the WebSocket often land on different replicas. "Once" is enforced with the spent
tickets' nonces: in Redis (`SET NX` with the ticket's remaining life) when scale-out
configures it, and always in this process's memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger(__name__)

MAX_TICKET_CHARS = 400


@dataclass(frozen=True)
class TicketGrant:
    """Who a redeemed ticket was issued to."""

    user_id: int
    session_id: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TicketStore:
    """Issues and redeems tickets bound to a user and login session."""

    def __init__(
        self,
        ttl_s: float = 30.0,
        *,
        secret: str | None = None,
        redis_url: str | None = None,
        clock: Callable[[], float] = time.time,
        max_spent: int = 100_000,
    ) -> None:
        self.ttl_s = ttl_s
        # Without the installation's secret (unit tests, one process) a random key works.
        self._key = hashlib.sha256(
            b"dockyard.ws-ticket.v2:" + (secret or secrets.token_hex(32)).encode()
        ).digest()
        self._redis_url = redis_url
        self._redis: Any = None
        self._clock = clock
        self._max_spent = max_spent
        # Spent nonces until their ticket expires; insertion order is expiry order.
        self._spent: OrderedDict[str, float] = OrderedDict()

    def issue(self, user_id: int, session_id: str) -> str:
        """A new ticket for this user and session."""
        body = {
            "u": user_id,
            "s": session_id,
            "e": round(self._clock() + self.ttl_s, 3),
            "n": secrets.token_urlsafe(16),
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    async def redeem(self, ticket: str) -> TicketGrant | None:
        """The grant, once: a second call (on any replica), an unknown, forged or expired
        ticket gives None."""
        grant_nonce = self._verify(ticket)
        if grant_nonce is None:
            return None
        grant, nonce = grant_nonce
        now = self._clock()
        self._purge(now)
        if nonce in self._spent:
            return None
        while len(self._spent) >= self._max_spent:
            self._spent.popitem(last=False)
        self._spent[nonce] = grant.expires_at
        if self._redis_url and not await self._first_use(nonce, grant.expires_at - now):
            return None
        return grant

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:24])

    def _verify(self, ticket: str) -> tuple[TicketGrant, str] | None:
        if not ticket or len(ticket) > MAX_TICKET_CHARS or ticket.count(".") != 1:
            return None
        payload, mac = ticket.split(".")
        if not hmac.compare_digest(mac, self._sign(payload)):
            return None
        try:
            body = json.loads(_unb64(payload))
            grant = TicketGrant(int(body["u"]), str(body["s"]), float(body["e"]))
            nonce = str(body["n"])
        except (ValueError, KeyError, TypeError):
            return None
        if grant.expires_at <= self._clock():
            return None
        return grant, nonce

    async def _first_use(self, nonce: str, remaining_s: float) -> bool:
        """True when no replica has redeemed this nonce yet (Redis `SET NX`)."""
        try:
            if self._redis is None:
                import redis.asyncio as aioredis

                self._redis = aioredis.from_url(str(self._redis_url))
            ttl_ms = max(1, int(remaining_s * 1000))
            return bool(await self._redis.set(f"dockyard:ws-ticket:{nonce}", 1, nx=True, px=ttl_ms))
        except Exception as exc:  # Redis away: refuse (the page asks for a new ticket)
            log.warning("ws_ticket_check_failed", error=str(exc)[:200])
            return False

    def _purge(self, now: float) -> None:
        while self._spent:
            nonce, expires = next(iter(self._spent.items()))
            if expires > now:
                break
            del self._spent[nonce]

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
