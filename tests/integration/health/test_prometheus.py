"""A real Prometheus (Debian's `prometheus`) scrapes a real `dockyard serve`'s /metrics with
the bearer token; the values are queried back through Prometheus's HTTP API."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.health.conftest import LoopbackServer
from tests.integration.hosts.serve import dockyard_serve

TOKEN = "prometheus-scrape-token-" + "x" * 24


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_metrics(
    tmp_path: Path, loopback_server: Callable[[str], LoopbackServer]
) -> None:
    binary = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if binary is None:
        pytest.fail("prometheus is not installed: run `scripts/test-env.sh up`")
    target = loopback_server("127.0.0.1")
    target.routes["/"] = (200, {}, b"ok")
    with dockyard_serve(tmp_path / "data", DOCKYARD_METRICS_TOKEN=TOKEN) as served:
        # Unauthenticated scrapes are refused.
        assert httpx.get(f"{served.url}/metrics").status_code == 401
        created = httpx.post(
            f"{served.url}/api/v1/health-checks",
            headers=served.headers,
            json={
                "name": "loopback",
                "kind": "http",
                "target": {"url": target.url("/")},
                "interval_s": 3600,
                "timeout_s": 5,
                "enabled": True,
            },
        )
        assert created.status_code == 201, created.text
        check_id = created.json()["id"]
        run = httpx.post(
            f"{served.url}/api/v1/health-checks/{check_id}/run", headers=served.headers
        )
        assert run.json()["status"] == "up", run.text

        token_file = tmp_path / "token"
        token_file.write_text(TOKEN)
        port = _free_port()
        config = tmp_path / "prometheus.yml"
        host_port = served.url.removeprefix("http://")
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: dockyard\n"
            "    metrics_path: /metrics\n"
            "    authorization:\n"
            "      type: Bearer\n"
            f"      credentials_file: {token_file}\n"
            "    static_configs:\n"
            f"      - targets: ['{host_port}']\n"
        )
        log_path = tmp_path / "prometheus.log"
        with log_path.open("wb") as log:
            prometheus = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=log,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            found: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                assert prometheus.poll() is None, log_path.read_text()[-2000:]
                try:
                    found = _query(base, f'dockyard_health_check_up{{check_id="{check_id}"}}')
                except httpx.HTTPError:
                    found = []
                if found:
                    break
                time.sleep(0.5)
            assert found, f"no sample scraped: {log_path.read_text()[-2000:]}"
            sample = found[0]
            assert sample["metric"]["name"] == "loopback"
            assert sample["metric"]["kind"] == "http"
            assert sample["metric"]["job"] == "dockyard"
            assert sample["value"][1] == "1"
            up = _query(base, 'up{job="dockyard"}')
            assert up[0]["value"][1] == "1"  # the scrape itself succeeded (token accepted)
            latency = _query(base, "dockyard_health_check_latency_seconds")
            assert 0 < float(latency[0]["value"][1]) < 5
            nodes = _query(base, "dockyard_node_up")
            assert [n["value"][1] for n in nodes] == ["1"]
        finally:
            prometheus.terminate()
            try:
                prometheus.wait(timeout=20)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait(timeout=10)
