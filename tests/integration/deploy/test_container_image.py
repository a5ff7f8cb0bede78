"""Dockyard as a container: build the image from the Dockerfile, run it next to the socket.

The image is built on the test engine from local base images (no registry can be reached:
scripts/build-base-images.sh debootstraps Debian bookworm and adds the host's Node.js);
`--network host` lets the build's RUN steps reach Debian, PyPI and npm through the host.
Then the container runs as its non-root user with the engine's socket and the socket's
group, an admin logs in through the published port, and a service is deployed, checked on
the engine, deleted; `docker stop` must end it with exit code 0. compose.yaml is run with
docker-compose, and the `migrate`, `worker` and `beat` commands against the test
environment's PostgreSQL and Redis. Everything made is labelled io.dockyard.test=1 and
removed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import remove_compose_project, require_env

REPO = Path(__file__).resolve().parents[3]
IMAGE_TAG = "dockyard-test/dockyard:test"
STAGE_TAGS = {
    "ui": "dockyard-test/dockyard-build:ui",
    "python-build": "dockyard-test/dockyard-build:py",
}
BASE_LABEL = "io.dockyard.base-image=1"  # set by scripts/build-base-images.sh
TEST_LABEL = {"io.dockyard.test": "1"}
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Container-Admin-Pw-4821"
BUILD_TIMEOUT_S = 1500
STOP_GRACE_S = 45
UID = "10001"  # the image's `dockyard` user


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _socket_path(docker_host: str) -> str:
    if not docker_host.startswith("unix://"):
        pytest.fail(f"the container test mounts a local socket; got {docker_host}", pytrace=False)
    return docker_host.removeprefix("unix://")


def _run(cmd: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


@pytest.fixture(scope="session")
def dockyard_image(docker_host: str, docker_client: Any) -> str:
    """Build the image from this working tree (layers cached by the engine between runs).

    The UI and Python build stages are tagged too (STAGE_TAGS), so their last layers stay
    the cache of the next build instead of dangling; superseded builds are pruned.
    """
    started = time.monotonic()
    base = _run(
        ["bash", str(REPO / "scripts/build-base-images.sh")],
        timeout=900,
        env={**os.environ, "DOCKYARD_TEST_DOCKER_HOST": docker_host},
    )
    assert base.returncode == 0, f"build-base-images.sh failed:\n{base.stdout}\n{base.stderr}"
    args = dict(line.split("=", 1) for line in base.stdout.splitlines() if "=" in line)
    build_started = time.monotonic()
    common = [
        "docker",
        "-H",
        docker_host,
        "build",
        "--network",
        "host",
        "--force-rm",
        "--build-arg",
        f"BASE_IMAGE={args['BASE_IMAGE']}",
        "--build-arg",
        f"NODE_IMAGE={args['NODE_IMAGE']}",
        "--label",
        "io.dockyard.test=1",
    ]
    # The engine (20.10) has no BuildKit here; the classic builder handles the file.
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    for target, tag in [*STAGE_TAGS.items(), (None, IMAGE_TAG)]:
        cmd = [*common, *(["--target", target] if target else []), "-t", tag, str(REPO)]
        build = _run(cmd, timeout=BUILD_TIMEOUT_S, env=env)
        assert build.returncode == 0, (
            f"docker build ({target or 'runtime'}) failed:\n{build.stdout[-6000:]}\n{build.stderr}"
        )
    now = time.monotonic()
    print(
        f"\ncontainer image: base images {build_started - started:.0f} s, "
        f"docker build {now - build_started:.0f} s"
    )
    # Earlier builds' images, now untagged (every image built on the local bases has the
    # io.dockyard.base-image label; tagged and in-use images are kept by `prune`).
    _run(
        ["docker", "-H", docker_host, "image", "prune", "-f", "--filter", f"label={BASE_LABEL}"],
        timeout=120,
    )
    return IMAGE_TAG


def test_image_metadata(dockyard_image: str, docker_client: Any) -> None:
    config = docker_client.images.get(dockyard_image).attrs["Config"]
    assert config["User"] == "dockyard"
    assert "/data" in config["Volumes"]
    assert "8700/tcp" in config["ExposedPorts"]
    assert "DOCKYARD_DATA_DIR=/data" in config["Env"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert config["Entrypoint"][0] == "/usr/bin/tini"
    assert config["Cmd"] == ["serve"]


@pytest.fixture
def dockyard_container(
    dockyard_image: str, docker_host: str, docker_client: Any
) -> Iterator[tuple[Any, int]]:
    """The image running as `dockyard` with the engine socket and its group, on 127.0.0.1,
    hardened as compose.yaml runs it (read-only root, no capabilities)."""
    sock = _socket_path(docker_host)
    name = f"dy-image-{secrets.token_hex(4)}"
    volume = docker_client.volumes.create(f"{name}-data", labels=TEST_LABEL)
    port = _free_port()
    container = None
    try:
        container = docker_client.containers.run(
            dockyard_image,
            name=name,
            detach=True,
            labels=TEST_LABEL,
            group_add=[str(os.stat(sock).st_gid)],
            volumes={
                sock: {"bind": "/var/run/docker.sock", "mode": "rw"},
                volume.name: {"bind": "/data", "mode": "rw"},
            },
            ports={"8700/tcp": ("127.0.0.1", port)},
            # The hardening of compose.yaml: it must not stop the server from working.
            read_only=True,
            tmpfs={"/tmp": ""},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            environment={
                "DOCKYARD_ENV": "production",
                "DOCKYARD_SECRET_KEY": secrets.token_urlsafe(48),
                "DOCKYARD_ADMIN_EMAIL": ADMIN_EMAIL,
                "DOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "DOCKYARD_DEFAULT_PUBLISH_IP": "127.0.0.1",
                "DOCKYARD_LOG_LEVEL": "INFO",
            },
        )
        yield container, port
    finally:
        if container is not None:
            try:
                container.remove(force=True, v=True)
            except Exception as exc:  # still remove the volume
                print(f"removing {name}: {exc}")
        volume.remove(force=True)


def _wait_healthy(container: Any, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        container.reload()
        state = container.attrs["State"]
        if state["Health"]["Status"] == "healthy":
            return
        logs = container.logs(tail=40).decode(errors="replace")
        assert state["Status"] == "running", f"the container stopped ({state}):\n{logs}"
        assert time.monotonic() < deadline, f"not healthy after {timeout_s} s ({state}):\n{logs}"
        time.sleep(0.5)


def _wait_job(client: httpx.Client, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.3)


def _exec(container: Any, cmd: list[str]) -> str:
    result = container.exec_run(cmd, user="dockyard")
    output: str = result.output.decode(errors="replace")
    assert result.exit_code == 0, f"{cmd} exited {result.exit_code}: {output}"
    return output


def _service_compose(name: str, port: int, image: str) -> str:
    return f"""
