"""Fixtures for update tests: an app on the real engine, and images pushed to the local registry."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import docker.errors
import pytest

from tests.conftest import LiveApp, make_settings, remove_compose_project, require_env, running_app

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/www"]


@pytest.fixture(scope="module")
async def updates_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveApp]:
    """One SQLite app per module, publishing on 127.0.0.1, signed in as the admin."""
    settings = make_settings(
        tmp_path_factory.mktemp("updates-data"),
        None,
        default_publish_ip="127.0.0.1",
        deploy_wait_timeout_s=60,
    )
    async with running_app(settings) as test_app:
        test_app.client.headers.update(test_app.bearer(await test_app.token()))
        yield test_app


@dataclass
class Registry:
    """Builds small images from the test images and pushes them to the local registry."""

    client: Any
    host: str
    repos: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)

    def repo(self, name: str = "app") -> str:
        repo = f"{self.host}/dockyard-test/{name}-{secrets.token_hex(4)}"
        self.repos.append(repo)
        return repo

    def push(self, repo: str, base: str, cmd: list[str], healthcheck: str | None = None) -> str:
        """Commit `base` with `cmd` as `repo:latest`, push it; return the image id."""
        container = self.client.containers.create(
            base, command=["true"], labels={"io.dockyard.test": "1"}
        )
        changes = [f"CMD {json.dumps(cmd)}"]
        if healthcheck:
            changes.append(healthcheck)
        try:
            image = container.commit(repository=repo, tag="latest", changes=changes)
        finally:
            container.remove(force=True)
        out = self.client.images.push(repo, tag="latest")
        assert '"error"' not in out, out
        return str(image.id)

    def retag_latest(self, repo: str, image_id: str) -> None:
        """Point the local `repo:latest` at an older image (the registry keeps the new one)."""
        self.client.api.tag(image_id, repo, "latest")


@pytest.fixture
def registry(docker_client: Any) -> Iterator[Registry]:
    reg = Registry(client=docker_client, host=require_env("DOCKYARD_TEST_REGISTRY"))
    yield reg
    for svc in reg.services:
        remove_compose_project(docker_client, svc)
    prefixes = tuple(reg.repos) + tuple(f"dockyard-rollback/{s}-" for s in reg.services)
    for image in docker_client.images.list(all=True):
        refs = list(image.tags) + [d.split("@")[0] for d in image.attrs.get("RepoDigests") or []]
        if any(r.startswith(prefixes) for r in refs):
            for tag in image.tags:
                docker_client.images.remove(tag, force=True)
            # Already gone with its last tag, or still used by a leftover container.
            with contextlib.suppress(docker.errors.APIError):
                docker_client.images.remove(image.id, force=True)
