"""Fixtures for placement tests: a fresh app per test (both databases), node 2 as a node."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import docker
import pytest

from dockyard.nodes.models import Node
from dockyard.settings import Settings
from tests.conftest import LiveApp, require_env, running_app


@pytest.fixture
async def papi(db_url: str, app_settings: Callable[..., Settings]) -> AsyncIterator[LiveApp]:
    """An app on a fresh database, publishing on 127.0.0.1, with an admin client."""
    settings = app_settings(db_url, default_publish_ip="127.0.0.1", deploy_wait_timeout_s=90)
    async with running_app(settings) as test_app:
        test_app.client.headers.update(test_app.bearer(await test_app.token()))
        yield test_app


@pytest.fixture
def node2_host() -> str:
    host = require_env("DOCKYARD_TEST_NODE2_DOCKER_HOST")
    client = docker.APIClient(base_url=host, version="auto", timeout=10)
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(f"node 2's engine at {host} does not answer: {exc}", pytrace=False)
    finally:
        client.close()
    return host


@pytest.fixture
def node2_client(node2_host: str) -> Iterator[Any]:
    client = docker.DockerClient(base_url=node2_host, version="auto", timeout=60)
    yield client
    client.close()


async def add_direct_node(app: LiveApp, name: str, docker_host: str, **labels: str) -> int:
    """A node reached straight through its engine socket (as the local node is)."""
    async with app.runtime.db.session() as session:
        node = Node(name=name, kind="local", docker_host=docker_host, labels=dict(labels))
        session.add(node)
        await session.commit()
        return node.id


async def local_node_id(app: LiveApp) -> int:
    nodes = (await app.client.get("/api/v1/nodes")).json()["items"]
    return int(min(n["id"] for n in nodes))


@pytest.fixture
def project_prefix(docker_client: Any) -> Iterator[str]:
    """A unique service-name prefix; every compose project starting with it is removed after."""
    prefix = f"pl{secrets.token_hex(3)}"
    yield prefix
    for host in (None, *([require_env("DOCKYARD_TEST_NODE2_DOCKER_HOST")])):
        client = docker_client if host is None else docker.DockerClient(base_url=host)
        try:
            for container in client.containers.list(all=True):
                project = container.labels.get("com.docker.compose.project", "")
                if project.startswith(prefix):
                    container.remove(force=True)
            for network in client.networks.list():
                if network.name.startswith(prefix):
                    network.remove()
        finally:
            if host is not None:
                client.close()
