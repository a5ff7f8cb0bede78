"""WebSocket tickets: single use, short-lived, bounded."""

from __future__ import annotations

from dockyard.realtime.tickets import TicketStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_ticket_works_once() -> None:
    store = TicketStore(30, clock=FakeClock())
    ticket = store.issue(7, "session-a")
    grant = store.redeem(ticket)
    assert grant is not None
    assert (grant.user_id, grant.session_id) == (7, "session-a")
    assert store.redeem(ticket) is None


def test_a_ticket_expires() -> None:
    clock = FakeClock()
    store = TicketStore(30, clock=clock)
    fresh = store.issue(1, "s")
    late = store.issue(1, "s")
    clock.now += 29.9
    assert store.redeem(fresh) is not None
    clock.now += 0.1
    assert store.redeem(late) is None


def test_unknown_and_silly_tickets_are_refused() -> None:
    store = TicketStore(30, clock=FakeClock())
    store.issue(1, "s")
    assert store.redeem("") is None
    assert store.redeem("not-a-ticket") is None
    assert store.redeem("x" * 10_000) is None


def test_tickets_are_random_and_stored_hashed() -> None:
    store = TicketStore(30, clock=FakeClock())
    tickets = {store.issue(1, "s") for _ in range(10)}
    assert len(tickets) == 10
    assert all(len(t) >= 40 for t in tickets)
    assert not tickets & set(store._grants)


def test_expired_tickets_are_purged_and_the_store_is_bounded() -> None:
    clock = FakeClock()
    store = TicketStore(30, clock=clock, max_outstanding=5, max_per_session=3)
    for i in range(4):
        store.issue(i, f"session-{i}")
    clock.now += 31
    store.issue(9, "session-9")
    assert len(store) == 1  # the four expired ones are gone

    mine = [store.issue(1, "busy") for _ in range(5)]
    assert len(store) == 4  # the busy session keeps only its 3 newest
    assert store.redeem(mine[0]) is None
    assert store.redeem(mine[-1]) is not None

    for i in range(10):
        store.issue(i, f"other-{i}")
    assert len(store) == 5
