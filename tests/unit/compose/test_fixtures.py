"""Each fixture loads, and its canonical form says what the compose file meant."""

from __future__ import annotations

import pytest

from dockyard.services.compose import (
    ComposeError,
    DependencySpec,
    MountSpec,
    PortSpec,
    load_definition,
)
from tests.unit.compose.fixture_files import FIXTURE_NAMES, fixture_text, load_fixture


def test_there_are_a_dozen_fixtures() -> None:
    assert len(FIXTURE_NAMES) >= 12


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_loads(name: str) -> None:
    assert load_fixture(name).services


def test_web_db() -> None:
    defn = load_fixture("web-db")
    web, db = defn.services["web"], defn.services["db"]
    assert web.depends_on == {"db": DependencySpec(condition="service_healthy")}
    assert web.environment == {
        "DATABASE_URL": "postgresql://shop:shop@db:5432/shop",
        "WORKERS": "4",
        "DEBUG": "false",
    }
    assert web.healthcheck is not None
    assert web.healthcheck.start_period == "1m"
    assert db.healthcheck is not None
    assert db.healthcheck.test == ["CMD-SHELL", "pg_isready -U shop -d shop"]
    assert db.stop_grace_period == "1m30s"
    assert db.shm_size == 256 * 1024 * 1024
    assert db.volumes == [
        MountSpec(type="volume", source="db-data", target="/var/lib/postgresql/data")
    ]


def test_anchors() -> None:
    defn = load_fixture("anchors")
    api, worker = defn.services["api"], defn.services["worker"]
    assert api.restart == worker.restart == "always"
    assert api.logging == worker.logging
    assert api.logging is not None
    assert api.logging.options == {"max-size": "10m", "max-file": "3"}
    assert api.labels == {"com.example.team": "platform"}
    assert worker.labels == {"com.example.team": "data", "com.example.role": "worker"}
    assert worker.command == ["worker", "--queue", "default", "--concurrency", "2"]
    assert api.expose == ["9000/tcp"]


def test_interpolation() -> None:
    defn = load_fixture("interpolation")
    app = defn.services["app"]
    assert app.image == "nginx:1.25-alpine"
    assert app.ports == [PortSpec(target=80, published=8081, host_ip="127.0.0.1")]
    assert app.environment == {
        "SITE_NAME": "Dockyard Demo",
        "GREETING": "Hello, Dockyard Demo",
        "PRICE": "costs $5",
        "OPTIONAL": "",
        "MODE": "production",
        "PASSED_THROUGH": "from .env",
    }
    assert app.labels == {"com.example.version": "1.2.3"}


def test_interpolation_needs_its_required_variable() -> None:
    text, _ = fixture_text("interpolation")
    with pytest.raises(ComposeError) as caught:
        load_definition(text, env_text="HTTP_PORT=1")
    assert [(i.path, i.message) for i in caught.value.issues] == [
        (
            "services.app.environment.SITE_NAME",
            "required variable SITE_NAME is missing a value: set SITE_NAME in .env",
        )
    ]


def test_port_ranges() -> None:
    ports = load_fixture("port-ranges").services["media"].ports
    assert len(ports) == 10
    assert PortSpec(target=5002, published=5002, host_ip="127.0.0.1") in ports
    assert PortSpec(target=6000, host_ip="127.0.0.1") in ports
    assert PortSpec(target=7000, published=7000, host_ip="::1", protocol="udp") in ports
    assert PortSpec(target=9100, published=19100, protocol="udp") in ports
    assert PortSpec(target=9200, published=19200, host_ip="127.0.0.1") in ports


def test_volumes_long() -> None:
    defn = load_fixture("volumes-long")
    mounts = defn.services["files"].volumes
    assert [m.type for m in mounts] == [
        "bind",
        "bind",
        "volume",
        "tmpfs",
        "volume",
        "volume",
        "bind",
    ]
    assert mounts[0].bind is None
    assert mounts[1].bind is not None
    assert mounts[1].bind.propagation == "rslave"
    assert mounts[3].tmpfs is not None
    assert mounts[3].tmpfs.size == 64 * 1024 * 1024
    assert mounts[4].source is None
    assert defn.volumes["uploads"].external is True
    assert defn.volumes["cache"].driver_opts["o"] == "size=100m"


def test_gpu() -> None:
    defn = load_fixture("gpu")
    trainer = defn.services["trainer"]
    assert trainer.deploy is not None
    assert trainer.deploy.resources is not None
    assert trainer.deploy.resources.reservations is not None
    (request,) = trainer.deploy.resources.reservations.devices
    assert (request.capabilities, request.count, request.driver) == (["gpu"], "all", None)
    assert trainer.shm_size == 8 * 1024**3


def test_logging_limits() -> None:
    search = load_fixture("logging-limits").services["search"]
    assert search.ulimits["memlock"].soft == -1
    assert search.ulimits["nproc"].hard == 4096
    assert search.tmpfs == ["/tmp:size=64m,mode=1777", "/run"]
    assert search.sysctls == {"net.core.somaxconn": "1024"}
    assert search.environment["discovery.type"] == "single-node"
    assert search.memswap_limit == -1


def test_deploy_resources() -> None:
    api = load_fixture("deploy-resources").services["api"]
    assert (api.cpus, api.mem_limit, api.pids_limit) == (1.5, 768 * 1024**2, 200)
    assert api.mem_reservation == 256 * 1024**2
    assert api.restart == "on-failure:5"
    assert api.deploy is not None
    assert api.deploy.resources is not None
    assert api.deploy.resources.reservations is not None
    assert api.deploy.resources.reservations.cpus == 0.25


def test_networks() -> None:
    defn = load_fixture("networks")
    assert defn.services["app"].networks["frontend"].aliases == ["app.internal", "api"]
    assert defn.services["app"].networks["backend"].ipv4_address == "172.28.5.10"
    assert defn.networks["backend"].internal is True
    assert defn.networks["edge"].name == "traefik-public"


def test_hardened() -> None:
    static = load_fixture("hardened").services["static"]
    assert static.read_only is True
    assert static.cap_drop == ["ALL"]
    assert static.healthcheck is not None
    assert static.healthcheck.test == ["NONE"]
    assert static.pull_policy == "always"
    assert static.init is True


def test_monitoring() -> None:
    defn = load_fixture("monitoring")
    exporter = defn.services["node-exporter"]
    assert exporter.command is not None
    assert (
        exporter.command[1] == "--collector.filesystem.mount-points-exclude=^/(sys|proc|dev)($|/)"
    )
    assert defn.services["prometheus"].extra_hosts == [
        "host.docker.internal:host-gateway",
        "metrics.example.com:10.0.0.5",
    ]
    assert defn.services["grafana"].extra_hosts == ["prometheus.local:127.0.0.1"]


def test_wordpress() -> None:
    defn = load_fixture("wordpress")
    wordpress = defn.services["wordpress"]
    assert wordpress.container_name == "blog-wordpress"
    assert wordpress.labels["traefik.http.routers.blog.rule"] == "Host(`blog.example.com`)"
    assert defn.services["db"].entrypoint == ["docker-entrypoint.sh"]
