"""Graceful shutdown of a real `dockyard serve` (SIGTERM), on SQLite and PostgreSQL.

The long job is a real `service.stop` of a container whose main process (`sleep` as PID 1)
ignores SIGTERM: Docker waits the service's whole `stop_grace_period` before killing it.

- A job shorter than `DOCKYARD_SHUTDOWN_GRACE_S` finishes (succeeded, audited once); the
  browser's WebSocket is closed with 1001 "server shutting down" at once, not when the
  process ends; the process exits 0 within the grace period + 5 s.
- A job longer than the grace period is marked failed by the stopping server itself
  ("Interrupted by shutdown"), audited once; a second server started on the same database
  leaves it so (it is not re-run, and not failed a second time).
- A job submitted while a runner shuts down stays queued and the next server runs it once.
- `dockyard worker` (Celery, PostgreSQL + Redis) on SIGTERM finishes its running job, leaves
  the message of a job it has not started in Redis for the next worker, and exits 0; a job
  longer than the grace period is failed once, by the worker itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dockyard.audit.models import AuditEvent
from dockyard.audit.service import Actor
from dockyard.jobs.models import Job
from dockyard.jobs.service import enqueue
from dockyard.settings import Settings
from tests.conftest import (
    TEST_SECRET_KEY,
    DatabaseFactory,
    LiveApp,
    remove_compose_project,
    require_env,
    running_app,
)
from tests.integration.hosts.serve import Served, dockyard_serve
from tests.integration.schedules.helpers import Proc, process_env

SHUTDOWN_REASON = "server shutting down"


def sleeper(name: str, stop_grace_s: int) -> str:
    image = require_env("DOCKYARD_TEST_IMAGE")
    return f"""
services:
  app:
    image: {image}
    command: ["sleep", "3600"]
    stop_grace_period: {stop_grace_s}s
    labels:
      io.dockyard.test: "1"
"""


async def wait_job(
    server: Served, job_id: str, until: Callable[[dict[str, Any]], bool], timeout_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as client:
        while True:
            job: dict[str, Any] = (await client.get(f"/api/v1/jobs/{job_id}")).json()
            if until(job):
                return job
            assert time.monotonic() < deadline, f"job {job_id}: {job}"
            await asyncio.sleep(0.1)


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed")


async def deployed_service(server: Served, name: str, stop_grace_s: int) -> int:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as client:
        created = await client.post(
            "/api/v1/services", json={"name": name, "compose": sleeper(name, stop_grace_s)}
        )
        assert created.status_code == 201, created.text
        service_id = int(created.json()["id"])
        deploy = await client.post(f"/api/v1/services/{service_id}/deploy")
        assert deploy.status_code == 202, deploy.text
    job = await wait_job(server, deploy.json()["job"]["id"], finished)
    assert job["status"] == "succeeded", job
    return service_id


async def start_stop_job(server: Served, service_id: int) -> str:
    """Start `service.stop` and return once Docker is waiting on the container."""
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as client:
        response = await client.post(f"/api/v1/services/{service_id}/stop")
    assert response.status_code == 202, response.text
    job_id = str(response.json()["job"]["id"])
    await wait_job(
        server,
        job_id,
        lambda j: any(line["message"].startswith("Stopping") for line in j["lines"]),
    )
    return job_id


async def open_ws(server: Served) -> ClientConnection:
    async with httpx.AsyncClient() as client:
        ticket = await client.post(f"{server.url}/api/v1/realtime/ticket", headers=server.headers)
    assert ticket.status_code == 200, ticket.text
    url = server.url.replace("http://", "ws://") + f"/api/v1/ws?ticket={ticket.json()['ticket']}"
    ws = await connect(url)
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"
    return ws


async def close_of(ws: ClientConnection, timeout_s: float) -> tuple[int, str, float]:
    """Read until the server closes; (code, reason, monotonic time of the close)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        except ConnectionClosed as exc:
            closed, at = exc, time.monotonic()
            break
    if closed.rcvd is None:
        pytest.fail(f"no close frame from the server: {closed!r}")
    return closed.rcvd.code, closed.rcvd.reason, at


async def wait_exit(server: Served, timeout_s: float) -> tuple[int, float]:
    deadline = time.monotonic() + timeout_s
    while (code := server.process.poll()) is None:
        assert time.monotonic() < deadline, "dockyard serve did not exit in time"
        await asyncio.sleep(0.05)
    return code, time.monotonic()


