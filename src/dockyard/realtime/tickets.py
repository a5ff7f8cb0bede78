"""Single-use, short-lived WebSocket tickets, so access tokens never appear in a URL.

URLs end up in proxy logs and browser history; a ticket that works once, for 30 seconds,
is worthless there. Tickets live in memory (one process) and are stored hashed.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TicketGrant:
    """Who a redeemed ticket was issued to."""

    user_id: int
    session_id: str
    expires_at: float


def _key(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8", "replace")).hexdigest()


class TicketStore:
    """Issues and redeems tickets bound to a user and login session."""

    def __init__(
        self,
        ttl_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_outstanding: int = 10_000,
        max_per_session: int = 20,
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._max_outstanding = max_outstanding
        self._max_per_session = max_per_session
        # Insertion order is expiry order (one TTL for all), so purging pops from the front.
        self._grants: OrderedDict[str, TicketGrant] = OrderedDict()

    def issue(self, user_id: int, session_id: str) -> str:
        """A new ticket for this user and session."""
        now = self._clock()
        self._purge(now)
        mine = [k for k, g in self._grants.items() if g.session_id == session_id]
        # A page that keeps asking cannot pile tickets up: its oldest ones go first.
        for key in mine[: max(0, len(mine) - self._max_per_session + 1)]:
            del self._grants[key]
        while len(self._grants) >= self._max_outstanding:
            self._grants.popitem(last=False)
        ticket = secrets.token_urlsafe(32)
        self._grants[_key(ticket)] = TicketGrant(user_id, session_id, now + self.ttl_s)
        return ticket

    def redeem(self, ticket: str) -> TicketGrant | None:
        """The grant, once: a second call, an unknown or an expired ticket gives None."""
        if not ticket or len(ticket) > 200:
            return None
        grant = self._grants.pop(_key(ticket), None)
        if grant is None or grant.expires_at <= self._clock():
            return None
        return grant

    def _purge(self, now: float) -> None:
        while self._grants:
            key, grant = next(iter(self._grants.items()))
            if grant.expires_at > now:
                break
            del self._grants[key]

    def __len__(self) -> int:
        return len(self._grants)
