"""A real `dockyard serve` subprocess for tests that measure the server's memory."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, clean_environ, dockyard_executable


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    headers: dict[str, str]

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc status")


class PeakRss:
    """Samples the server's RSS every 20 ms in a thread; `peak` is the largest seen."""

    def __init__(self, server: Served) -> None:
        self.server = server
        self.peak = server.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.server.rss_bytes())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, self.server.rss_bytes())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dockyard_serve(data_dir: Path, **env_overrides: str) -> Iterator[Served]:
    """`dockyard serve` on a free loopback port with a fresh data dir, signed in as admin."""
    port = _free_port()
    env = clean_environ(
        DOCKYARD_DATA_DIR=str(data_dir),
        DOCKYARD_ADMIN_EMAIL=ADMIN_EMAIL,
        DOCKYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        DOCKYARD_LOGIN_RATE_PER_MINUTE="100000",
        DOCKYARD_API_RATE_PER_MINUTE="1000000",
        DOCKYARD_LOG_LEVEL="WARNING",
        DOCKYARD_DOCKER_HOST=os.environ.get(
            "DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"
        ),
        **env_overrides,
    )
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [dockyard_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dockyard serve did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        login = httpx.post(
            f"{url}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        yield Served(url, process, data_dir, headers)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
