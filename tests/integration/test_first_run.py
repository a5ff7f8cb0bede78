"""First run of a real `dockyard serve`: a random admin password, printed once, never stored."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import clean_environ, dockyard_executable

BANNER_PASSWORD = re.compile(r"^\s+password: (\S+)\s*$", re.M)
BANNER_EMAIL = re.compile(r"^\s+email:\s+(\S+)\s*$", re.M)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base_url: str
    stderr_path: Path
    process: asyncio.subprocess.Process

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@asynccontextmanager
async def serve(data_dir: Path, docker_host: str, log: Path) -> AsyncIterator[Server]:
    port = free_port()
    env = clean_environ(
        DOCKYARD_DATA_DIR=str(data_dir),
        DOCKYARD_LOG_FORMAT="json",
        DOCKYARD_DOCKER_HOST=docker_host,
    )
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            dockyard_executable(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
        )
    server = Server(f"http://127.0.0.1:{port}", log, process)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while True:
                if process.returncode is not None:
                    pytest.fail(f"dockyard serve exited early:\n{server.stderr[-3000:]}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if loop.time() > deadline:
                    pytest.fail(f"dockyard serve did not answer in 60 s:\n{server.stderr[-3000:]}")
                await asyncio.sleep(0.1)
        yield server
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()


def json_lines(text: str) -> list[dict[str, object]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


async def test_first_run_admin_password(tmp_path: Path, docker_host: str) -> None:
    data_dir = tmp_path / "data"
    async with serve(data_dir, docker_host, tmp_path / "first.log") as server:
        console = server.stderr
        passwords = BANNER_PASSWORD.findall(console)
        assert len(passwords) == 1, console[-3000:]
        password = passwords[0]
        assert BANNER_EMAIL.findall(console) == ["admin@localhost"]
        assert len(password) >= 20

        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            login = await client.post(
                "/api/v1/auth/login",
                json={"email": "admin@localhost", "password": password},
                headers={"X-Request-ID": "first-run-login-01"},
            )
            assert login.status_code == 200, login.text
            assert login.headers["x-request-id"] == "first-run-login-01"
            token = login.json()["access_token"]
            me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.json()["email"] == "admin@localhost"
            assert (await client.get("/readyz")).status_code == 200
    # Graceful stop on SIGTERM (uvicorn re-raises the signal once it has shut down).
    assert server.process.returncode in (0, -signal.SIGTERM), server.stderr[-2000:]
    console = server.stderr
    assert "server_stopped" in console
    assert "Traceback" not in console
    # Shown exactly once, in the banner; never in a JSON log line.
    assert console.count(password) == 1
    lines = json_lines(console)
    events = [line.get("event") for line in lines]
    assert "server_started" in events
    assert "first_run_admin_created" in events
    for line in lines:
        assert password not in json.dumps(line)
    access = [line for line in lines if line.get("event") == "request"]
    assert any(
        line.get("request_id") == "first-run-login-01" and line.get("status") == 200
        for line in access
    ), access
    # Never stored in clear: not in any file of the data dir (database, WAL, key).
    files = [path for path in data_dir.rglob("*") if path.is_file()]
    assert any(path.name == "dockyard.db" for path in files)
    for path in files:
        assert password.encode() not in path.read_bytes(), path

    # A second start keeps the admin and prints no password.
    async with serve(data_dir, docker_host, tmp_path / "second.log") as again:
        assert BANNER_PASSWORD.findall(again.stderr) == []
        async with httpx.AsyncClient(base_url=again.base_url, timeout=30) as client:
            login = await client.post(
                "/api/v1/auth/login", json={"email": "admin@localhost", "password": password}
            )
            assert login.status_code == 200
    assert "first_run_admin_created" not in again.stderr


async def test_processes_starting_together_on_a_fresh_database_start_once(
    database_factory: Any, app_settings: Any
) -> None:
    """A worker and a beat (compose.scale.yaml) start at once on a just-migrated database:
    both bootstraps succeed, and there is one chain head, one local node, one admin."""
    from sqlalchemy import func, select

    from dockyard.app import prepare_database
    from dockyard.audit.models import AuditChainHead
    from dockyard.kit.db import Database
    from dockyard.nodes.models import Node
    from dockyard.templates.models import Template
    from dockyard.users.models import User

    settings = app_settings(await database_factory.new("postgresql"))
    databases = [Database(settings.resolved_database_url) for _ in range(3)]
    db = databases[0]
    try:
        await asyncio.gather(
            *(prepare_database(each, settings, first_admin=True) for each in databases)
        )
        async with db.read_session() as session:
            for model in (AuditChainHead, Node, User):
                count = (await session.execute(select(func.count()).select_from(model))).scalar()
                assert count == 1, model.__tablename__
            slugs = (await session.execute(select(Template.slug))).scalars().all()
            assert slugs, "no template catalog"
            assert len(slugs) == len(set(slugs))
    finally:
        for each in databases:
            await each.dispose()
