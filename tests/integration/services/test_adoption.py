"""Adopting what already runs, on the real engine: a docker-compose 1.x project, a loose
`docker run` container, the unmanaged listing and refused requests.

The deploy that takes adopted containers over needs `operations._deploy` to include
`adoption.adopted_containers` (see the adoption module's docstring).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tests.conftest import LiveApp, assert_error, audit_rows
from tests.integration.services.conftest import (
    act,
    free_port,
    http_get,
    wait_job,
    wait_status,
    write,
)

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
COMPOSE_V1 = "/usr/bin/docker-compose"
TEST_LABEL = {"io.dockyard.test": "1"}


@pytest.fixture(scope="module")
def adopt_api(services_api: LiveApp) -> LiveApp:
    """The services app (adoption routes are part of it)."""
    return services_api


async def node_id(adopt_api: LiveApp) -> int:
    return int((await adopt_api.client.get("/api/v1/nodes")).json()["items"][0]["id"])


async def unmanaged(adopt_api: LiveApp) -> dict[str, Any]:
    response = await adopt_api.client.get(f"/api/v1/nodes/{await node_id(adopt_api)}/unmanaged")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def adopt(adopt_api: LiveApp, body: dict[str, Any]) -> dict[str, Any]:
    response = await adopt_api.client.post("/api/v1/services/adopt", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def compose_v1(project: str, compose_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMPOSE_V1, "-p", project, "-f", str(compose_file), *args],
        cwd=compose_file.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def two_services(port: int) -> str:
    """An httpd publishing one port and a sleeper with a named volume (compose file 2.4)."""
    return f"""
version: "2.4"
services:
  web:
    image: {IMAGE}
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    init: true
    ports: ["127.0.0.1:{port}:80"]
    environment:
      GREETING: hello
    labels:
      io.dockyard.test: "1"
    depends_on: [cache]
  cache:
    image: {IMAGE}
    command: ["sleep", "3600"]
    init: true
    stop_grace_period: 1s
    volumes: ["data:/data"]
    labels:
      io.dockyard.test: "1"
volumes:
  data: {{}}
