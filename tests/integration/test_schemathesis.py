"""Schemathesis against `/api/openapi.json` of a running `dockyard serve`, as the admin.

Every operation gets a bounded, deterministic set of generated requests (`MAX_EXAMPLES`,
Hypothesis `derandomize`); each response must not be a 5xx and must match the schema
(documented status: body schema and content type).

Excluded operations (`EXCLUDED`), each with its reason:
- the admin's own session and credentials (logout, password, MFA, session revocation,
  `PATCH /users/{id}`): generated calls would sign the test's admin out or disable it,
  and every later request would only test the 401;
- calls that reach outside loopback (image pull, registry connection tests): no network
  in the test environment, and each would wait for a timeout;
- calls that change the shared test engine (image/volume/network removal, cleanup and its
  policy, writes into containers' files): they could delete what other tests need.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from dockyard.app import create_app
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    clean_environ,
    dockyard_executable,
    make_settings,
)

MAX_EXAMPLES = 10
ARTIFACTS = Path(
    os.environ.get(
        "DOCKYARD_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"
    )
)
FILES = "/api/v1/nodes/{node_id}/containers/{container_id}/files"
EXCLUDED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/logout"): "signs the test admin out",
    ("POST", "/api/v1/auth/password"): "changes the test admin's password",
    ("POST", "/api/v1/auth/mfa/enroll"): "would leave the test admin mid-enrollment",
    ("POST", "/api/v1/auth/mfa/confirm"): "changes the test admin's MFA",
    ("POST", "/api/v1/auth/mfa/disable"): "changes the test admin's MFA",
    ("POST", "/api/v1/auth/sessions/revoke-others"): "revokes the test admin's sessions",
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): "could revoke the test session",
    ("PATCH", "/api/v1/users/{user_id}"): "could disable or demote the test admin",
    ("POST", "/api/v1/nodes/{node_id}/images/pull"): "pulls from the internet",
    ("POST", "/api/v1/registries/test"): "connects to arbitrary registries",
    ("POST", "/api/v1/registries/{registry_id}/test"): "connects to arbitrary registries",
    ("POST", "/api/v1/mcp-servers/{server_id}/check"): "connects to arbitrary MCP server URLs",
    ("POST", "/api/v1/hosts/{host_id}/ssh-hostkey/scan"): "connects to the hosts' addresses",
    ("POST", "/api/v1/hosts/{host_id}/ssh-hostkey/trust"): "connects to the hosts' addresses",
    ("POST", "/api/v1/nodes/{node_id}/cleanup"): "prunes the shared test engine",
    ("PUT", "/api/v1/nodes/{node_id}/cleanup-policy"): "schedules pruning of the test engine",
    ("DELETE", "/api/v1/nodes/{node_id}/images/{image_ref}"): "removes test images",
    ("DELETE", "/api/v1/nodes/{node_id}/volumes/{name}"): "removes volumes of the engine",
    ("DELETE", "/api/v1/nodes/{node_id}/networks/{network_ref}"): "removes engine networks",
    ("PUT", FILES + "/content"): "writes into shared containers",
    ("POST", FILES + "/upload"): "writes into shared containers",
    ("POST", FILES + "/mkdir"): "writes into shared containers",
    ("POST", FILES + "/rename"): "changes shared containers",
    ("DELETE", FILES): "deletes in shared containers",
}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _spec() -> dict[str, Any]:
    """The OpenAPI document, built in-process (no server needed to collect the tests)."""
    app = create_app(make_settings(Path("/nonexistent-schemathesis")), configure_logs=False)
    document: dict[str, Any] = app.openapi()
    return document


SCHEMA = schemathesis.openapi.from_dict(_spec())
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in SCHEMA.raw_schema["paths"].items()
    for method in item
    if method in ("get", "put", "post", "patch", "delete")
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EngineObjects:
    """What exists on the test engine now, to remove afterwards what generated calls made
    (containers of deployed services, networks and volumes created through the API)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.containers = {c["Id"] for c in client.api.containers(all=True)}
        self.networks = {n["Id"] for n in client.api.networks()}
        self.volumes = {v["Name"] for v in client.api.volumes()["Volumes"] or []}

    def remove_new(self) -> None:
        api = self.client.api
        for container in api.containers(all=True):
            if container["Id"] not in self.containers:
                api.remove_container(container["Id"], force=True)
        for network in api.networks():
            if network["Id"] not in self.networks:
                api.remove_network(network["Id"])
        for volume in api.volumes()["Volumes"] or []:
            if volume["Name"] not in self.volumes:
                api.remove_volume(volume["Name"], force=True)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any
) -> Iterator[tuple[str, dict[str, str]]]:
    """A real `dockyard serve` and the admin's bearer header."""
    existing = EngineObjects(docker_client)
    data = tmp_path_factory.mktemp("schemathesis")
    port = free_port()
    env = clean_environ(
        DOCKYARD_DATA_DIR=str(data),
        DOCKYARD_ADMIN_EMAIL=ADMIN_EMAIL,
        DOCKYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        DOCKYARD_DEFAULT_PUBLISH_IP="127.0.0.1",
        DOCKYARD_LOGIN_RATE_PER_MINUTE="100000",
        DOCKYARD_API_RATE_PER_MINUTE="1000000",
        DOCKYARD_ENGINE_TIMEOUT_S="10",
        DOCKYARD_LOG_LEVEL="WARNING",
        DOCKYARD_DOCKER_HOST=os.environ.get(
            "DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"
        ),
    )
    log_path = data / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [dockyard_executable(), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        login = httpx.post(
            f"{url}/api/v1/auth/login",
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            timeout=60,  # Argon2 on a busy machine
        )
        assert login.status_code == 200, login.text
        # The served document is the one the tests were generated from.
        served = httpx.get(f"{url}/api/openapi.json", timeout=60).json()
        assert SCHEMA.raw_schema["paths"].keys() <= served["paths"].keys()
        yield url, {"Authorization": f"Bearer {login.json()['access_token']}"}
    finally:
        process.terminate()
        process.wait(timeout=30)
        existing.remove_new()
        # Kept for reading the server's side of a failure (request ids match).
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_path, ARTIFACTS / "schemathesis-server.log")


@pytest.mark.parametrize(
    ("method", "path"),
    [pytest.param(m, p, id=f"{m} {p}") for m, p in OPERATIONS if (m, p) not in EXCLUDED],
)
def test_operation_conforms(method: str, path: str, server: tuple[str, dict[str, str]]) -> None:
    base_url, auth = server
    operation = SCHEMA[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=auth, timeout=30)
        case.validate_response(response, checks=CHECKS)

    run()


def test_exclusions_name_real_operations() -> None:
    missing = [key for key in EXCLUDED if key not in OPERATIONS]
    assert not missing, f"excluded operations that no longer exist: {missing}"
