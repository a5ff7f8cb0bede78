"""The safe update flow in scale-out mode: a real `dockyard worker` (Celery on the test Redis)
runs the update and the automatic rollback for a server on PostgreSQL, with the same job code
as the embedded runner."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.settings import Settings
from tests.conftest import DatabaseFactory, require_env, running_app
from tests.integration.schedules.helpers import Proc, process_env
from tests.integration.services.conftest import act, free_port, http_get, wait_status
from tests.integration.updates.conftest import HTTPD, Registry


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.stop()


async def test_update_and_rollback_run_on_a_celery_worker(
    database_factory: DatabaseFactory,
    app_settings: Callable[..., Settings],
    registry: Registry,
    docker_client: Any,
    procs: list[Proc],
    tmp_path: Path,
) -> None:
    settings = app_settings(
        await database_factory.new("postgresql"),
        redis_url=require_env("DOCKYARD_TEST_REDIS_URL"),
        default_publish_ip="127.0.0.1",
        run_scheduler=False,
        deploy_wait_timeout_s=60,
    )
    async with running_app(settings) as api:
        assert type(api.runtime.jobs).__name__ == "CeleryJobRunner"
        api.client.headers.update(api.bearer(await api.token()))
        worker = Proc(["worker", "--concurrency", "1"], process_env(settings), tmp_path / "w.log")
        procs.append(worker)
        await worker.wait_for("ready.", timeout_s=60)

        repo = registry.repo()
        v1 = registry.push(repo, require_env("DOCKYARD_TEST_IMAGE"), HTTPD)
        name = f"u-{secrets.token_hex(4)}"
        registry.services.append(name)
        port = free_port()
        compose = f"""
services:
  web:
    image: {repo}:latest
    stop_grace_period: 1s
    ports:
      - "{port}:80"
"""
        response = await api.client.post(
            "/api/v1/services", json={"name": name, "compose": compose}
        )
        assert response.status_code == 201, response.text
        sid = int(response.json()["id"])
        policy = {"mode": "off", "verify": {"timeout_s": 20, "settle_s": 2}}
        response = await api.client.put(f"/api/v1/services/{sid}/update-policy", json=policy)
        assert response.status_code == 200, response.text

        job = await act(api, sid, "deploy")
        assert job["status"] == "succeeded", (job, worker.output())
        assert job["runner_id"].startswith("worker@"), job["runner_id"]
        await wait_status(api, sid, lambda s: s["status"] == "running")
        assert http_get(port).text.strip() == "dockyard-test v1"

        # v2 under the same tag: the worker pulls and recreates.
        v2 = registry.push(repo, require_env("DOCKYARD_TEST_IMAGE_V2"), HTTPD)
        registry.retag_latest(repo, v1)
        job = await act(api, sid, "update")
        assert job["status"] == "succeeded", (job, worker.output())
        assert job["runner_id"].startswith("worker@")
        assert job["result"]["rolled_back"] is False
        assert docker_client.containers.get(f"{name}-web-1").image.id == v2
        assert http_get(port).text.strip() == "dockyard-test v2"

        # A broken v3: the worker rolls back to v2 by itself.
        registry.push(repo, require_env("DOCKYARD_TEST_IMAGE_V2"), ["sh", "-c", "exit 1"])
        registry.retag_latest(repo, v2)
        job = await act(api, sid, "update")
        assert job["status"] == "failed", job
        assert job["runner_id"].startswith("worker@")
        assert job["result"]["rolled_back"] is True
        web = docker_client.containers.get(f"{name}-web-1")
        assert web.image.id == v2
        assert web.status == "running"
        assert http_get(port).text.strip() == "dockyard-test v2"
        history = (await api.client.get(f"/api/v1/services/{sid}/updates")).json()["items"]
        assert [row["result"] for row in history] == ["rolled_back", "succeeded"]

        assert (await act(api, sid, "delete"))["status"] == "succeeded"
    assert worker.stop() == 0, worker.output()
