"""What the compose integration tests need: docker-compose 1.29 and the test engine.

A missing tool, engine or image FAILS the test with what to do; nothing is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DOCKER_COMPOSE = Path("/usr/bin/docker-compose")
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_TEST_IMAGE = "dockyard-test/busybox:1"
SETUP_HINT = "run `scripts/test-env.sh up` (it installs docker-compose and builds the test image)"


@pytest.fixture(scope="session")
def docker_compose() -> str:
    """Debian's docker-compose (v1.29); fails the test if it is not installed."""
    if not DOCKER_COMPOSE.is_file() or not os.access(DOCKER_COMPOSE, os.X_OK):
        pytest.fail(
            f"{DOCKER_COMPOSE} is missing: `apt-get install docker-compose`, or {SETUP_HINT}",
            pytrace=False,
        )
    return str(DOCKER_COMPOSE)


@pytest.fixture(scope="session")
def engine_api() -> Iterator[Any]:
    """A low-level docker-py client for the test engine; fails if the engine does not answer."""
    import docker

    host = os.environ.get("DOCKYARD_TEST_DOCKER_HOST") or DEFAULT_DOCKER_HOST
    try:
        api = docker.APIClient(base_url=host, version="auto", timeout=60)
        api.ping()
    except Exception as exc:
        pytest.fail(f"the Docker engine at {host} does not answer ({exc}): {SETUP_HINT}")
    yield api
    api.close()


@pytest.fixture(scope="session")
def busybox_image(engine_api: Any) -> str:
    """The test image (`DOCKYARD_TEST_IMAGE`, default `dockyard-test/busybox:1`)."""
    import docker.errors

    image = os.environ.get("DOCKYARD_TEST_IMAGE") or DEFAULT_TEST_IMAGE
    try:
        engine_api.inspect_image(image)
    except docker.errors.ImageNotFound:
        pytest.fail(f"the test image {image} is not on the engine: {SETUP_HINT}", pytrace=False)
    return image
