"""Database leases on both backends, and the health runner probing once per slot when two
processes run it (the lease decides who probes; the other takes over when it stops)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy import update

from dockyard.health.models import HealthCheck
from dockyard.health.runner import HealthRunner
from dockyard.kit.db import Database
from dockyard.settings import Settings
from dockyard.system import leases
from tests.conftest import running_app
from tests.integration.health.conftest import LoopbackServer


async def test_lease_is_held_by_one_holder_until_it_expires(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    async with running_app(app_settings(db_url, run_scheduler=False)) as app:
        db: Database = app.runtime.db
        assert await leases.acquire(db, "t", "a", 0.6)
        assert not await leases.acquire(db, "t", "b", 0.6)
        assert await leases.acquire(db, "t", "a", 0.6)  # renewal
        await asyncio.sleep(0.8)
        assert await leases.acquire(db, "t", "b", 5)  # expired: b takes it
        assert not await leases.acquire(db, "t", "a", 5)
        await leases.release(db, "t", "a")  # not the holder: nothing happens
        assert not await leases.acquire(db, "t", "a", 5)
        await leases.release(db, "t", "b")
        assert await leases.acquire(db, "t", "a", 5)

        # Many holders racing for a fresh lease: exactly one wins.
        won = await asyncio.gather(*(leases.acquire(db, "race", f"h{i}", 5) for i in range(12)))
        assert sum(won) == 1


async def test_two_health_runners_probe_each_slot_once(
    db_url: str,
    app_settings: Callable[..., Settings],
    loopback_server: Callable[[str], LoopbackServer],
) -> None:
    server = loopback_server("127.0.0.1")
    server.routes["/h"] = (200, {}, b"ok")
    async with running_app(app_settings(db_url, run_scheduler=False)) as app:
        headers = app.bearer(await app.token())
        created = await app.client.post(
            "/api/v1/health-checks",
            headers=headers,
            json={
                "name": "once",
                "kind": "http",
                "target": {"url": server.url("/h")},
                "interval_s": 5,
                "timeout_s": 0.5,
            },
        )
        assert created.status_code == 201, created.text
        # The API's floor is 5 s; the runner takes any interval, so make the slots 1 s.
        async with app.runtime.db.session() as session:
            await session.execute(
                update(HealthCheck)
                .where(HealthCheck.id == created.json()["id"])
                .values(interval_s=1)
            )
            await session.commit()
        runners = [
            HealthRunner(app.runtime, refresh_s=0.5, lease_ttl_s=1.5, holder=name)
            for name in ("beat-a", "beat-b")
        ]
        for runner in runners:
            runner.start()
        try:
            started = time.monotonic()
            await asyncio.sleep(4.5)
            leaders = [r for r in runners if r.leader]
            assert len(leaders) == 1
            elapsed = time.monotonic() - started
            # One probe per 1 s slot, never two (a doubled runner would give ~2 per slot).
            assert 2 <= len(server.hits) <= elapsed + 1, server.hits
            assert sum(r.runs for r in runners) == len(server.hits)

            # The leader stops (a process dies or shuts down): the other takes over.
            await leaders[0].stop()
            follower = next(r for r in runners if r is not leaders[0])
            before = len(server.hits)
            for _ in range(50):  # up to 5 s: the lease expires, then the next slots come
                if len(server.hits) >= before + 2:
                    break
                await asyncio.sleep(0.1)
            assert follower.leader
            assert len(server.hits) >= before + 2
        finally:
            for runner in runners:
                await runner.stop()