"""


@pytest.fixture
def compose_project(service_name: str, tmp_path: Path) -> Iterator[tuple[str, Path, int]]:
    """A project started by docker-compose 1.29; `down -v` afterwards (then `service_name`'s
    own cleanup removes whatever carries the project label)."""
    port = free_port()
    compose_file = write(tmp_path / "docker-compose.yml", two_services(port))
    started = compose_v1(service_name, compose_file, "up", "-d")
    assert started.returncode == 0, started.stderr
    yield service_name, compose_file, port
    compose_v1(service_name, compose_file, "down", "-v", "--remove-orphans")


def exec_out(container: Any, *command: str) -> str:
    code, output = container.exec_run(list(command))
    assert code == 0, output
    return str(output.decode()).strip()


async def test_adopt_compose_project_keeps_port_data_and_is_managed(
    adopt_api: LiveApp, compose_project: tuple[str, Path, int], docker_client: Any, tmp_path: Path
) -> None:
    name, compose_file, port = compose_project
    old_cache = docker_client.containers.get(f"{name}_cache_1")
    exec_out(old_cache, "sh", "-c", "echo keep-me > /data/file")
    old_ids = {old_cache.id, docker_client.containers.get(f"{name}_web_1").id}

    listed = {p["name"]: p for p in (await unmanaged(adopt_api))["projects"]}
    assert name in listed
    project = listed[name]
    assert project["services"] == ["cache", "web"]
    assert {c["name"] for c in project["containers"]} == {f"{name}_cache_1", f"{name}_web_1"}
    assert {c["state"] for c in project["containers"]} == {"running"}
    assert project["working_dir"] == str(tmp_path)
    assert project["config_files"] == [str(compose_file)]

    result = await adopt(adopt_api, {"project": name})
    sid = result["id"]
    assert result["name"] == name
    assert result["status"] == "not_deployed"
    definition = result["definition"]
    web, cache = definition["services"]["web"], definition["services"]["cache"]
    assert web["image"] == IMAGE
    assert web["command"] == ["httpd", "-f", "-p", "80", "-h", "/www"]
    assert web["environment"] == {"GREETING": "hello"}  # not the image's PATH
    assert web["ports"] == [{"target": 80, "published": port, "host_ip": "127.0.0.1"}]
    assert web["labels"] == TEST_LABEL
    assert "container_name" not in web  # compose's own names give way to Dockyard's
    assert cache["volumes"] == [{"type": "volume", "source": "data", "target": "/data"}]
    assert cache["stop_grace_period"] == "1s"
    assert cache["init"] is True
    assert definition["volumes"] == {"data": {}}  # `{name}_data`: the very same volume
    assert "networks" not in definition  # `{name}_default` is the implicit default
    assert any("depends_on" in w for w in result["warnings"])
    assert result["job"]["kind"] == "service.deploy"
    assert set(result["job"]["params"]["adopt"]) == {"web", "cache"}

    job = await wait_job(adopt_api, result["job"]["id"])
    assert job["status"] == "succeeded", job
    messages = [line["message"] for line in job["lines"]]
    assert any(m.startswith(f"Recreated {name}-web-1") for m in messages), messages
    service = await wait_status(adopt_api, sid, lambda s: s["status"] == "running")
    assert service["deployed_revision"] == 1
    assert not service["drift"], service["drift_reasons"]
    assert http_get(port).text.strip() == "dockyard-test v1"

    # New containers with Dockyard's labels; the old ones are gone.
    new_cache = docker_client.containers.get(f"{name}-cache-1")
    assert new_cache.labels["io.dockyard.service-id"] == str(sid)
    assert new_cache.id not in old_ids
    for old_id in old_ids:
        with pytest.raises(docker.errors.NotFound):
            docker_client.containers.get(old_id)
    # Same volume, data kept; no second volume was created.
    assert [m["Name"] for m in new_cache.attrs["Mounts"]] == [f"{name}_data"]
    assert exec_out(new_cache, "cat", "/data/file") == "keep-me"
    volumes = docker_client.volumes.list(filters={"label": f"com.docker.compose.project={name}"})
    assert [v.name for v in volumes] == [f"{name}_data"]

    assert (await act(adopt_api, sid, "stop"))["status"] == "succeeded"
    await wait_status(adopt_api, sid, lambda s: s["status"] == "stopped")
    assert (await act(adopt_api, sid, "start"))["status"] == "succeeded"
    await wait_status(adopt_api, sid, lambda s: s["status"] == "running")
    assert http_get(port).status_code == 200

    assert name not in {p["name"] for p in (await unmanaged(adopt_api))["projects"]}
    # docker-compose 1.x still sees the project by its labels, under Dockyard's names.
    ps = compose_v1(name, compose_file, "ps")
    assert ps.returncode == 0, ps.stderr
    assert f"{name}-web-1" in ps.stdout
    assert f"{name}-cache-1" in ps.stdout

    adopted = await audit_rows(adopt_api, action="service.adopted", target_id=str(sid))
    assert len(adopted) == 1
    assert adopted[0].details["source"] == {"project": name}
    assert await audit_rows(adopt_api, action="service.created", target_id=str(sid))


async def test_adopt_loose_container_by_id(
    adopt_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    port = free_port()
    container_name = f"{service_name}-solo"
    volume = f"{service_name}-vol"
    original = docker_client.containers.run(
        IMAGE,
        ["httpd", "-f", "-p", "80", "-h", "/www"],
        name=container_name,
        labels=TEST_LABEL,
        environment={"FOO": "bar"},
        ports={"80/tcp": ("127.0.0.1", port)},
        volumes={volume: {"bind": "/data", "mode": "rw"}},
        restart_policy={"Name": "unless-stopped"},
        init=True,
        detach=True,
    )
    try:
        exec_out(original, "sh", "-c", "echo solo-data > /data/file")
        loose = {c["name"]: c for c in (await unmanaged(adopt_api))["containers"]}
        assert loose[container_name]["id"] == original.id
        assert loose[container_name]["ports"] == [
            {"host_ip": "127.0.0.1", "host_port": port, "container_port": 80, "protocol": "tcp"}
        ]

        result = await adopt(adopt_api, {"container_ids": [original.id[:12]], "name": service_name})
        spec = result["definition"]["services"][container_name]
        assert spec["container_name"] == container_name
        assert spec["environment"] == {"FOO": "bar"}
        assert spec["restart"] == "unless-stopped"
        assert spec["network_mode"] == "bridge"
        assert result["definition"]["volumes"] == {volume: {"external": True}}

        job = await wait_job(adopt_api, result["job"]["id"])
        assert job["status"] == "succeeded", job
        service = await wait_status(adopt_api, result["id"], lambda s: s["status"] == "running")
        assert [c["name"] for c in service["containers"]] == [container_name]
        assert http_get(port).text.strip() == "dockyard-test v1"
        replacement = docker_client.containers.get(container_name)
        assert replacement.id != original.id
        assert replacement.labels["io.dockyard.service-id"] == str(result["id"])
        assert exec_out(replacement, "cat", "/data/file") == "solo-data"
        assert container_name not in {c["name"] for c in (await unmanaged(adopt_api))["containers"]}
        audit = await audit_rows(adopt_api, action="service.adopted", target_id=str(result["id"]))
        assert audit[0].details["source"] == {"containers": [original.id]}
    finally:
        for ref in (container_name, original.id):
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.containers.get(ref).remove(force=True)
        docker_client.volumes.get(volume).remove(force=True)


async def test_unmanaged_skips_one_offs_and_this_installation(
    adopt_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    instance = adopt_api.runtime.instance_id

    def create(name: str, **labels: str) -> Any:
        return docker_client.containers.create(
            IMAGE, ["true"], name=name, labels={**TEST_LABEL, **labels}
        )

    project_labels = {"com.docker.compose.project": service_name}
    created = [
        create(f"{service_name}_app_1", **project_labels, **{"com.docker.compose.service": "app"}),
        create(
            f"{service_name}_app_run_1",
            **project_labels,
            **{"com.docker.compose.service": "app", "com.docker.compose.oneoff": "True"},
        ),
        create(
            f"{service_name}-mine-1",
            **{
                "com.docker.compose.project": f"{service_name}-mine",
                "io.dockyard.instance": instance,
            },
        ),
        create(
            f"{service_name}-other-1",
            **{"com.docker.compose.project": f"{service_name}-other", "io.dockyard.instance": "x"},
        ),
        create(f"{service_name}-loose"),
    ]
    try:
        body = await unmanaged(adopt_api)
        projects = {p["name"]: p for p in body["projects"]}
        assert [c["name"] for c in projects[service_name]["containers"]] == [
            f"{service_name}_app_1"
        ]
        assert projects[service_name]["services"] == ["app"]
        assert projects[service_name]["working_dir"] is None
        assert f"{service_name}-mine" not in projects
        assert f"{service_name}-other" in projects  # another Dockyard's: adoptable
        loose = {c["name"]: c for c in body["containers"]}
        assert loose[f"{service_name}-loose"]["state"] == "created"
        assert loose[f"{service_name}-loose"]["ports"] == []

        assert_error(
            await adopt_api.client.get("/api/v1/nodes/999999/unmanaged"), 404, "node_not_found"
        )
    finally:
        for container in created:
            container.remove(force=True)


async def services_total(adopt_api: LiveApp) -> int:
    return int((await adopt_api.client.get("/api/v1/services")).json()["total"])


async def test_refused_adoptions_create_nothing(
    adopt_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    # A Dockyard service of this installation, deployed.
    managed = f"{service_name}-m"
    response = await adopt_api.client.post(
        "/api/v1/services",
        json={
            "name": managed,
            "definition": {
                "services": {
                    "app": {
                        "image": IMAGE,
                        "command": ["sleep", "3600"],
                        "init": True,
                        "labels": TEST_LABEL,
                    }
                }
            },
        },
    )
    assert response.status_code == 201, response.text
    managed_id = response.json()["id"]
    loose = docker_client.containers.run(
        IMAGE,
        ["sleep", "3600"],
        name=f"{service_name}-loose",
        labels={**TEST_LABEL, "com.docker.compose.project": "Not.A.Name"},
        init=True,
        detach=True,
    )
    try:
        assert (await act(adopt_api, managed_id, "deploy"))["status"] == "succeeded"
        before = await services_total(adopt_api)
        adopted_before = len(await audit_rows(adopt_api, action="service.adopted"))
        adopt_url = "/api/v1/services/adopt"

        error = assert_error(
            await adopt_api.client.post(adopt_url, json={"project": f"{service_name}-nope"}),
            404,
            "project_not_found",
        )
        assert error["details"]["errors"][0]["path"] == "body.project"
        assert_error(await adopt_api.client.post(adopt_url, json={"project": managed}), 409)
        managed_container = docker_client.containers.get(f"{managed}-app-1")
        error = assert_error(
            await adopt_api.client.post(
                adopt_url, json={"container_ids": [managed_container.id], "name": "x"}
            ),
            409,
            "already_managed",
        )
        assert error["details"]["errors"][0]["path"] == "body.container_ids.0"
        error = assert_error(
            await adopt_api.client.post(
                adopt_url, json={"container_ids": ["nope-" + secrets.token_hex(4)], "name": "x"}
            ),
            404,
            "container_not_found",
        )
        assert error["details"]["errors"][0]["path"] == "body.container_ids.0"

        # Invalid names: given, or the project's own when none is given.
        error = assert_error(
            await adopt_api.client.post(
                adopt_url, json={"container_ids": [loose.id], "name": "Bad Name"}
            ),
            422,
            "validation_error",
        )
        assert error["details"]["errors"][0]["path"] == "body.name"
        error = assert_error(
            await adopt_api.client.post(adopt_url, json={"project": "Not.A.Name"}), 422
        )
        assert error["details"]["errors"][0]["path"] == "body.name"
        for bad in (
            {"container_ids": [loose.id]},  # no name
            {"project": "a", "container_ids": [loose.id], "name": "a"},  # both
            {},
        ):
            assert_error(await adopt_api.client.post(adopt_url, json=bad), 422, "validation_error")

        # The name of an existing service: refused after everything was inspected.
        error = assert_error(
            await adopt_api.client.post(
                adopt_url, json={"container_ids": [loose.id], "name": managed}
            ),
            409,
            "service_exists",
        )

        assert await services_total(adopt_api) == before
        assert len(await audit_rows(adopt_api, action="service.adopted")) == adopted_before
        loose.reload()
        assert loose.status == "running"  # untouched
    finally:
        loose.remove(force=True)
        assert (await act(adopt_api, managed_id, "delete"))["status"] == "succeeded"


async def test_failed_adoption_keeps_the_original_and_blocks_a_second_one(
    adopt_api: LiveApp, service_name: str, docker_client: Any
) -> None:
    # A tag that exists only while the container starts: the deploy's pull then fails
    # (fast, from the test registry), before any container is touched.
    registry = os.environ.get("DOCKYARD_TEST_REGISTRY", "127.0.0.1:5000")
    reference = f"{registry}/dockyard-test/adopt-{secrets.token_hex(4)}:1"
    docker_client.images.get(IMAGE).tag(reference)
    original = docker_client.containers.run(
        reference,
        ["sleep", "3600"],
        name=f"{service_name}-fragile",
        labels=TEST_LABEL,
        init=True,
        detach=True,
    )
    try:
        docker_client.images.remove(reference)
        result = await adopt(adopt_api, {"container_ids": [original.id], "name": service_name})
        assert result["definition"]["services"][f"{service_name}-fragile"]["image"] == reference
        job = await wait_job(adopt_api, result["job"]["id"])
        assert job["status"] == "failed", job
        assert "Pulling" in job["error"], job
        original.reload()
        assert original.status == "running"

        error = assert_error(
            await adopt_api.client.post(
                "/api/v1/services/adopt",
                json={"container_ids": [original.id], "name": f"{service_name}-2"},
            ),
            409,
            "adoption_pending",
        )
        assert service_name in error["message"]

        # Deleting the never-deployed service leaves the container alone.
        assert (await act(adopt_api, result["id"], "delete"))["status"] == "succeeded"
        original.reload()
        assert original.status == "running"
        assert original.name == f"{service_name}-fragile"
    finally:
        original.remove(force=True)
