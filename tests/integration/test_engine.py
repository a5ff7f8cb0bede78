"""Health, readiness and node facts against the real Docker engine (and a missing one)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.nodes import service as node_service
from tests.conftest import (
    DatabaseFactory,
    LiveApp,
    assert_error,
    audit_rows,
    make_settings,
    running_app,
)

MISSING_SOCKET = "unix:///nonexistent/docker.sock"
TEST_LABEL = {"io.dockyard.test": "1"}
COUNTS = ("containers", "containers_running", "containers_paused", "containers_stopped", "images")
DOCKER_KEYS = {
    "containers": "Containers",
    "containers_running": "ContainersRunning",
    "containers_paused": "ContainersPaused",
    "containers_stopped": "ContainersStopped",
    "images": "Images",
}


@pytest.fixture(scope="module")
async def engine_api(
    docker_host: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveApp]:
    settings = make_settings(tmp_path_factory.mktemp("engine"), docker_host=docker_host)
    async with running_app(settings) as app:
        yield app


@pytest.fixture(scope="module")
async def offline_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveApp]:
    settings = make_settings(tmp_path_factory.mktemp("offline"), docker_host=MISSING_SOCKET)
    async with running_app(settings) as app:
        yield app


@pytest.fixture
def no_facts_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_service, "FACTS_TTL_S", 0.0)


async def get_nodes(app: LiveApp) -> dict[str, Any]:
    response = await app.client.get("/api/v1/nodes", headers=app.bearer(await app.token()))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# ---------------------------------------------------------------- health


async def test_healthz(engine_api: LiveApp, offline_api: LiveApp) -> None:
    for app in (engine_api, offline_api):
        response = await app.client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


async def test_readyz_with_the_real_engine(engine_api: LiveApp) -> None:
    response = await engine_api.client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "docker"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["error"] is None
        assert check["latency_ms"] >= 0


async def test_readyz_without_an_engine_is_503_with_a_reason(offline_api: LiveApp) -> None:
    response = await offline_api.client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["database"]["ok"] is True
    docker = body["checks"]["docker"]
    assert docker["ok"] is False
    assert docker["error"] == (
        f"Cannot reach the Docker engine at {MISSING_SOCKET}: the Docker socket does not exist."
    )
    assert "Traceback" not in response.text


async def test_server_starts_and_serves_without_an_engine(offline_api: LiveApp) -> None:
    info = await offline_api.client.get(
        "/api/v1/system/info", headers=offline_api.bearer(await offline_api.token())
    )
    assert info.status_code == 200
    assert info.json()["docker_host"] == MISSING_SOCKET


async def test_node_list_shows_an_offline_engine(offline_api: LiveApp) -> None:
    body = await get_nodes(offline_api)
    assert body["total"] == 1
    node = body["items"][0]
    assert node["kind"] == "local"
    assert node["docker_host"] == MISSING_SOCKET
    assert node["status"] == "offline"
    assert node["engine"]["reachable"] is False
    assert node["engine"]["error"] == (
        f"Cannot reach the Docker engine at {MISSING_SOCKET}: the Docker socket does not exist."
    )
    assert node["engine"]["server_version"] is None
    one = await offline_api.client.get(
        f"/api/v1/nodes/{node['id']}", headers=offline_api.bearer(await offline_api.token())
    )
    assert one.status_code == 200
    assert one.json()["status"] == "offline"


async def test_unknown_node_is_404(engine_api: LiveApp) -> None:
    response = await engine_api.client.get(
        "/api/v1/nodes/99999", headers=engine_api.bearer(await engine_api.token())
    )
    assert_error(response, 404, "node_not_found")


async def test_system_info(engine_api: LiveApp) -> None:
    from dockyard import __version__

    response = await engine_api.client.get(
        "/api/v1/system/info", headers=engine_api.bearer(await engine_api.token())
    )
    body = response.json()
    assert body["version"] == __version__
    assert body["database"] == "sqlite"
    assert body["docker_host"] == engine_api.settings.docker_host


async def test_local_node_follows_the_docker_host_setting(docker_host: str, tmp_path: Path) -> None:
    """Restarting with another DOCKYARD_DOCKER_HOST updates the local node (audited)."""
    data_dir = tmp_path / "restart"
    async with running_app(make_settings(data_dir, docker_host=MISSING_SOCKET)) as app:
        assert (await get_nodes(app))["items"][0]["status"] == "offline"
    async with running_app(make_settings(data_dir, docker_host=docker_host)) as app:
        nodes = await get_nodes(app)
        assert nodes["total"] == 1
        assert nodes["items"][0]["docker_host"] == docker_host
        assert nodes["items"][0]["status"] == "online"
        updated = await audit_rows(app, action="node.updated")
        assert len(updated) == 1
        assert updated[0].details == {"docker_host": {"from": MISSING_SOCKET, "to": docker_host}}


# ---------------------------------------------------------------- facts


def expected_facts(docker_client: Any) -> dict[str, Any]:
    info = docker_client.info()
    version = docker_client.version()
    return {
        "server_version": version["Version"],
        "api_version": version["ApiVersion"],
        "os": info["OperatingSystem"],
        "os_type": info["OSType"],
        "architecture": info["Architecture"],
        "kernel_version": info["KernelVersion"],
        "cpus": info["NCPU"],
        "memory_bytes": info["MemTotal"],
        "name": info["Name"],
        "storage_driver": info["Driver"],
        "docker_root_dir": info["DockerRootDir"],
        **{ours: info[theirs] for ours, theirs in DOCKER_KEYS.items()},
    }


async def stable_facts(app: LiveApp, docker_client: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Engine facts from the API and from docker-py, taken while nothing else changed."""
    for _ in range(5):
        before = expected_facts(docker_client)
        node = (await get_nodes(app))["items"][0]
        after = expected_facts(docker_client)
        if before == after:
            return node, after
    raise AssertionError("the engine's counts kept changing while the test read them")


