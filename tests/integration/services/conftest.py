"""Fixtures for services tests: a running app on the real engine, unique names and ports."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveApp, make_settings, running_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
async def services_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveApp]:
    """One SQLite app per module, publishing on 127.0.0.1 by default."""
    settings = make_settings(
        tmp_path_factory.mktemp("services-data"),
        None,
        default_publish_ip="127.0.0.1",
        deploy_wait_timeout_s=60,
    )
    async with running_app(settings) as test_app:
        token = await test_app.token()
        test_app.client.headers.update(test_app.bearer(token))
        yield test_app


async def wait_job(api: LiveApp, job_id: str, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = (await api.client.get(f"/api/v1/jobs/{job_id}")).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        await asyncio.sleep(0.2)


async def act(
    api: LiveApp, service_id: int, action: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run an action and wait for its job."""
    response = await api.client.post(f"/api/v1/services/{service_id}/{action}", json=body)
    assert response.status_code == 202, response.text
    return await wait_job(api, response.json()["job"]["id"])


async def wait_status(
    api: LiveApp,
    service_id: int,
    predicate: Callable[[dict[str, Any]], bool],
    timeout_s: float = 10,
) -> dict[str, Any]:
    """Poll the service until `predicate(service)`; fail with the last view."""
    deadline = time.monotonic() + timeout_s
    while True:
        service: dict[str, Any] = (await api.client.get(f"/api/v1/services/{service_id}")).json()
        if predicate(service):
            return service
        assert time.monotonic() < deadline, f"service never matched: {service}"
        await asyncio.sleep(0.1)


def http_get(port: int, path: str = "/") -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
