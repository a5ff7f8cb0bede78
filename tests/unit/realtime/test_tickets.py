"""WebSocket tickets: single use (on every replica), short-lived, signed."""

from __future__ import annotations

import os

from dockyard.realtime.tickets import TicketStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_ticket_works_once() -> None:
    store = TicketStore(30, clock=FakeClock())
    ticket = store.issue(7, "session-a")
    grant = await store.redeem(ticket)
    assert grant is not None
    assert (grant.user_id, grant.session_id) == (7, "session-a")
    assert await store.redeem(ticket) is None


async def test_a_ticket_expires() -> None:
    clock = FakeClock()
    store = TicketStore(30, clock=clock)
    fresh = store.issue(1, "s")
    late = store.issue(1, "s")
    clock.now += 29.9
    assert await store.redeem(fresh) is not None
    clock.now += 0.1
    assert await store.redeem(late) is None


async def test_unknown_forged_and_silly_tickets_are_refused() -> None:
    store = TicketStore(30, secret="k1", clock=FakeClock())
    ticket = store.issue(1, "s")
    payload, mac = ticket.split(".")
    assert await store.redeem("") is None
    assert await store.redeem("not-a-ticket") is None
    assert await store.redeem("x" * 10_000) is None
    assert await store.redeem(f"{payload}.{mac[:-2]}AA") is None  # tampered signature
    other = TicketStore(30, secret="k2", clock=FakeClock())
    assert await other.redeem(ticket) is None  # another installation's key


async def test_tickets_are_random() -> None:
    store = TicketStore(30, clock=FakeClock())
    tickets = {store.issue(1, "s") for _ in range(10)}
    assert len(tickets) == 10
    assert all(len(t) >= 40 for t in tickets)


async def test_another_replica_with_the_same_secret_redeems_it() -> None:
    clock = FakeClock()
    a = TicketStore(30, secret="shared", clock=clock)
    b = TicketStore(30, secret="shared", clock=clock)
    grant = await b.redeem(a.issue(3, "sess"))
    assert grant is not None
    assert grant.user_id == 3


async def test_spent_nonces_are_bounded_and_purged() -> None:
    clock = FakeClock()
    store = TicketStore(30, clock=clock, max_spent=5)
    for i in range(8):
        assert await store.redeem(store.issue(i, "s")) is not None
    assert len(store._spent) == 5
    clock.now += 31
    assert await store.redeem(store.issue(9, "s")) is not None
    assert len(store._spent) == 1  # the expired ones are gone


async def test_with_redis_a_ticket_works_once_across_replicas() -> None:
    url = os.environ["DOCKYARD_TEST_REDIS_URL"]  # the test Redis (scripts/test-env.sh)
    a = TicketStore(30, secret="shared-redis", redis_url=url)
    b = TicketStore(30, secret="shared-redis", redis_url=url)
    try:
        ticket = a.issue(5, "sess")
        assert await b.redeem(ticket) is not None
        assert await a.redeem(ticket) is None  # spent on b: refused on a too
    finally:
        await a.close()
        await b.close()
