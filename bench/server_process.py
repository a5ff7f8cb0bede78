"""Start a real `dockyard serve` in a temp data dir for a benchmark, and stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ADMIN_EMAIL = "bench@localhost"
ADMIN_PASSWORD = "bench-password-0123456789"


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    def rss_mib(self) -> float:
        """Resident set size of the server process in MiB (from /proc)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")

    def cpu_s(self) -> float:
        """CPU time (user + system, every thread) the server process has used, in seconds."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def token(self) -> str:
        response = httpx.post(
            f"{self.base_url}/api/v1/auth/login",
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """A server on a free loopback port, ready when `/readyz` answers."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as data_dir:
        env = {
            **os.environ,
            "DOCKYARD_DATA_DIR": data_dir,
            "DOCKYARD_ADMIN_EMAIL": ADMIN_EMAIL,
            "DOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DOCKYARD_LOG_LEVEL": "WARNING",
            "DOCKYARD_LOGIN_RATE_PER_MINUTE": "10000",
            **(extra_env or {}),
        }
        # BENCH_SERVER_LOG=<file> keeps the server's output (to see why a run failed).
        log_path = os.environ.get("BENCH_SERVER_LOG")
        output = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        process = subprocess.Popen(
            ["dockyard", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.2)
            yield Server(base_url, process, Path(data_dir))
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            if not isinstance(output, int):
                output.close()