services:
  web:
    image: {image}
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    stop_grace_period: 1s
    labels:
      io.dockyard.test: "1"
    ports:
      - "127.0.0.1:{port}:80"
"""


def test_container_serves_logs_in_and_deploys_a_service(
    dockyard_container: tuple[Any, int], docker_client: Any, docker_host: str
) -> None:
    container, port = dockyard_container
    image = require_env("DOCKYARD_TEST_IMAGE")
    _wait_healthy(container)

    # Not root: the user of every process, and the socket's group was added.
    uid_column = container.top()["Titles"].index("UID")
    users = {row[uid_column] for row in container.top()["Processes"]}
    assert users, container.top()
    assert not users & {"root", "0"}, users
    assert _exec(container, ["id", "-u"]).strip() == UID
    socket_gid = str(os.stat(_socket_path(docker_host)).st_gid)
    assert socket_gid in _exec(container, ["id", "-G"]).split()

    # The CLI works inside the container on the same data volume.
    assert ADMIN_EMAIL in _exec(container, ["dockyard", "user", "list"])

    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text  # database and the mounted socket
    index = httpx.get(f"{base}/", timeout=5)
    assert index.status_code == 200
    assert '<div id="root">' in index.text or "id=root" in index.text, index.text[:300]

    with httpx.Client(base_url=base, timeout=30) as client:
        denied = client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": "wrong-password-1"}
        )
        assert denied.status_code == 401, denied.text
        login = client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

        name = f"t-img-{secrets.token_hex(3)}"
        service_port = _free_port()
        try:
            created = client.post(
                "/api/v1/services",
                json={"name": name, "compose": _service_compose(name, service_port, image)},
            )
            assert created.status_code == 201, created.text
            sid = created.json()["id"]
            deploy = client.post(f"/api/v1/services/{sid}/deploy")
            assert deploy.status_code == 202, deploy.text
            job = _wait_job(client, deploy.json()["job"]["id"])
            assert job["status"] == "succeeded", job

            # On the engine, made by the Dockyard inside the container.
            web = docker_client.containers.get(f"{name}-web-1")
            assert web.status == "running"
            assert web.labels["com.docker.compose.project"] == name
            assert web.labels["io.dockyard.service-id"] == str(sid)
            binding = web.attrs["HostConfig"]["PortBindings"]["80/tcp"][0]
            assert binding == {"HostIp": "127.0.0.1", "HostPort": str(service_port)}
            served = httpx.get(f"http://127.0.0.1:{service_port}/", timeout=5)
            assert served.text.strip() == "dockyard-test v1"

            delete = client.post(f"/api/v1/services/{sid}/delete", json={})
            assert delete.status_code == 202, delete.text
            job = _wait_job(client, delete.json()["job"]["id"])
            assert job["status"] == "succeeded", job
            assert client.get(f"/api/v1/services/{sid}").status_code == 404
            assert not docker_client.containers.list(
                all=True, filters={"label": f"com.docker.compose.project={name}"}
            )
        finally:
            remove_compose_project(docker_client, name)

    # Graceful stop: SIGTERM (through tini) ends the server with exit code 0 in the grace.
    started = time.monotonic()
    container.stop(timeout=STOP_GRACE_S)
    took = time.monotonic() - started
    container.reload()
    state = container.attrs["State"]
    logs = container.logs(tail=30).decode(errors="replace")
    assert state["ExitCode"] == 0, f"exit code {state['ExitCode']} after {took:.1f} s:\n{logs}"
    assert took < STOP_GRACE_S, f"took {took:.1f} s to stop:\n{logs}"
    assert not state["OOMKilled"]


# ---------------------------------------------------------------- compose.yaml

COMPOSE_OVERRIDE = """
services:
  dockyard:
    labels:
      io.dockyard.test: "1"