def server_env(db_url: str, grace_s: float) -> dict[str, str]:
    return {
        "DOCKYARD_DATABASE_URL": db_url,
        "DOCKYARD_SECRET_KEY": TEST_SECRET_KEY,
        "DOCKYARD_SHUTDOWN_GRACE_S": str(grace_s),
    }


async def job_audits(server: Served, job_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers) as client:
        response = await client.get(
            "/api/v1/audit", params={"action": "service.stop", "limit": 200}
        )
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if (e.get("details") or {}).get("job_id") == job_id]


@dataclass(frozen=True)
class StopDuringJob:
    """A SIGTERM sent while a `service.stop` job ran; monotonic times."""

    job_id: str
    sent: float  # the signal
    closed_at: float  # the browser socket's close frame
    exited_at: float  # the process's exit


async def sigterm_during_stop_job(
    server: Served, service_name: str, *, stop_grace_s: int, grace_s: float
) -> StopDuringJob:
    """Deploy a service, open a browser socket, start stopping the service and send SIGTERM
    while Docker waits on the container. The socket must close with 1001 and the server's
    reason, and the server must exit 0 within its grace period (+5 s)."""
    service_id = await deployed_service(server, service_name, stop_grace_s=stop_grace_s)
    ws = await open_ws(server)
    job_id = await start_stop_job(server, service_id)
    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code, reason, closed_at = await close_of(ws, timeout_s=10)
    assert (code, reason) == (1001, SHUTDOWN_REASON)
    exit_code, exited_at = await wait_exit(server, grace_s + 5)
    log_path = server.data_dir.parent / f"{server.data_dir.name}-server.log"
    assert exit_code == 0, log_path.read_text()[-3000:]
    return StopDuringJob(job_id, sent, closed_at, exited_at)


async def test_sigterm_lets_the_running_job_finish_and_closes_browser_sockets(
    db_url: str, tmp_path: Path, service_name: str
) -> None:
    grace_s = 20.0
    env = server_env(db_url, grace_s)
    with dockyard_serve(tmp_path / "a", **env) as server:
        stop = await sigterm_during_stop_job(server, service_name, stop_grace_s=5, grace_s=grace_s)
        job_id = stop.job_id
        # Closed at once, while the job still runs (Docker waits 5 s on the container).
        assert stop.closed_at - stop.sent < 3.0, stop.closed_at - stop.sent
        # It waited for the job (about 5 s), not for the whole grace period.
        assert 3.0 < stop.exited_at - stop.sent < grace_s, stop.exited_at - stop.sent

    with dockyard_serve(tmp_path / "b", **env) as second:
        job = await wait_job(second, job_id, lambda j: True)
        assert job["status"] == "succeeded", job
        assert job["error"] is None
        audits = await job_audits(second, job_id)
        assert [a["outcome"] for a in audits] == ["success"], audits


async def test_a_job_longer_than_the_grace_period_is_failed_once_and_not_rerun(
    db_url: str, tmp_path: Path, service_name: str
) -> None:
    grace_s = 2.0
    env = server_env(db_url, grace_s)
    with dockyard_serve(tmp_path / "a", **env) as server:
        stop = await sigterm_during_stop_job(server, service_name, stop_grace_s=30, grace_s=grace_s)
        job_id = stop.job_id
        assert stop.exited_at - stop.sent >= grace_s - 0.5

    with dockyard_serve(tmp_path / "b", **env) as second:
        job = await wait_job(second, job_id, lambda j: True)
        assert job["status"] == "failed", job
        assert job["error"].startswith("Interrupted by shutdown"), job["error"]
        assert "2 s grace period" in job["error"]
        assert job["lines"][-1]["message"] == job["error"]
        # The new server's recovery leaves it alone: one failure, reported once.
        await asyncio.sleep(1.0)
        again = await wait_job(second, job_id, lambda j: True)
        assert again["status"] == "failed"
        assert again["finished_at"] == job["finished_at"]
        audits = await job_audits(second, job_id)
        assert [a["outcome"] for a in audits] == ["failure"], audits
        assert audits[0]["details"]["error"] == job["error"]


