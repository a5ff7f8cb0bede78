"""The `dockyard service` CLI against a real server process and the real engine."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, clean_environ, dockyard_executable
from tests.integration.services.conftest import free_port, http_get

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dockyard serve` as a separate process, as a user would run it."""
    port = free_port()
    data = tmp_path_factory.mktemp("cli-server")
    env = clean_environ(
        DOCKYARD_DATA_DIR=str(data),
        DOCKYARD_ADMIN_EMAIL=ADMIN_EMAIL,
        DOCKYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        DOCKYARD_DEFAULT_PUBLISH_IP="127.0.0.1",
        DOCKYARD_DOCKER_HOST=os.environ.get(
            "DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"
        ),
    )
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        [dockyard_executable(), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"server did not start: {(data / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=30)


def cli(
    config_dir: Path, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [dockyard_executable(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean_environ(DOCKYARD_CONFIG_DIR=str(config_dir)),
        timeout=180,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def test_login_create_deploy_logs_export_stop_delete(
    server: str, tmp_path: Path, service_name: str, docker_client: Any
) -> None:
    config = tmp_path / "config"
    wrong = cli(
        config,
        "login",
        "--server",
        server,
        "--email",
        ADMIN_EMAIL,
        "--password-stdin",
        stdin="not-the-password\n",
        check=False,
    )
    assert wrong.returncode == 1
    assert "incorrect" in wrong.stderr
    cli(
        config,
        "login",
        "--server",
        server,
        "--email",
        ADMIN_EMAIL,
        "--password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    credentials = config / "credentials.json"
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"

    port = free_port()
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "services:\n  web:\n"
        f"    image: {IMAGE}\n"
        "    command: [sh, -c, 'echo serving; exec httpd -f -p 80 -h /www']\n"
        "    stop_grace_period: 1s\n"
        '    ports:\n      - "${PORT}:80"\n'
    )
    env_file = tmp_path / ".env"
    env_file.write_text(f"PORT={port}\n")
    created = cli(
        config,
        "service",
        "create",
        service_name,
        "--compose",
        str(compose),
        "--env",
        str(env_file),
        "--deploy",
    )
    assert f"created service {service_name}" in created.stdout
    assert "deploy" in created.stdout
    assert "succeeded" in created.stdout
    assert http_get(port).text.strip() == "dockyard-test v1"

    listing = cli(config, "service", "list").stdout
    row = next(line for line in listing.splitlines() if service_name in line)
    assert "running" in row
    assert f"{port}->80" in row

    logs = cli(config, "service", "logs", service_name, "--tail", "10").stdout
    assert f"{service_name}-web-1 | serving" in logs

    exported = tmp_path / "exported.yaml"
    cli(config, "service", "export", service_name, "-o", str(exported))
    accepted = subprocess.run(
        ["docker-compose", "-f", str(exported), "config"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
    )
    assert accepted.returncode == 0, accepted.stderr
    assert f"{port}" in accepted.stdout

    stopped = cli(config, "service", "stop", service_name)
    assert "succeeded" in stopped.stdout
    assert docker_client.containers.get(f"{service_name}-web-1").status == "exited"

    missing = cli(config, "service", "stop", "no-such-service", check=False)
    assert missing.returncode == 1
    assert "No service named no-such-service" in missing.stderr

    cli(config, "service", "delete", service_name, "--yes")
    assert not docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={service_name}"}
    )
    cli(config, "logout")
    assert not credentials.exists()
