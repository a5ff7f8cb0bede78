"""Fixtures for registry tests: an app on the real engine, pushes, the registry's access log."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveApp, make_settings, require_env, running_app


@pytest.fixture(scope="module")
async def reg_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveApp]:
    """One SQLite app per module, signed in as the admin."""
    settings = make_settings(
        tmp_path_factory.mktemp("registries-data"),
        None,
        default_publish_ip="127.0.0.1",
        deploy_wait_timeout_s=60,
    )
    async with running_app(settings) as test_app:
        test_app.client.headers.update(test_app.bearer(await test_app.token()))
        yield test_app


@pytest.fixture
def repo_name(docker_client: Any) -> Iterator[str]:
    """A fresh repository path (`dockyard-test/u-…`); local tags of it are removed after."""
    name = f"dockyard-test/u-{secrets.token_hex(5)}"
    yield name
    for image in docker_client.images.list():
        for tag in image.tags:
            if f"/{name}:" in tag:
                docker_client.images.remove(tag, noprune=True)


def push(docker_client: Any, source: str, target: str, auth: dict[str, str] | None = None) -> str:
    """Tag `source` as `target` and push it; returns the pushed manifest digest."""
    repository, _, tag = target.rpartition(":")
    docker_client.images.get(source).tag(repository, tag)
    digest = None
    for message in docker_client.api.push(
        repository, tag=tag, stream=True, decode=True, auth_config=auth
    ):
        if "error" in message:
            raise AssertionError(f"push of {target} failed: {message['error']}")
        aux = message.get("aux") or {}
        digest = aux.get("Digest", digest)
    assert digest, f"push of {target} reported no digest"
    return str(digest)


class RegistryLog:
    """Counts the registry's access-log lines for manifest requests of one repository."""

    def __init__(self, path: str, repository: str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            pytest.fail(f"registry log {path} does not exist: run scripts/test-env.sh up")
        self.repository = repository
        self.offset = self.path.stat().st_size
        self.pattern = re.compile(
            r'"(?P<method>[A-Z]+) /v2/' + re.escape(repository) + r"/manifests/[^ ]+ HTTP/"
        )

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def methods(self) -> list[str]:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode(errors="replace")
        # Only the access-log lines (combined format), not the structured debug lines.
        return [
            m.group("method")
            for line in text.splitlines()
            if not line.startswith("time=")
            for m in [self.pattern.search(line)]
            if m
        ]

    async def wait_methods(self, at_least: int, timeout_s: float = 3.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.methods()
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.05)


def registry_log(repository: str, *, auth: bool = False) -> RegistryLog:
    name = "DOCKYARD_TEST_AUTH_REGISTRY_LOG" if auth else "DOCKYARD_TEST_REGISTRY_LOG"
    return RegistryLog(require_env(name), repository)


def sleeper(image: str) -> str:
    """A compose file with one container that idles (and stops at once) on `image`."""
    return f"""
services:
  app:
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    stop_grace_period: 1s
"""
