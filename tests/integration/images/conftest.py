"""Fixtures for images tests: one app on the real engine, the local node, unique labels.

Everything a test creates carries `io.dockyard.test=1` and a per-test run label; cleanup
requests always pass that label, so they never touch other tests' objects or the shared
test images.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import LiveApp, make_settings, running_app

RUN_LABEL = "io.dockyard.test-run"


@pytest.fixture(scope="module")
async def images_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveApp]:
    """One SQLite app per module, signed in as the admin."""
    settings = make_settings(
        tmp_path_factory.mktemp("images-data"),
        None,
        default_publish_ip="127.0.0.1",
        deploy_wait_timeout_s=60,
    )
    async with running_app(settings) as test_app:
        token = await test_app.token()
        test_app.client.headers.update(test_app.bearer(token))
        yield test_app


@pytest.fixture(scope="module")
async def node_id(images_api: LiveApp) -> int:
    nodes = (await images_api.client.get("/api/v1/nodes")).json()["items"]
    local = [n for n in nodes if n["kind"] == "local"]
    assert local, nodes
    return int(local[0]["id"])


@dataclass
class Run:
    """A test's unique label and every Docker object it made (removed afterwards)."""

    run_id: str
    client: Any
    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{RUN_LABEL}={self.run_id}"

    @property
    def labels(self) -> dict[str, str]:
        return {"io.dockyard.test": "1", RUN_LABEL: self.run_id}

    def name(self, prefix: str) -> str:
        return f"t-img-{prefix}-{secrets.token_hex(4)}"

    def container(
        self,
        image: str,
        *,
        volume: str | None = None,
        network: str | None = None,
        start: bool = False,
    ) -> Any:
        kwargs: dict[str, Any] = {}
        if volume:
            kwargs["volumes"] = {volume: {"bind": "/data", "mode": "rw"}}
        if network:
            kwargs["network"] = network
        container = self.client.containers.create(
            image, ["sleep", "3600"], name=self.name("c"), labels=self.labels, **kwargs
        )
        self.containers.append(container.id)
        if start:
            container.start()
        return container

    def commit(self, image: str, repository: str | None = None, tag: str | None = None) -> str:
        """A new image of our own (dangling without `repository`)."""
        container = self.client.containers.create(
            image, ["sh", "-c", f"echo {uuid.uuid4().hex}"], labels=self.labels
        )
        try:
            new = container.commit(repository=repository, tag=tag, conf={"Labels": self.labels})
        finally:
            container.remove(force=True)
        self.images.append(new.id)
        return str(new.id)

    def volume(self) -> str:
        volume = self.client.volumes.create(name=self.name("v"), labels=self.labels)
        self.volumes.append(volume.name)
        return str(volume.name)

    def network(self) -> Any:
        network = self.client.networks.create(self.name("n"), labels=self.labels)
        self.networks.append(network.id)
        return network

    def cleanup(self) -> None:
        import docker.errors

        for project in self.projects:
            flt = {"label": f"com.docker.compose.project={project}"}
            for c in self.client.containers.list(all=True, filters=flt):
                c.remove(force=True)
            for n in self.client.networks.list(filters=flt):
                with contextlib.suppress(docker.errors.APIError):
                    n.remove()
            for v in self.client.volumes.list(filters=flt):
                with contextlib.suppress(docker.errors.APIError):
                    v.remove(force=True)
        for cid in self.containers:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(cid, force=True)
        for c in self.client.containers.list(all=True, filters={"label": self.label}):
            c.remove(force=True)
        for nid in self.networks:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.api.remove_network(nid)
        for name in self.volumes:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.api.remove_volume(name, force=True)
        for image in self.images:
            # Only images this test made (never the shared test images).
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.api.remove_image(image, force=True)


@pytest.fixture
def run(docker_client: Any) -> Iterator[Run]:
    r = Run(run_id=uuid.uuid4().hex, client=docker_client)
    yield r
    r.cleanup()


async def wait_job(api: LiveApp, job_id: str, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = (await api.client.get(f"/api/v1/jobs/{job_id}")).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        await asyncio.sleep(0.2)


async def create_service(api: LiveApp, name: str, compose: str, *, deploy: bool = True) -> int:
    response = await api.client.post("/api/v1/services", json={"name": name, "compose": compose})
    assert response.status_code == 201, response.text
    sid = int(response.json()["id"])
    if deploy:
        response = await api.client.post(f"/api/v1/services/{sid}/deploy")
        assert response.status_code == 202, response.text
        job = await wait_job(api, response.json()["job"]["id"])
        assert job["status"] == "succeeded", job
    return sid
