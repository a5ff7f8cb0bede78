"""Update check of many image references vs `docker pull` of the same unchanged images.

Pushes BENCH_UPDATE_IMAGES (default 50) tags of the test image to the local registry as
`<registry>/dockyard-bench/<run>:t0..`, then runs Dockyard's update detection
(`registries.service.check_images`, in-process, the same code the API and jobs call) for
all of them, BENCH_UPDATE_ROUNDS times. It counts the requests the checks made in the
registry's access log (must be HEAD only: no GET, no blob), reports the time per image,
and compares with pulling the same unchanged images through the engine API (what "check
for updates" would cost without registry digests), sequentially and with the same
concurrency as the check. The pushed tags are deleted from the registry afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import statistics
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx

from bench.common import environment, raise_on_sigterm

IMAGES = int(os.environ.get("BENCH_UPDATE_IMAGES", "50"))
ROUNDS = int(os.environ.get("BENCH_UPDATE_ROUNDS", "5"))
REGISTRY = os.environ.get("DOCKYARD_TEST_REGISTRY", "127.0.0.1:5000")
REGISTRY_LOG = os.environ.get(
    "DOCKYARD_TEST_REGISTRY_LOG", "/var/lib/dockyard-test/logs/registry.log"
)
IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
DOCKER_HOST = os.environ.get("DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock")
TARGET_S = 0.2


def log_offset() -> int:
    return Path(REGISTRY_LOG).stat().st_size


def count_requests(offset: int, repository: str) -> Counter[str]:
    """Access-log requests for `repository` since `offset`, by method and kind."""
    pattern = re.compile(
        r'"(?P<method>[A-Z]+) /v2/' + re.escape(repository) + r"/(?P<kind>manifests|blobs)/"
    )
    with open(REGISTRY_LOG, "rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("time="):
            continue  # the structured duplicate of an access line
        match = pattern.search(line)
        if match:
            counts[f"{match.group('method')} {match.group('kind')}"] += 1
    return counts


def settle_log(offset: int, repository: str, expected: int, timeout_s: float = 3.0) -> Counter[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        counts = count_requests(offset, repository)
        if sum(counts.values()) >= expected or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


def push_all(client: docker.DockerClient, repository: str) -> list[str]:
    refs = [f"{REGISTRY}/{repository}:t{i}" for i in range(IMAGES)]
    source = client.images.get(IMAGE)

    def push(ref: str) -> None:
        repo, _, tag = ref.rpartition(":")
        source.tag(repo, tag)
        for message in client.api.push(repo, tag=tag, stream=True, decode=True):
            if "error" in message:
                raise RuntimeError(f"push {ref}: {message['error']}")

    # One at a time: concurrent pushes into one repository race in the registry (500s).
    for ref in refs:
        push(ref)
    return refs


def pull_all(client: docker.DockerClient, refs: list[str], workers: int) -> float:
    def pull(ref: str) -> None:
        repo, _, tag = ref.rpartition(":")
        for message in client.api.pull(repo, tag=tag, stream=True, decode=True):
            if "error" in message:
                raise RuntimeError(f"pull {ref}: {message['error']}")

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(pull, refs))
    return time.perf_counter() - started


def cleanup(client: docker.DockerClient, repository: str, refs: list[str]) -> None:
    for ref in refs:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(ref, noprune=True)
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    with httpx.Client(base_url=f"http://{REGISTRY}", timeout=10) as http:
        digests = set()
        for ref in refs:
            tag = ref.rpartition(":")[2]
            response = http.head(f"/v2/{repository}/manifests/{tag}", headers={"Accept": accept})
            if digest := response.headers.get("Docker-Content-Digest"):
                digests.add(digest)
        for digest in digests:
            http.delete(f"/v2/{repository}/manifests/{digest}")


async def detection_rounds(refs: list[str]) -> tuple[list[float], list[Any], int]:
    from dockyard.app import start_runtime
    from dockyard.nodes import repository as nodes
    from dockyard.registries.service import check_images
    from dockyard.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-update-") as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            docker_host=DOCKER_HOST,
            secret_key="bench-" + secrets.token_hex(24),
            log_level="WARNING",
        )
        runtime = await start_runtime(settings, first_admin=False)
        try:
            async with runtime.db.read_session() as session:
                node = await nodes.get_local(session)
            assert node is not None
            timings: list[float] = []
            last: list[Any] = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                last = await check_images(runtime, refs, node.id, max_age_s=0)
                timings.append(time.perf_counter() - started)
            return timings, last, settings.update_check_concurrency
        finally:
            await runtime.close()


def main() -> None:
    raise_on_sigterm()
    repository = f"dockyard-bench/upd-{secrets.token_hex(3)}"
    print(f"== update check: {IMAGES} image references, {REGISTRY}/{repository} ==")
    print(environment())
    client = docker.DockerClient(base_url=DOCKER_HOST, version="auto", timeout=120)
    refs: list[str] = []
    try:
        started = time.perf_counter()
        refs = push_all(client, repository)
        print(f"pushed {len(refs)} tags in {time.perf_counter() - started:.1f} s")

        offset = log_offset()
        timings, statuses, concurrency = asyncio.run(detection_rounds(refs))
        counts = settle_log(offset, repository, ROUNDS * len(refs))
        errors = [s for s in statuses if s.error]
        updates = [s for s in statuses if s.update_available]
        per_image = [t / len(refs) for t in timings]
        median_per_image = statistics.median(per_image)
        print(
            f"detection (concurrency {concurrency}), {ROUNDS} rounds: "
            + ", ".join(f"{t:.3f} s" for t in timings)
        )
        print(
            f"  per image: median {median_per_image * 1000:.1f} ms, "
            f"worst round {max(per_image) * 1000:.1f} ms   target <= {TARGET_S * 1000:.0f} ms"
        )
        print(f"  results: {len(statuses)} images, {len(updates)} updates, {len(errors)} errors")
        expected = ROUNDS * len(refs)
        head_only = set(counts) == {"HEAD manifests"} and counts["HEAD manifests"] == expected
        print(
            f"  registry log: {dict(counts)} (expected {expected} HEAD manifests) -> "
            + ("HEAD only: OK" if head_only else "NOT HEAD ONLY")
        )

        offset = log_offset()
        sequential = pull_all(client, refs, 1)
        parallel = pull_all(client, refs, concurrency)
        pull_counts = settle_log(offset, repository, 2 * len(refs))
        print(
            f"docker pull of the same unchanged images: sequential {sequential:.2f} s "
            f"({sequential / len(refs) * 1000:.1f} ms/image), {concurrency} at a time "
            f"{parallel:.2f} s ({parallel / len(refs) * 1000:.1f} ms/image)"
        )
        print(f"  registry log for the pulls: {dict(pull_counts)}")
        best = statistics.median(timings)
        print(
            f"ratio: detection / sequential pull = {best / sequential:.2f}x, "
            f"detection / concurrent pull = {best / parallel:.2f}x"
        )
        ok = median_per_image <= TARGET_S and head_only and not errors
        print("RESULT:", "met" if ok else "NOT met")
    finally:
        cleanup(client, repository, refs)
        client.close()


if __name__ == "__main__":
    main()
