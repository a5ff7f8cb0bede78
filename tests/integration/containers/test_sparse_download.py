"""A 1 GB (sparse) container file downloads through `dockyard serve` in bounded memory."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.integration.hosts.serve import PeakRss, dockyard_serve
from tests.integration.state.docker_helpers import containers

SIZE = 1024**3
# The download streams 64 KiB blocks (and tarfile's 1 MiB read buffer): nothing near 1 GB.
MAX_RSS_GROWTH = 48 * 1024 * 1024


def test_sparse_1gb_download_in_bounded_memory(
    tmp_path: Path, docker_host: str, test_image: str
) -> None:
    with containers(docker_host, test_image) as made:
        cid = made.run(["sleep", "3600"])
        exec_id = made.client.exec_create(
            cid, ["sh", "-c", "dd if=/dev/zero of=/big bs=1 count=0 seek=1G 2>/dev/null"]
        )["Id"]
        made.client.exec_start(exec_id)
        assert made.client.exec_inspect(exec_id)["ExitCode"] == 0
        with (
            dockyard_serve(tmp_path / "data") as server,
            httpx.Client(base_url=server.url, headers=server.headers, timeout=300) as client,
        ):
            nodes = client.get("/api/v1/nodes").json()
            node_id = (nodes["items"] if isinstance(nodes, dict) else nodes)[0]["id"]
            files = f"/api/v1/nodes/{node_id}/containers/{cid}/files"
            # Warm up the download path before measuring.
            warm = client.get(f"{files}/download", params={"path": "/etc/hostname"})
            assert warm.status_code == 200, warm.text
            baseline = server.rss_bytes()
            received = 0
            started = time.monotonic()
            with (
                PeakRss(server) as rss,
                client.stream("GET", f"{files}/download", params={"path": "/big"}) as response,
            ):
                assert response.status_code == 200
                assert response.headers["content-length"] == str(SIZE)
                assert 'filename="big"' in response.headers["content-disposition"]
                for chunk in response.iter_raw(1024 * 1024):
                    received += len(chunk)  # counted, never stored
            elapsed = time.monotonic() - started
            assert received == SIZE
            growth = rss.peak - baseline
            assert growth <= MAX_RSS_GROWTH, (
                f"server RSS grew by {growth / 1024**2:.1f} MiB downloading 1 GiB in {elapsed:.1f}s"
            )
