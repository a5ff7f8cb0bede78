"""Containers created from `container_create_args` on the real engine, inspected field by field.

Everything created is labelled `io.dockyard.test=1`, publishes on 127.0.0.1 only, and is
removed at the end of the test, whatever happens.
"""

from __future__ import annotations

import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dockyard.services.compose import (
    ComposeDefinition,
    ContainerCreateArgs,
    NetworkSpec,
    config_hash,
    container_create_args,
    network_create_args,
    network_name,
    parse_definition,
    service_networks,
    volume_create_args,
)
from tests.unit.compose.fixture_files import load_fixture

TEST_LABELS = {"io.dockyard.test": "1"}
MIB = 1024 * 1024


@dataclass
class Project:
    """A compose project on the engine: creates its resources and removes them afterwards."""

    api: Any
    name: str
    defn: ComposeDefinition
    project_dir: str
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def create_resources(self) -> None:
        """The project's volumes and the networks its services use, as the lead's deploy would."""
        for key, spec in self.defn.volumes.items():
            kwargs = volume_create_args(self.name, key, spec)
            if kwargs is not None:
                kwargs["labels"] = {**kwargs["labels"], **TEST_LABELS}
                self.volumes.append(self.api.create_volume(**kwargs)["Name"])
        used = {key for spec in self.defn.services.values() for key in service_networks(spec)}
        for key in sorted(used):
            spec = self.defn.networks.get(key, NetworkSpec())
            kwargs = network_create_args(self.name, key, spec)
            if kwargs is not None:
                kwargs["labels"] = {**kwargs["labels"], **TEST_LABELS}
                self.api.create_network(**kwargs)
                self.networks.append(kwargs["name"])

    def args(self, service: str) -> ContainerCreateArgs:
        return container_create_args(
            self.name,
            service,
            self.defn.services[service],
            defn=self.defn,
            default_publish_ip="127.0.0.1",
            extra_labels=TEST_LABELS,
            project_dir=self.project_dir,
        )

    def create(self, args: ContainerCreateArgs, *, raw_config: bool = False) -> str:
        if raw_config:
            created = self.api.create_container_from_config(args.container_config(), args.name)
        else:
            created = self.api.create_container(**args.create_container_kwargs())
        container_id: str = created["Id"]
        self.containers.append(container_id)
        for attachment in args.additional_networks:
            self.api.connect_container_to_network(
                container_id,
                attachment.network,
                aliases=attachment.aliases,
                ipv4_address=attachment.ipv4_address,
                ipv6_address=attachment.ipv6_address,
            )
        return container_id

    def inspect(self, container_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self.api.inspect_container(container_id)
        return info

    def execute(self, container_id: str, command: list[str]) -> str:
        exec_id = self.api.exec_create(container_id, command)["Id"]
        output: bytes = self.api.exec_start(exec_id)
        return output.decode()

    def remove_all(self) -> None:
        for container_id in reversed(self.containers):
            self.api.remove_container(container_id, force=True, v=True)
        for name in self.networks:
            self.api.remove_network(name)
        for name in self.volumes:
            self.api.remove_volume(name, force=True)


@pytest.fixture
def make_project(
    engine_api: Any, busybox_image: str, tmp_path: Path
) -> Iterator[Callable[[str], Project]]:
    created: list[Project] = []

    def make(fixture: str) -> Project:
        data = load_fixture(fixture).to_json()
        for service in data["services"].values():
            service["image"] = busybox_image
        project = Project(
            api=engine_api,
            name=f"dyct-{secrets.token_hex(3)}",
            defn=parse_definition(data),
            project_dir=str(tmp_path),
        )
        created.append(project)
        project.create_resources()
        return project

    yield make
    for project in created:
        project.remove_all()


def wait_for(predicate: Callable[[], bool], *, timeout: float = 20.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a local URL
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def test_the_engine_accepts_every_field_of_a_web_container(
    make_project: Callable[[str], Project],
) -> None:
    project = make_project("busybox-web")
    args = project.args("web")
    container_id = project.create(args)
    project.api.start(container_id)
    info = project.inspect(container_id)
    config, host = info["Config"], info["HostConfig"]

    assert info["Name"] == f"/{project.name}-web-1"
    assert config["Cmd"] == ["httpd", "-f", "-p", "8080", "-h", "/www"]
    assert config["WorkingDir"] == "/www"
    assert config["User"] == "0:0"
    assert config["Hostname"] == "web-1"
    assert config["StopSignal"] == "SIGTERM"
    assert config["StopTimeout"] == 3
    assert {"GREETING=hello", "EMPTY=", "NUMBER=42"} <= set(config["Env"])
    assert config["Labels"] == {
        **config["Labels"],
        "com.example.role": "frontend",
        "com.docker.compose.project": project.name,
        "com.docker.compose.service": "web",
        "com.docker.compose.container-number": "1",
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.config-hash": config_hash(project.defn.services["web"], project.defn),
        "io.dockyard.test": "1",
    }
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"],
        "Interval": 1_000_000_000,
        "Timeout": 2_000_000_000,
        "StartPeriod": 500_000_000,
        "Retries": 2,
    }
    assert set(config["ExposedPorts"]) == {"8080/tcp", "8081/udp"}
    assert "/anonymous" in config["Volumes"]

    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["NanoCpus"] == 500_000_000
    assert host["CpuShares"] == 512
    assert host["Memory"] == 64 * MIB
    assert host["MemoryReservation"] == 32 * MIB
    assert host["MemorySwap"] == 128 * MIB
    assert host["PidsLimit"] == 50
    assert host["ShmSize"] == 8 * MIB
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert host["CapDrop"] == ["ALL"]
    assert host["CapAdd"] == ["NET_BIND_SERVICE"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["ReadonlyRootfs"] is True
    assert host["Init"] is True
    assert host["ExtraHosts"] == ["db.local:10.1.2.3"]
    assert host["DnsSearch"] == ["example.internal"]
    assert host["Sysctls"] == {"net.ipv4.ip_unprivileged_port_start": "0"}
    assert host["Tmpfs"] == {"/run": "size=8m"}
    assert host["NetworkMode"] == network_name(project.name, "default")

    mounts = {mount["Destination"]: mount for mount in info["Mounts"]}
    assert mounts["/www"]["Type"] == "volume"
    assert mounts["/www"]["Name"] == f"{project.name}_content"
    assert mounts["/www"]["RW"] is False
    assert mounts["/scratch"]["Type"] == "tmpfs"
    assert mounts["/anonymous"]["Type"] == "volume"
    tmpfs = next(m for m in host["Mounts"] if m["Target"] == "/scratch")
    assert tmpfs["TmpfsOptions"] == {"SizeBytes": 16 * MIB}

    wait_for(lambda: project.inspect(container_id)["State"]["Running"], what="the container")
    ports = project.inspect(container_id)["NetworkSettings"]["Ports"]
    for port in ("8080/tcp", "8081/udp"):
        (binding,) = ports[port]
        assert binding["HostIp"] == "127.0.0.1"
        assert binding["HostPort"].isdigit()
    url = f"http://127.0.0.1:{ports['8080/tcp'][0]['HostPort']}/"
    wait_for(lambda: http_status(url) == 200, what=f"httpd at {url}")
    wait_for(
        lambda: project.inspect(container_id)["State"]["Health"]["Status"] == "healthy",
        what="the healthcheck to pass",
    )
    endpoint = project.inspect(container_id)["NetworkSettings"]["Networks"][
        network_name(project.name, "default")
    ]
    assert "web" in endpoint["Aliases"]

    probe = project.execute(
        container_id,
        [
            "sh",
            "-c",
            "echo $GREETING; ulimit -Sn; ulimit -Hn; hostname; touch /probe 2>&1 || echo ro",
        ],
    )
    assert probe.splitlines()[:4] == ["hello", "1024", "2048", "web-1"]
    assert "Read-only file system" in probe


def test_networks_aliases_binds_and_deploy_limits_on_the_engine(
    make_project: Callable[[str], Project],
) -> None:
    project = make_project("busybox-pair")
    cache_id = project.create(project.args("cache"), raw_config=True)
    worker_args = project.args("worker")
    assert [a.network for a in worker_args.additional_networks] == [f"{project.name}_frontend"]
    worker_id = project.create(worker_args, raw_config=True)
    project.api.start(cache_id)
    project.api.start(worker_id)

    cache = project.inspect(cache_id)
    assert cache["HostConfig"]["NanoCpus"] == 250_000_000
    assert cache["HostConfig"]["Memory"] == 32 * MIB
    assert cache["HostConfig"]["PidsLimit"] == 20
    assert cache["HostConfig"]["RestartPolicy"]["Name"] == "always"
    assert cache["Config"]["Cmd"] == ["sleep", "300"]

    worker = project.inspect(worker_id)
    assert worker["Config"]["Entrypoint"] == ["sh", "-c"]
    assert worker["Config"]["Cmd"] == ["sleep 300"]
    assert "ROLE=worker" in worker["Config"]["Env"]
    assert worker["Config"]["StopTimeout"] == 1
    networks = worker["NetworkSettings"]["Networks"]
    backend, frontend = f"{project.name}_backend", f"{project.name}_frontend"
    assert set(networks) == {backend, frontend}
    assert {"worker", "jobs"} <= set(networks[backend]["Aliases"])
    assert "worker" in networks[frontend]["Aliases"]
    assert project.api.inspect_network(backend)["Internal"] is True
    assert project.api.inspect_network(frontend)["Labels"]["com.example.tier"] == "front"
    assert (
        project.api.inspect_network(frontend)["Labels"]["com.docker.compose.network"] == "frontend"
    )
    assert (
        project.api.inspect_volume(f"{project.name}_shared")["Labels"]["com.example.kind"]
        == "scratch"
    )

    mounts = {mount["Destination"]: mount for mount in worker["Mounts"]}
    assert mounts["/data"]["Type"] == "bind"
    assert mounts["/data"]["Source"] == f"{project.project_dir}/data"
    assert Path(project.project_dir, "data").is_dir()
    assert mounts["/shared"]["Name"] == f"{project.name}_shared"

    wait_for(lambda: project.inspect(worker_id)["State"]["Running"], what="the worker")
    wait_for(lambda: project.inspect(cache_id)["State"]["Running"], what="the cache")
    # The alias resolves on the shared network: the cache reaches the worker as `jobs`.
    reply = project.execute(cache_id, ["ping", "-c", "1", "-W", "2", "jobs"])
    assert "1 packets received" in reply