volumes:
  dockyard-data:
    labels:
      io.dockyard.test: "1"
"""


def test_compose_yaml_runs_the_image(
    dockyard_image: str, docker_host: str, docker_client: Any, tmp_path: Path
) -> None:
    """`docker-compose up` of the repository's compose.yaml, as documented (test labels added)."""
    compose = Path("/usr/bin/docker-compose")
    if not compose.is_file():
        pytest.fail("docker-compose is missing: run `scripts/test-env.sh up`", pytrace=False)
    override = tmp_path / "compose.test.yaml"
    override.write_text(COMPOSE_OVERRIDE)
    project = f"dyimg{secrets.token_hex(4)}"
    port = _free_port()
    base_cmd = [
        str(compose),
        "--project-directory",
        str(REPO),
        "-p",
        project,
        "-f",
        str(REPO / "compose.yaml"),
        "-f",
        str(override),
    ]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")},
        "DOCKER_HOST": docker_host,
        "DOCKYARD_IMAGE": dockyard_image,
        "DOCKER_GID": str(os.stat(_socket_path(docker_host)).st_gid),
        "DOCKYARD_SECRET_KEY": secrets.token_urlsafe(48),
        "DOCKYARD_PUBLISH_PORT": str(port),
        "DOCKYARD_ADMIN_EMAIL": ADMIN_EMAIL,
        "DOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    label = {"label": f"com.docker.compose.project={project}"}
    try:
        up = _run([*base_cmd, "up", "-d", "--no-build"], timeout=180, env=env, cwd=REPO)
        assert up.returncode == 0, up.stderr
        (container,) = docker_client.containers.list(all=True, filters=label)
        assert container.labels["io.dockyard.test"] == "1"
        binding = container.attrs["HostConfig"]["PortBindings"]["8700/tcp"][0]
        assert binding == {"HostIp": "127.0.0.1", "HostPort": str(port)}
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
        _wait_healthy(container)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            login = client.post(
                "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            assert client.get("/api/v1/services").status_code == 200
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text

        stop = _run([*base_cmd, "stop"], timeout=STOP_GRACE_S + 30, env=env, cwd=REPO)
        assert stop.returncode == 0, stop.stderr
        container.reload()
        logs = container.logs(tail=30).decode(errors="replace")
        assert container.attrs["State"]["ExitCode"] == 0, logs
    finally:
        _run([*base_cmd, "down", "-v", "--remove-orphans"], timeout=120, env=env, cwd=REPO)
        for leftover in docker_client.containers.list(all=True, filters=label):
            leftover.remove(force=True, v=True)
        for volume in docker_client.volumes.list(filters=label):
            volume.remove(force=True)


# ---------------------------------------------------------------- worker and beat


def _run_container(docker_client: Any, image: str, command: str, **kwargs: Any) -> Any:
    return docker_client.containers.run(
        image,
        command=[command],
        name=f"dy-image-{command}-{secrets.token_hex(3)}",
        detach=True,
        labels=TEST_LABEL,
        network_mode="host",  # PostgreSQL and Redis of the test environment on loopback
        read_only=True,
        tmpfs={"/tmp": ""},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        **kwargs,
    )


def _wait_log(container: Any, text: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in container.logs().decode(errors="replace"):
        container.reload()
        logs = container.logs(tail=30).decode(errors="replace")
        assert container.status == "running", f"{container.name} stopped:\n{logs}"
        assert time.monotonic() < deadline, f"no {text!r} after {timeout_s} s:\n{logs}"
        time.sleep(0.5)


async def test_migrate_worker_and_beat_commands(
    dockyard_image: str, docker_host: str, docker_client: Any, database_factory: Any
) -> None:
    """`migrate`, `worker` and `beat` as container commands (compose.scale.yaml's services)."""
    import asyncio

    database_url = await database_factory.new_empty_postgres()
    environment = {
        "DOCKYARD_ENV": "production",
        "DOCKYARD_SECRET_KEY": secrets.token_urlsafe(48),
        "DOCKYARD_DATABASE_URL": database_url,
        "DOCKYARD_REDIS_URL": require_env("DOCKYARD_TEST_REDIS_URL"),
    }
    sock = _socket_path(docker_host)
    socket_access = {
        "group_add": [str(os.stat(sock).st_gid)],
        "volumes": {sock: {"bind": "/var/run/docker.sock", "mode": "rw"}},
    }

    def scenario() -> None:
        made: list[Any] = []
        try:
            migrate = _run_container(
                docker_client, dockyard_image, "migrate", environment=environment
            )
            made.append(migrate)
            result = migrate.wait(timeout=180)
            logs = migrate.logs().decode(errors="replace")
            assert result["StatusCode"] == 0, logs
            assert "database is up to date" in logs

            for command in ("worker", "beat"):
                container = _run_container(
                    docker_client,
                    dockyard_image,
                    command,
                    environment=environment,
                    **socket_access,
                )
                made.append(container)
            worker, beat = made[1], made[2]
            _wait_log(worker, "dockyard worker ")
            _wait_log(worker, " ready.")  # Celery's consumer is up
            _wait_log(beat, "dockyard beat ")
            for container in (worker, beat):
                _wait_healthy(container, timeout_s=60)  # the image's check passes for them
                container.stop(timeout=STOP_GRACE_S)
                container.reload()
                logs = container.logs(tail=20).decode(errors="replace")
                assert container.attrs["State"]["ExitCode"] == 0, f"{container.name}:\n{logs}"
        finally:
            for container in made:
                with contextlib.suppress(Exception):
                    container.remove(force=True, v=True)

    await asyncio.to_thread(scenario)
