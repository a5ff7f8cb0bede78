"""Container create arguments, resource names and the config hash."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from dockyard.services.compose import (
    ComposeDefinition,
    ComposeError,
    ContainerCreateArgs,
    config_hash,
    container_create_args,
    network_create_args,
    network_name,
    parse_definition,
    volume_create_args,
    volume_name,
)
from tests.unit.compose.fixture_files import load_fixture


def args_for(defn: ComposeDefinition, service: str, **kwargs: Any) -> ContainerCreateArgs:
    kwargs.setdefault("default_publish_ip", "127.0.0.1")
    kwargs.setdefault("extra_labels", {})
    return container_create_args("proj", service, defn.services[service], defn=defn, **kwargs)


def test_resource_names_follow_compose() -> None:
    defn = load_fixture("networks")
    assert network_name("proj", "default") == "proj_default"
    assert network_name("proj", "frontend", defn.networks["frontend"]) == "proj_frontend"
    assert network_name("proj", "edge", defn.networks["edge"]) == "traefik-public"
    volumes = load_fixture("volumes-long").volumes
    assert volume_name("proj", "cache", volumes["cache"]) == "proj_cache"
    assert volume_name("proj", "uploads", volumes["uploads"]) == "shared-uploads"
    external = parse_definition(
        {"services": {"a": {"image": "x"}}, "volumes": {"v": {"external": True}}}
    )
    assert volume_name("proj", "v", external.volumes["v"]) == "v"


def test_container_names_use_compose_v2_separators() -> None:
    defn = load_fixture("web-db")
    assert args_for(defn, "web").name == "proj-web-1"
    assert args_for(defn, "db", container_number=3).name == "proj-db-3"
    assert args_for(load_fixture("wordpress"), "wordpress").name == "blog-wordpress"


def test_labels_are_compose_labels_plus_extra_labels_which_win() -> None:
    defn = parse_definition(
        {
            "services": {
                "web": {
                    "image": "busybox",
                    "labels": {
                        "a": "1",
                        "com.docker.compose.project": "spoofed",
                        "io.dockyard.x": "u",
                    },
                }
            }
        }
    )
    args = args_for(
        defn, "web", container_number=2, extra_labels={"io.dockyard.x": "d"}, project_dir="/srv/p"
    )
    assert args.labels == {
        "a": "1",
        "com.docker.compose.project": "proj",
        "com.docker.compose.service": "web",
        "com.docker.compose.container-number": "2",
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.config-hash": config_hash(defn.services["web"], defn),
        "com.docker.compose.project.working_dir": "/srv/p",
        "io.dockyard.x": "d",
    }


def test_the_busybox_web_fixture_translates_field_by_field() -> None:
    defn = load_fixture("busybox-web")
    args = args_for(defn, "web")
    assert args.image == "dockyard-test/busybox:1"
    assert args.command == ["httpd", "-f", "-p", "8080", "-h", "/www"]
    assert args.entrypoint is None
    assert args.environment == ["GREETING=hello", "EMPTY=", "NUMBER=42"]
    assert args.working_dir == "/www"
    assert args.user == "0:0"
    assert args.hostname == "web-1"
    assert args.stop_signal == "SIGTERM"
    assert args.stop_timeout == 3
    assert args.ports == [(8080, "tcp"), (8081, "udp")]
    assert args.volumes == ["/anonymous"]
    assert args.healthcheck == {
        "Test": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"],
        "Interval": 1_000_000_000,
        "Timeout": 2_000_000_000,
        "StartPeriod": 500_000_000,
        "Retries": 2,
    }
    host = args.host_config
    assert host["PortBindings"] == {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
        "8081/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
    }
    assert host["Mounts"] == [
        {"Type": "volume", "Target": "/www", "ReadOnly": True, "Source": "proj_content"},
        {
            "Type": "tmpfs",
            "Target": "/scratch",
            "ReadOnly": False,
            "TmpfsOptions": {"SizeBytes": 16 * 1024 * 1024},
        },
    ]
    assert "Binds" not in host
    assert host["Tmpfs"] == {"/run": "size=8m"}
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["NanoCpus"] == 500_000_000
    assert host["CpuShares"] == 512
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["MemoryReservation"] == 32 * 1024 * 1024
    assert host["MemorySwap"] == 128 * 1024 * 1024
    assert host["PidsLimit"] == 50
    assert host["ShmSize"] == 8 * 1024 * 1024
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
    assert host["NetworkMode"] == "proj_default"
    assert args.networking_config == {"EndpointsConfig": {"proj_default": {"Aliases": ["web"]}}}
    assert args.additional_networks == []


def test_ports_with_their_own_host_address_keep_it() -> None:
    args = args_for(load_fixture("port-ranges"), "media", default_publish_ip="10.9.9.9")
    bindings = args.host_config["PortBindings"]
    assert bindings["80/tcp"] == [{"HostIp": "10.9.9.9", "HostPort": ""}]
    assert bindings["443/tcp"] == [{"HostIp": "10.9.9.9", "HostPort": "8443"}]
    assert bindings["5001/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "5001"}]
    assert bindings["7000/udp"] == [{"HostIp": "::1", "HostPort": "7000"}]
    assert bindings["9100/udp"] == [{"HostIp": "10.9.9.9", "HostPort": "19100"}]


def test_networks_the_first_by_name_is_primary_and_the_rest_are_connected_after() -> None:
    defn = load_fixture("networks")
    app = args_for(defn, "app")
    assert app.host_config["NetworkMode"] == "proj_backend"
    assert app.networking_config == {
        "EndpointsConfig": {
            "proj_backend": {"Aliases": ["app"], "IPAMConfig": {"IPv4Address": "172.28.5.10"}}
        }
    }
    (frontend,) = app.additional_networks
    assert frontend.network == "proj_frontend"
    assert frontend.aliases == ["app", "app.internal", "api"]
    assert frontend.endpoint_config() == {"Aliases": ["app", "app.internal", "api"]}
    proxy = args_for(defn, "proxy")
    assert proxy.host_config["NetworkMode"] == "traefik-public"


def test_network_mode_replaces_networking() -> None:
    args = args_for(load_fixture("monitoring"), "node-exporter")
    assert args.host_config["NetworkMode"] == "host"
    assert args.host_config["PidMode"] == "host"
    assert args.networking_config is None
    assert args.host_config["Binds"] == ["/:/host:ro,rslave"]


def test_mounts_binds_and_relative_paths() -> None:
    defn = load_fixture("volumes-long")
    host = args_for(defn, "files", project_dir="/srv/files").host_config
    assert host["Binds"] == [
        "/srv/shared:/shared:rw,rslave",
        "/srv/files/logs:/var/log/app:rw",
    ]
    assert host["Mounts"] == [
        {"Type": "bind", "Source": "/srv/files/config", "Target": "/etc/app", "ReadOnly": True},
        {
            "Type": "volume",
            "Target": "/var/cache/app",
            "ReadOnly": False,
            "Source": "proj_cache",
            "VolumeOptions": {"NoCopy": True},
        },
        {
            "Type": "tmpfs",
            "Target": "/run/app",
            "ReadOnly": False,
            "TmpfsOptions": {"SizeBytes": 67108864},
        },
        {"Type": "volume", "Target": "/uploads", "ReadOnly": False, "Source": "shared-uploads"},
    ]


def test_a_relative_bind_needs_a_project_directory() -> None:
    with pytest.raises(ComposeError) as caught:
        args_for(load_fixture("volumes-long"), "files")
    assert caught.value.issues[0].path == "services.files.volumes.0.source"
    assert "needs a project directory" in caught.value.issues[0].message


def test_gpu_requests() -> None:
    defn = load_fixture("gpu")
    assert args_for(defn, "trainer").host_config["DeviceRequests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert args_for(defn, "trainer").host_config["IpcMode"] == "host"
    assert args_for(defn, "inference").host_config["DeviceRequests"] == [
        {
            "Driver": "nvidia",
            "Count": 0,
            "DeviceIDs": ["0", "1"],
            "Capabilities": [["gpu", "utility"]],
            "Options": {},
        },
        {
            "Driver": "nvidia",
            "Count": 1,
            "DeviceIDs": None,
            "Capabilities": [["gpu"]],
            "Options": {"virtualization": "false"},
        },
    ]


def test_deploy_resources_become_container_resources() -> None:
    host = args_for(load_fixture("deploy-resources"), "api").host_config
    assert host["NanoCpus"] == 1_500_000_000
    assert host["Memory"] == 768 * 1024 * 1024
    assert host["MemoryReservation"] == 256 * 1024 * 1024
    assert host["PidsLimit"] == 200
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 5}


def test_create_kwargs_and_raw_config() -> None:
    args = args_for(load_fixture("busybox-web"), "web")
    kwargs = args.create_container_kwargs()
    assert kwargs["use_config_proxy"] is False
    assert kwargs["detach"] is True
    assert kwargs["name"] == "proj-web-1"
    assert "platform" not in kwargs
    config = args.container_config()
    assert config["ExposedPorts"] == {"8080/tcp": {}, "8081/udp": {}}
    assert config["Volumes"] == {"/anonymous": {}}
    assert config["Env"] == args.environment
    assert "MacAddress" not in config
    assert (
        args_for(load_fixture("wordpress"), "wordpress").create_container_kwargs()["platform"]
        == "linux/amd64"
    )


def test_environment_without_a_value_is_left_out() -> None:
    defn = parse_definition({"services": {"web": {"image": "x", "environment": ["A", "B=1"]}}})
    assert args_for(defn, "web").environment == ["B=1"]


def test_network_and_volume_create_args() -> None:
    networks = load_fixture("networks").networks
    assert network_create_args("proj", "edge", networks["edge"]) is None
    backend = network_create_args("proj", "backend", networks["backend"])
    assert backend is not None
    assert backend["name"] == "proj_backend"
    assert backend["internal"] is True
    assert backend["labels"] == {
        "com.docker.compose.project": "proj",
        "com.docker.compose.network": "backend",
    }
    assert backend["ipam"] == {
        "Driver": "default",
        "Config": [{"Subnet": "172.28.0.0/16", "Gateway": "172.28.0.1"}],
        "Options": None,
    }
    volumes = load_fixture("volumes-long").volumes
    assert volume_create_args("proj", "uploads", volumes["uploads"]) is None
    assert volume_create_args("proj", "cache", volumes["cache"]) == {
        "name": "proj_cache",
        "driver": "local",
        "driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=100m"},
        "labels": {
            "com.example.purpose": "cache",
            "com.docker.compose.project": "proj",
            "com.docker.compose.volume": "cache",
        },
    }


# ---------------------------------------------------------------- config hash


def _hash_of(raw: dict[str, Any], service: str = "web") -> str:
    defn = parse_definition(raw)
    return config_hash(defn.services[service], defn)


BASE: dict[str, Any] = {
    "services": {
        "web": {"image": "busybox:1", "volumes": ["data:/data"], "depends_on": ["db"]},
        "db": {"image": "postgres:16"},
    },
    "volumes": {"data": {}},
}


def _changed(path: list[str], value: object) -> dict[str, Any]:
    import copy

    raw = copy.deepcopy(BASE)
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return raw


def test_the_config_hash_is_stable_and_order_independent() -> None:
    one = _hash_of(BASE)
    reordered = {
        "volumes": {"data": {}},
        "services": {
            "db": {"image": "postgres:16"},
            "web": {
                "depends_on": ["db"],
                "volumes": [{"type": "volume", "source": "data", "target": "/data"}],
                "image": "busybox:1",
            },
        },
    }
    assert _hash_of(reordered) == one
    assert len(one) == 64


@pytest.mark.parametrize(
    ("path", "value", "changes"),
    [
        (["services", "web", "image"], "busybox:2", True),
        (["services", "web", "environment"], {"A": "1"}, True),
        (["volumes", "data"], {"name": "other"}, True),
        (["services", "db", "image"], "postgres:17", False),
        (["services", "web", "depends_on"], {"db": {"condition": "service_healthy"}}, False),
        (["services", "web", "pull_policy"], "always", False),
        (["services", "web", "restart"], "no", False),
    ],
)
def test_the_config_hash_follows_what_shapes_the_container(
    path: list[str], value: object, changes: bool
) -> None:
    assert (_hash_of(_changed(path, value)) != _hash_of(BASE)) is changes


def test_the_config_hash_is_the_same_in_another_process() -> None:
    code = (
        "from dockyard.services.compose import config_hash, parse_definition\n"
        f"d = parse_definition({BASE!r})\n"
        "print(config_hash(d.services['web'], d))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    assert result.stdout.strip() == _hash_of(BASE)
