"""compose.yaml and compose.scale.yaml: well-formed, consistent with the image and settings.

Parsed as YAML here, and validated by Debian's docker-compose (`config -q`), which the test
environment installs (scripts/test-env.sh): a missing docker-compose fails, not skips.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dockyard.settings import Settings

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "compose.yaml"
SCALE = REPO / "compose.scale.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKER_COMPOSE = Path("/usr/bin/docker-compose")
DOCKYARD_IMAGE = "${DOCKYARD_IMAGE:-dockyard:latest}"
INTERPOLATION = re.compile(r"^\$\{[A-Z0-9_]+(:[-?][^}]*)?\}$")
SECRETISH = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$")
# Values docker-compose needs to interpolate the files (fake, for validation only).
COMPOSE_ENV = {
    "DOCKER_GID": "999",
    "DOCKYARD_SECRET_KEY": "unit-test-not-a-real-key-" + "x" * 24,
    "POSTGRES_PASSWORD": "unit-test-not-a-real-password",
}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def dockyard_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in doc["services"].items() if s.get("image") == DOCKYARD_IMAGE}


def dockerfile_arg_defaults() -> dict[str, str]:
    args = {}
    for line in DOCKERFILE.read_text().splitlines():
        match = re.match(r"^ARG ([A-Z_]+)(?:=(\S+))?$", line.strip())
        if match:
            args[match.group(1)] = match.group(2) or ""
    return args


def env_of(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment must be a mapping"
    return env


@pytest.mark.parametrize("path", [COMPOSE, SCALE], ids=["compose", "scale"])
def test_parses_and_has_no_literal_secrets(path: Path) -> None:
    doc = load(path)
    assert "version" not in doc  # the Compose Specification, no legacy version key
    for name, service in doc["services"].items():
        for key, value in env_of(service).items():
            if value is None or not SECRETISH.search(key):
                continue
            assert INTERPOLATION.match(str(value)), f"{name}: {key} has a literal value"
        for key, value in env_of(service).items():
            if key.endswith("DATABASE_URL") and value:
                password = re.match(r"^[a-z+]+://[^:]+:([^@]*)@", str(value))
                assert password, f"{name}: {key} has no password part"
                assert INTERPOLATION.match(password.group(1)), f"{name}: literal DB password"


@pytest.mark.parametrize("path", [COMPOSE, SCALE], ids=["compose", "scale"])
def test_published_ports_default_to_loopback(path: Path) -> None:
    published = 0
    for name, service in load(path)["services"].items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: use the string form with a host IP"
            assert port.startswith(("127.0.0.1:", "${DOCKYARD_BIND:-127.0.0.1}:")), (name, port)
            published += 1
    assert published


@pytest.mark.parametrize("path", [COMPOSE, SCALE], ids=["compose", "scale"])
def test_dockyard_services_match_the_image_and_settings(path: Path) -> None:
    doc = load(path)
    services = dockyard_services(doc)
    assert services
    args = dockerfile_arg_defaults()
    fields = set(Settings.model_fields)
    grace = Settings().shutdown_grace_s
    for name, service in services.items():
        build = service.get("build")
        if build is not None:
            assert build["context"] == "."
            for arg, value in build["args"].items():
                assert arg in args, f"{name}: build arg {arg} is not an ARG of the Dockerfile"
                # ${NAME:-default}: the default is the Dockerfile's
                assert value == f"${{{arg}:-{args[arg]}}}", (name, arg, value)
        for key in env_of(service):
            assert key.startswith("DOCKYARD_"), (name, key)
            field = key.removeprefix("DOCKYARD_").lower()
            assert field in fields, f"{name}: {key} is not a Dockyard setting"
        if service.get("command", ["serve"]) != ["migrate"]:
            # The socket through its group, never as root or privileged.
            assert "/var/run/docker.sock:/var/run/docker.sock" in service["volumes"]
            assert service["group_add"]
            assert "${DOCKER_GID" in service["group_add"][0]
            seconds = int(service["stop_grace_period"].removesuffix("s"))
            assert seconds > grace, f"{name}: stop_grace_period must exceed the shutdown grace"
        assert "user" not in service
        assert not service.get("privileged")
        assert service.get("read_only") is True
        assert service.get("cap_drop") == ["ALL"]
        assert "no-new-privileges:true" in service.get("security_opt", [])
        assert any(str(v).endswith(":/data") for v in service.get("volumes", []))


def test_single_node_compose() -> None:
    doc = load(COMPOSE)
    assert set(doc["services"]) == {"dockyard"}
    service = doc["services"]["dockyard"]
    assert service["ports"] == ["${DOCKYARD_BIND:-127.0.0.1}:${DOCKYARD_PUBLISH_PORT:-8700}:8700"]
    assert env_of(service)["DOCKYARD_ENV"] == "production"
    assert "dockyard-data" in doc["volumes"]


def test_socket_proxy_variant_is_valid_yaml() -> None:
    """The commented socket-proxy block parses once uncommented (it is documentation)."""
    text = COMPOSE.read_text()
    block = text.split("# BEGIN socket-proxy\n", 1)[1].split("# END socket-proxy", 1)[0]
    uncommented = "\n".join(line.removeprefix("#") for line in block.splitlines())
    doc = yaml.safe_load("services:\n" + uncommented)
    proxy = doc["services"]["socket-proxy"]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in proxy["volumes"]
    assert proxy["environment"]["SWARM"] == 0
    assert proxy["environment"]["CONTAINERS"] == 1
    assert doc["networks"]["docker-api"]["internal"] is True
    assert "DOCKYARD_DOCKER_HOST: tcp://socket-proxy:2375" in text


def test_scale_out_compose() -> None:
    doc = load(SCALE)
    services = doc["services"]
    assert {
        "postgres",
        "redis",
        "migrate",
        "server-1",
        "server-2",
        "worker",
        "beat",
        "nginx",
    } <= set(services)
    procs = dockyard_services(doc)
    assert set(procs) == {"migrate", "server-1", "server-2", "worker", "beat"}
    # One database, one Redis, one secret key for every process.
    for key in ("DOCKYARD_SECRET_KEY", "DOCKYARD_DATABASE_URL", "DOCKYARD_REDIS_URL"):
        values = {str(env_of(s).get(key)) for s in procs.values()}
        assert len(values) == 1, (key, values)
        assert "None" not in values, key
    assert env_of(procs["server-1"])["DOCKYARD_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env_of(procs["server-1"])["DOCKYARD_REDIS_URL"] == "redis://redis:6379/0"
    # Each replica is reachable by the others at its own URL.
    for name in ("server-1", "server-2"):
        assert procs[name]["command"] == ["serve"]
        assert env_of(procs[name])["DOCKYARD_REPLICA_URL"] == f"http://{name}:8700"
        assert "ports" not in procs[name]  # only through nginx
    assert procs["worker"]["command"] == ["worker"]
    assert procs["beat"]["command"] == ["beat"]
    assert env_of(procs["server-1"])["DOCKYARD_RUN_SCHEDULER"] == "false"
    # Migrations run once, before the others start.
    assert procs["migrate"]["command"] == ["migrate"]
    for name in ("server-1", "server-2", "worker", "beat"):
        condition = procs[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
    # nginx: the shared config file, at the address the replicas trust.
    nginx = services["nginx"]
    assert "./deploy/nginx/dockyard.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert (REPO / "deploy/nginx/dockyard.conf").is_file()
    proxy_ip = nginx["networks"]["front"]["ipv4_address"]
    trusted = env_of(procs["server-1"])["DOCKYARD_TRUSTED_PROXIES"]
    assert trusted == f'["{proxy_ip}"]'
    # The databases are on an internal network only.
    assert doc["networks"]["back"]["internal"] is True
    assert services["postgres"]["networks"] == ["back"]
    assert services["redis"]["networks"] == ["back"]


def docker_compose() -> str:
    if not DOCKER_COMPOSE.is_file():
        pytest.fail(
            f"{DOCKER_COMPOSE} is missing: run `scripts/test-env.sh up` (installs docker-compose)",
            pytrace=False,
        )
    return str(DOCKER_COMPOSE)


def compose_config(
    path: Path, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "DOCKER_"))}
    return subprocess.run(
        [docker_compose(), "--project-directory", str(REPO), "-f", str(path), "config", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, **env},
        cwd=REPO,
    )


@pytest.mark.parametrize("path", [COMPOSE, SCALE], ids=["compose", "scale"])
def test_docker_compose_validates(path: Path) -> None:
    result = compose_config(path, COMPOSE_ENV, "-q")
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(compose_config(path, COMPOSE_ENV).stdout)
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port}"
            assert text.startswith("127.0.0.1:"), (name, port)


def test_docker_compose_refuses_missing_required_values() -> None:
    """Without the socket group (and, scaled out, the shared key) compose stops with a hint."""
    result = compose_config(COMPOSE, {}, "-q")
    assert result.returncode != 0
    assert "DOCKER_GID" in result.stderr
    result = compose_config(COMPOSE, {"DOCKER_GID": "999"}, "-q")
    assert result.returncode != 0
    assert "DOCKYARD_SECRET_KEY" in result.stderr
    partial = {k: v for k, v in COMPOSE_ENV.items() if k != "DOCKYARD_SECRET_KEY"}
    result = compose_config(SCALE, partial, "-q")
    assert result.returncode != 0
    assert "DOCKYARD_SECRET_KEY" in result.stderr
