"""A 500 MB artifact through a real `dockyard serve`: streamed in and out, hashed on the
way, while the server's resident memory grows by at most 50 MB."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.integration.hosts.serve import PeakRss, dockyard_serve

SIZE = 500 * 1024 * 1024
CHUNK = 1024 * 1024
MAX_RSS_GROWTH = 50 * 1000 * 1000
BOUNDARY = "----dockyard-big-" + secrets.token_hex(8)


def test_500_mb_upload_and_download_in_bounded_memory(tmp_path: Path) -> None:
    sent = hashlib.sha256()
    block = os.urandom(CHUNK)

    def body() -> Iterator[bytes]:
        """Generated on the fly (chunked transfer encoding); never held whole."""
        yield (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="big.img"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for i in range(SIZE // CHUNK):
            chunk = i.to_bytes(8, "big") + block[8:]  # every chunk differs
            sent.update(chunk)
            yield chunk
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    with (
        dockyard_serve(tmp_path / "data") as server,
        httpx.Client(base_url=server.url, headers=server.headers, timeout=300) as client,
    ):
        created = client.post(
            "/api/v1/hosts", json={"hostname": "big.example.com", "address": "10.0.0.1"}
        )
        assert created.status_code == 201, created.text
        host_id = created.json()["id"]
        # Warm up the upload path before measuring.
        warm = client.post(
            f"/api/v1/hosts/{host_id}/artifacts",
            files={"file": ("warm.bin", os.urandom(4 * CHUNK))},
        )
        assert warm.status_code == 201, warm.text
        baseline = server.rss_bytes()
        started = time.monotonic()
        with PeakRss(server) as rss:
            response = client.post(
                f"/api/v1/hosts/{host_id}/artifacts",
                content=body(),
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            )
        upload_s = time.monotonic() - started
        assert response.status_code == 201, response.text
        artifact = response.json()
        assert artifact["size"] == SIZE
        assert artifact["sha256"] == sent.hexdigest()
        upload_growth = rss.peak - baseline

        received = hashlib.sha256()
        size = 0
        started = time.monotonic()
        with (
            PeakRss(server) as rss_down,
            client.stream("GET", f"/api/v1/artifacts/{artifact['id']}/download") as download,
        ):
            assert download.status_code == 200
            assert download.headers["content-type"] == "application/octet-stream"
            assert int(download.headers["content-length"]) == SIZE
            for chunk in download.iter_bytes(CHUNK):
                received.update(chunk)
                size += len(chunk)
        download_s = time.monotonic() - started
        assert size == SIZE
        assert received.hexdigest() == sent.hexdigest()
        download_growth = rss_down.peak - baseline
        print(
            f"500 MB: upload {upload_s:.1f} s (+{upload_growth / 1e6:.1f} MB RSS), "
            f"download {download_s:.1f} s (+{download_growth / 1e6:.1f} MB RSS)"
        )
        assert upload_growth <= MAX_RSS_GROWTH, f"upload grew RSS by {upload_growth / 1e6} MB"
        assert download_growth <= MAX_RSS_GROWTH, f"download grew RSS by {download_growth / 1e6}"
        stored = [p for p in (server.data_dir / "artifacts").iterdir() if p.stat().st_size == SIZE]
        assert len(stored) == 1
        assert stored[0].stat().st_mode & 0o777 == 0o600