async def test_node_facts_match_docker_info(
    engine_api: LiveApp, docker_client: Any, no_facts_cache: None
) -> None:
    node, expected = await stable_facts(engine_api, docker_client)
    assert node["status"] == "online"
    assert node["engine"]["reachable"] is True
    assert node["engine"]["error"] is None
    assert node["last_seen"] is not None
    for key, value in expected.items():
        assert node["engine"][key] == value, key


async def test_container_counts_follow_the_engine(
    engine_api: LiveApp, docker_client: Any, test_image: str, no_facts_cache: None
) -> None:
    name = f"dockyard-test-{secrets.token_hex(4)}"
    await stable_facts(engine_api, docker_client)
    container = docker_client.containers.create(
        test_image, command=["sleep", "300"], labels=TEST_LABEL, name=name
    )
    try:
        created_node, created = await stable_facts(engine_api, docker_client)
        for key in COUNTS:
            assert created_node["engine"][key] == created[key], key
        # Exact deltas would assume nobody else uses the engine meanwhile (other suites
        # do); matching `docker info` at each step is the real check.
        assert created_node["engine"]["containers_stopped"] >= 1

        container.start()
        running_node, running = await stable_facts(engine_api, docker_client)
        for key in COUNTS:
            assert running_node["engine"][key] == running[key], key
        assert running_node["engine"]["containers_running"] >= 1
    finally:
        container.remove(force=True)
    after_node, after = await stable_facts(engine_api, docker_client)
    for key in COUNTS:
        assert after_node["engine"][key] == after[key], key


async def test_facts_are_cached_briefly(engine_api: LiveApp, docker_client: Any) -> None:
    """Two quick reads share one engine round trip (FACTS_TTL_S)."""
    first = (await get_nodes(engine_api))["items"][0]["engine"]["checked_at"]
    second = (await get_nodes(engine_api))["items"][0]["engine"]["checked_at"]
    assert first == second


async def test_readyz_names_an_unreachable_database(
    database_factory: DatabaseFactory, docker_host: str, tmp_path: Path
) -> None:
    url = await database_factory.new("postgresql")
    async with running_app(make_settings(tmp_path / "data", url, docker_host=docker_host)) as app:
        assert (await app.client.get("/readyz")).status_code == 200
        await database_factory.drop(url)
        response = await app.client.get("/readyz")
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["status"] == "not_ready"
        assert body["checks"]["docker"]["ok"] is True
        database = body["checks"]["database"]
        assert database["ok"] is False
        assert database["error"].startswith("The database is unreachable")
        assert "Traceback" not in response.text
        assert (await app.client.get("/healthz")).status_code == 200