async def test_a_job_submitted_during_shutdown_is_handed_to_the_next_server(
    db_url: str, app_settings: Callable[..., Settings]
) -> None:
    settings = app_settings(db_url)
    async with running_app(settings) as first:
        runtime = first.runtime
        runtime.jobs.begin_shutdown()
        async with runtime.db.session() as session:
            # A job kind that fails fast (no service): what matters is who runs it, how often.
            job = await enqueue(session, kind="service.start", actor=Actor.system("tests"))
            await session.commit()
        runtime.jobs.submit(job.id)
        await asyncio.sleep(0.5)
        async with runtime.db.read_session() as session:
            row = await session.get(Job, job.id)
            assert row is not None
            assert row.status == "queued"  # handed back, not started here
            assert row.runner_id is None

    async with running_app(settings) as second:  # same database: its start recovers the job
        runtime = second.runtime
        deadline = time.monotonic() + 20
        while True:
            async with runtime.db.read_session() as session:
                row = await session.get(Job, job.id)
                assert row is not None
                if row.status in ("succeeded", "failed"):
                    break
            assert time.monotonic() < deadline, row.status
            await asyncio.sleep(0.1)
        assert row.runner_id == runtime.runner_id
        assert row.error is not None
        assert not row.error.startswith("Interrupted")
        async with runtime.db.read_session() as session:
            audits = (
                (
                    await session.execute(
                        select(AuditEvent).where(AuditEvent.action == "service.start")
                    )
                )
                .scalars()
                .all()
            )
        assert [a.details["job_id"] for a in audits] == [job.id]


# ---------------------------------------------------------------- Celery workers


async def app_job(app: LiveApp, job_id: str, until: Callable[[dict[str, Any]], bool]) -> Any:
    deadline = time.monotonic() + 60
    while True:
        job = (await app.client.get(f"/api/v1/jobs/{job_id}")).json()
        if until(job):
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)


async def app_service(app: LiveApp, name: str, stop_grace_s: int) -> int:
    created = await app.client.post(
        "/api/v1/services", json={"name": name, "compose": sleeper(name, stop_grace_s)}
    )
    assert created.status_code == 201, created.text
    service_id = int(created.json()["id"])
    deploy = await app.client.post(f"/api/v1/services/{service_id}/deploy")
    assert deploy.status_code == 202, deploy.text
    job = await app_job(app, deploy.json()["job"]["id"], finished)
    assert job["status"] == "succeeded", job
    return service_id


async def app_stop(app: LiveApp, service_id: int) -> str:
    response = await app.client.post(f"/api/v1/services/{service_id}/stop")
    assert response.status_code == 202, response.text
    return str(response.json()["job"]["id"])


async def stop_audits(app: LiveApp, job_id: str) -> list[AuditEvent]:
    async with app.runtime.db.read_session() as session:
        rows = (
            (await session.execute(select(AuditEvent).where(AuditEvent.action == "service.stop")))
            .scalars()
            .all()
        )
    return [r for r in rows if r.details.get("job_id") == job_id]


async def proc_exit(proc: Proc, timeout_s: float) -> tuple[int, float]:
    deadline = time.monotonic() + timeout_s
    while (code := proc.popen.poll()) is None:
        if time.monotonic() > deadline:
            proc.popen.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack
            await asyncio.sleep(1.0)
            pytest.fail(f"worker did not exit:\n{proc.output()[-6000:]}")
        await asyncio.sleep(0.05)
    return code, time.monotonic()


@pytest.fixture
def second_service(docker_client: Any) -> Iterator[str]:
    name = f"t-shutdown-{os.urandom(4).hex()}"
    yield name
    remove_compose_project(docker_client, name)


async def worker_setup(
    database_factory: DatabaseFactory, app_settings: Callable[..., Settings], grace_s: float
) -> tuple[Settings, dict[str, str]]:
    """Settings on a fresh PostgreSQL database and the test Redis, jobs left to workers, and
    the environment of a `dockyard worker` with that grace period."""
    settings = app_settings(
        await database_factory.new("postgresql"),
        redis_url=require_env("DOCKYARD_TEST_REDIS_URL"),
        run_scheduler=False,
    )
    env = process_env(settings, DOCKYARD_SHUTDOWN_GRACE_S=str(grace_s), PYTHONFAULTHANDLER="1")
    return settings, env


