"""Fleet fixtures: a live server on a real port, agent nodes, real `dockyard agent` processes.

The server runs in this test process (uvicorn, like `dockyard serve`), so anything that
reaches an agent node's engine through the server's tunnel from the test must not block
the event loop: use `asyncio.to_thread` for docker-py calls on a node's socket URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from dockyard.app import create_app
from dockyard.runtime import Runtime
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    clean_environ,
    dockyard_executable,
    make_settings,
    require_env,
)

HEARTBEAT_S = 1.0


@dataclass
class FleetServer:
    app: FastAPI
    port: int
    http: httpx.AsyncClient
    headers: dict[str, str]
    data_dir: Path
    scheme: str = "http"

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        ws = "wss" if self.scheme == "https" else "ws"
        return f"{ws}://127.0.0.1:{self.port}/api/v1/agent/ws"

    async def create_node(self, name: str, **extra: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/nodes", json={"name": name, **extra}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def node(self, node_id: int) -> dict[str, Any]:
        response = await self.http.get(f"/api/v1/nodes/{node_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def enroll(self, token: str) -> dict[str, Any]:
        response = await self.http.post("/api/v1/agent/enroll", json={"token": token})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_online(self, node_id: int, online: bool = True, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while self.runtime.agents.is_online(node_id) != online:
            if time.monotonic() > deadline:
                state = "online" if online else "offline"
                pytest.fail(f"node {node_id} did not go {state} within {timeout_s} s")
            await asyncio.sleep(0.05)


def _short_dir(prefix: str) -> Path:
    # Unix socket paths are limited to 107 bytes: keep the data dir short.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@contextlib.asynccontextmanager
async def serve_fleet(
    data_dir: Path, *, tls: tuple[Path, Path] | None = None, **overrides: Any
) -> AsyncIterator[FleetServer]:
    """A live server on a free port (HTTPS with `tls`), signed in as the admin."""
    values: dict[str, Any] = {
        "agent_heartbeat_s": HEARTBEAT_S,
        "metrics_interval": 2.0,
        "state_reconcile_interval_s": 5.0,
        "engine_timeout_s": 15.0,
        "default_publish_ip": "127.0.0.1",
        "deploy_wait_timeout_s": 60,
    }
    if tls is not None:
        values.update(tls_cert=tls[0], tls_key=tls[1])
    values.update(overrides)
    settings = make_settings(data_dir, None, **values)
    app = create_app(settings, configure_logs=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=max(64 * 1024, settings.agent_max_frame_bytes),
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(1500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        pytest.fail("the test server did not start", pytrace=False)
    scheme = "https" if tls else "http"
    try:
        async with httpx.AsyncClient(
            base_url=f"{scheme}://127.0.0.1:{port}",
            trust_env=False,
            timeout=60,
            verify=ssl.create_default_context(cafile=str(tls[0])) if tls else True,
        ) as http:
            login = await http.post(
                "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            yield FleetServer(
                app=app, port=port, http=http, headers=headers, data_dir=data_dir, scheme=scheme
            )
    finally:
        server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, 20)
        sock.close()


@pytest.fixture(scope="module")
async def fleet() -> AsyncIterator[FleetServer]:
    data_dir = _short_dir("dyf-")
    async with serve_fleet(data_dir) as server:
        yield server
    shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class AgentProcess:
    """A real `dockyard agent` subprocess."""

    server_url: str
    docker_host: str
    data_dir: Path
    log_path: Path
    token: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self, token: str | None = None) -> None:
        args = [
            dockyard_executable(),
            "agent",
            "--server",
            self.server_url,
            "--docker-host",
            self.docker_host,
            "--data-dir",
            str(self.data_dir),
        ]
        if token or self.token:
            args += ["--token", token or self.token or ""]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=clean_environ(**self.extra_env),
            start_new_session=True,
        )
        log.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def agents() -> Iterator[list[AgentProcess]]:
    """Agent processes started by the test; all stopped at its end."""
    started: list[AgentProcess] = []
    yield started
    for agent in started:
        agent.kill()
        shutil.rmtree(agent.data_dir, ignore_errors=True)


def new_agent(server: FleetServer, docker_host: str, started: list[AgentProcess]) -> AgentProcess:
    data_dir = _short_dir("dya-")
    agent = AgentProcess(
        server_url=server.url,
        docker_host=docker_host,
        data_dir=data_dir,
        log_path=data_dir.parent / f"{data_dir.name}.log",
    )
    started.append(agent)
    return agent


@pytest.fixture(scope="session")
def node2_host() -> str:
    return require_env("DOCKYARD_TEST_NODE2_DOCKER_HOST")


@pytest.fixture(scope="session")
def node3_host() -> str:
    return require_env("DOCKYARD_TEST_NODE3_DOCKER_HOST")
