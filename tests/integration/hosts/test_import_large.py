"""A 50,000-row CSV import against a real `dockyard serve`: it completes, counts every row,
and the server's memory stays bounded (the body is streamed, rows written in batches)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.integration.hosts.serve import PeakRss, dockyard_serve

ROWS = 50_000
HEADER = b"hostname,address,ssh_port,ssh_user,bastion,environment,tags,notes\n"
# The import keeps one set of the file's host names (duplicate detection) plus one batch.
MAX_RSS_GROWTH = 32 * 1024 * 1024


def csv_body(bad_every: int = 1000) -> Iterator[bytes]:
    """The file, generated in 1,000-row chunks (the test never holds all of it)."""
    yield HEADER
    chunk: list[str] = []
    for i in range(ROWS):
        address = (
            "not an address!"
            if i % bad_every == 7
            else f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        )
        chunk.append(
            f"host-{i:06d}.fleet.example.com,{address},22,deploy,,prod,"
            f"rack-{i % 40};batch-{i % 7},note number {i} with some text\n"
        )
        if len(chunk) == 1000:
            yield "".join(chunk).encode()
            chunk = []
    if chunk:
        yield "".join(chunk).encode()


def test_fifty_thousand_rows_in_bounded_memory(tmp_path: Path) -> None:
    with (
        dockyard_serve(tmp_path / "data") as server,
        httpx.Client(base_url=server.url, headers=server.headers, timeout=120) as client,
    ):
        # Warm up the import path (imports, compiled statements) before measuring.
        warm = client.post(
            "/api/v1/hosts/import?dry_run=true",
            content=HEADER + b"warm.example.com,10.0.0.1,22,,,,,\n",
            headers={"Content-Type": "text/csv"},
        )
        assert warm.status_code == 200, warm.text
        baseline = server.rss_bytes()
        started = time.monotonic()
        with PeakRss(server) as rss:
            response = client.post(
                "/api/v1/hosts/import?dry_run=false",
                content=csv_body(),
                headers={"Content-Type": "text/csv"},
            )
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        result = response.json()
        bad = ROWS // 1000
        assert result["created"] == ROWS - bad
        assert result["updated"] == 0
        assert result["error_count"] == bad
        assert {e["field"] for e in result["errors"]} == {"address"}
        assert result["errors"][0]["row"] == 9  # data row i=7 is file row 9 (header = 1)
        growth = rss.peak - baseline
        print(f"50k import: {elapsed:.1f} s, RSS {baseline >> 20} MiB -> peak {rss.peak >> 20} MiB")
        assert growth <= MAX_RSS_GROWTH, f"RSS grew by {growth >> 20} MiB"
        assert elapsed < 50

        listed = client.get("/api/v1/hosts", params={"tag": "rack-3", "limit": 1}).json()
        assert listed["total"] == sum(1 for i in range(ROWS) if i % 40 == 3 and i % 1000 != 7)
        # Importing the same file again updates every good row and creates none.
        again = client.post(
            "/api/v1/hosts/import?dry_run=true",
            content=csv_body(),
            headers={"Content-Type": "text/csv"},
        ).json()
        assert (again["created"], again["updated"]) == (0, ROWS - bad)