async def test_a_sigterm_worker_finishes_its_job_and_leaves_the_queue_to_the_next(
    database_factory: DatabaseFactory,
    app_settings: Callable[..., Settings],
    service_name: str,
    second_service: str,
    tmp_path: Path,
) -> None:
    grace_s = 20.0
    settings, env = await worker_setup(database_factory, app_settings, grace_s)
    workers: list[Proc] = []
    try:
        async with running_app(settings) as app:
            app.client.headers.update(app.bearer(await app.token()))
            first = Proc(["worker", "--concurrency", "1"], env, tmp_path / "worker-1.log")
            workers.append(first)
            await first.wait_for("ready.", timeout_s=60)
            long_id = await app_service(app, service_name, stop_grace_s=5)
            short_id = await app_service(app, second_service, stop_grace_s=1)

            running = await app_stop(app, long_id)
            await app_job(
                app, running, lambda j: any(x["message"].startswith("Stopping") for x in j["lines"])
            )
            waiting = await app_stop(app, short_id)  # the only pool thread is busy
            await asyncio.sleep(1.0)
            sent = time.monotonic()
            first.popen.send_signal(signal.SIGTERM)
            code, exited_at = await proc_exit(first, grace_s + 5)
            assert code == 0, first.output()[-3000:]
            assert exited_at - sent > 3.0  # it waited for the job (Docker waits 5 s)
            job = await app_job(app, running, lambda j: True)
            assert job["status"] == "succeeded", (job, first.output()[-3000:])
            assert f":{first.pid}:" in job["runner_id"]
            # The job it had not started is still queued, its message still in Redis.
            assert (await app_job(app, waiting, lambda j: True))["status"] == "queued"

            second = Proc(["worker", "--concurrency", "1"], env, tmp_path / "worker-2.log")
            workers.append(second)
            job = await app_job(app, waiting, finished)  # well before any recovery resend
            assert job["status"] == "succeeded", (job, second.output()[-3000:])
            assert f":{second.pid}:" in job["runner_id"]
            for job_id in (running, waiting):
                assert [a.outcome for a in await stop_audits(app, job_id)] == ["success"]
    finally:
        for worker in workers:
            worker.stop()


async def test_a_worker_fails_a_job_longer_than_the_grace_period_once(
    database_factory: DatabaseFactory,
    app_settings: Callable[..., Settings],
    service_name: str,
    tmp_path: Path,
) -> None:
    grace_s = 2.0
    settings, env = await worker_setup(database_factory, app_settings, grace_s)
    worker = Proc(["worker", "--concurrency", "1"], env, tmp_path / "worker.log")
    try:
        async with running_app(settings) as app:
            app.client.headers.update(app.bearer(await app.token()))
            await worker.wait_for("ready.", timeout_s=60)
            service_id = await app_service(app, service_name, stop_grace_s=30)
            job_id = await app_stop(app, service_id)
            await app_job(
                app, job_id, lambda j: any(x["message"].startswith("Stopping") for x in j["lines"])
            )
            sent = time.monotonic()
            worker.popen.send_signal(signal.SIGTERM)
            code, exited_at = await proc_exit(worker, grace_s + 5)
            assert code == 0, worker.output()[-3000:]
            assert exited_at - sent >= grace_s - 0.5
            job = await app_job(app, job_id, lambda j: True)
            assert job["status"] == "failed", job
            assert job["error"].startswith("Interrupted by shutdown"), job["error"]
            await app.runtime.jobs.recover_interrupted()  # what any server does later
            again = await app_job(app, job_id, lambda j: True)
            assert (again["status"], again["error"]) == ("failed", job["error"])
            assert [a.outcome for a in await stop_audits(app, job_id)] == ["failure"]
    finally:
        worker.stop()


def _catches_sigterm(pid: int) -> bool:
    """True once the process installed a SIGTERM handler (`SigCgt` in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


@pytest.mark.parametrize("role", ["worker", "beat"])
async def test_a_stop_asked_while_starting_ends_cleanly(
    role: str,
    database_factory: DatabaseFactory,
    app_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    """SIGTERM as soon as the process can take it, long before "ready" (imports,
    migrations): it lets the start finish, then exits 0 instead of dying by the signal."""
    settings = app_settings(
        await database_factory.new("postgresql"),
        redis_url=require_env("DOCKYARD_TEST_REDIS_URL"),
        run_scheduler=False,
    )
    proc = Proc([role], process_env(settings), tmp_path / f"{role}.log")
    try:
        deadline = time.monotonic() + 30
        while not _catches_sigterm(proc.pid):
            assert proc.popen.poll() is None, proc.output()
            assert time.monotonic() < deadline, proc.output()
            await asyncio.sleep(0.01)
        assert "ready" not in proc.output()  # still starting
        proc.popen.send_signal(signal.SIGTERM)
        code, _ = await proc_exit(proc, 60)
        assert code == 0, proc.output()[-3000:]
    finally:
        proc.stop()
