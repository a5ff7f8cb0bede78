"""Shared helpers: a one-container busybox service, waiting for jobs, and `dockyard worker` /
`dockyard beat` subprocesses (`Proc`, `process_env`) for scale-out tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from dockyard.settings import Settings
from tests.conftest import TEST_SECRET_KEY, LiveApp, clean_environ, dockyard_executable

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")

COMPOSE = f"""
services:
  app:
    image: {IMAGE}
    command: ["sh", "-c", "exec sleep 3600"]
    stop_grace_period: 1s
    labels:
      io.dockyard.test: "1"
"""


async def create_service(api: LiveApp, name: str) -> dict[str, Any]:
    response = await api.client.post("/api/v1/services", json={"name": name, "compose": COMPOSE})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_job(api: LiveApp, job_id: str, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await api.client.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        await asyncio.sleep(0.2)


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `dockyard worker` / `dockyard beat` sharing `settings`' database,
    Redis and secret key (for scale-out tests)."""
    return clean_environ(
        DOCKYARD_DATABASE_URL=str(settings.database_url),
        DOCKYARD_REDIS_URL=str(settings.redis_url),
        DOCKYARD_SECRET_KEY=TEST_SECRET_KEY,
        DOCKYARD_DATA_DIR=str(settings.data_dir),
        DOCKYARD_DOCKER_HOST=str(settings.docker_host),
        DOCKYARD_DEFAULT_PUBLISH_IP="127.0.0.1",
        DOCKYARD_LOG_LEVEL="INFO",
        DOCKYARD_LOG_FORMAT="console",
        **extra,
    )


class Proc:
    """A `dockyard` subprocess whose stderr goes to a file (read on failure)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._fh = log.open("wb")
        self.popen = subprocess.Popen(
            [dockyard_executable(), *args], env=env, stdout=self._fh, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for(self, text: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            assert self.popen.poll() is None, f"exited {self.popen.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.output()}"
            await asyncio.sleep(0.2)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._fh.close()
        return self.popen.returncode
