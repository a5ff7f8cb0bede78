"""`definition_from_inspect` on crafted `docker inspect` output, and the adopt request."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from dockyard.kit.errors import ValidationFailedError
from dockyard.services.adoption import (
    AdoptRequest,
    definition_from_inspect,
    draft_from_inspect,
    parse_depends_on,
    sanitize_key,
)
from dockyard.services.compose import parse_definition

IMAGE_ID = "sha256:" + "ab" * 32
IMAGE: dict[str, Any] = {
    "Id": IMAGE_ID,
    "RepoTags": ["example/app:1"],
    "Config": {
        "Cmd": ["serve"],
        "Entrypoint": ["/entry.sh"],
        "Env": ["PATH=/usr/bin:/bin", "MODE=prod"],
        "WorkingDir": "/app",
        "User": "app",
        "Labels": {"org.opencontainers.image.version": "1"},
        "ExposedPorts": {"8080/tcp": {}},
        "Healthcheck": {"Test": ["CMD", "check"], "Interval": 30_000_000_000},
        "StopSignal": "SIGTERM",
    },
}
IMAGES = {IMAGE_ID: IMAGE, "example/app:1": IMAGE}


def container(
    name: str,
    *,
    service: str | None = None,
    project: str | None = "shop",
    config: dict[str, Any] | None = None,
    host: dict[str, Any] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    networks: dict[str, Any] | None = None,
    number: int = 1,
    running: bool = True,
) -> dict[str, Any]:
    """An inspect that only inherits the image's defaults, plus the given overrides."""
    cid = (name.encode().hex() * 8)[:64]
    labels: dict[str, str] = {"org.opencontainers.image.version": "1"}
    if project is not None:
        labels |= {
            "com.docker.compose.project": project,
            "com.docker.compose.service": service or name,
            "com.docker.compose.container-number": str(number),
            "com.docker.compose.oneoff": "False",
            "com.docker.compose.config-hash": "0" * 64,
        }
    base_config = copy.deepcopy(IMAGE["Config"])
    base_config |= {"Image": "example/app:1", "Hostname": cid[:12], "Labels": labels}
    base_config["Labels"] = {**labels, **((config or {}).pop("Labels", {}))}
    base_config |= config or {}
    network_mode = f"{project}_default" if project else "default"
    return {
        "Id": cid,
        "Name": f"/{name}",
        "Image": IMAGE_ID,
        "State": {"Status": "running" if running else "exited", "Running": running},
        "Config": base_config,
        "HostConfig": {
            "NetworkMode": network_mode,
            "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
            "LogConfig": {"Type": "json-file", "Config": {}},
            "ShmSize": 64 * 1024 * 1024,
            "IpcMode": "private",
            "Runtime": "runc",
            "MemorySwappiness": None,
            **(host or {}),
        },
        "Mounts": mounts or [],
        "NetworkSettings": {
            "Networks": networks
            if networks is not None
            else {network_mode if project else "bridge": {"Aliases": [cid[:12], service or name]}}
        },
    }


def build(inspects: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    options.setdefault("project", "shop")
    options.setdefault("images", IMAGES)
    definition = definition_from_inspect(inspects, **options)
    parse_definition(definition)  # must be a valid, deployable definition
    return definition


def test_image_defaults_are_left_out() -> None:
    definition = build([container("shop_web_1", service="web")])
    assert definition == {"services": {"web": {"image": "example/app:1"}}}


def test_overrides_are_kept_and_environment_loses_the_image_env() -> None:
    web = container(
        "shop_web_1",
        service="web",
        config={
            "Cmd": ["serve", "--verbose"],
            "Env": ["PATH=/usr/bin:/bin", "MODE=dev", "TOKEN=x=y"],
            "WorkingDir": "/srv",
            "User": "root",
            "Hostname": "web.local",
            "Labels": {"team": "a", "io.dockyard.service-id": "9"},
            "StopSignal": "SIGINT",
            "StopTimeout": 3,
            "Tty": True,
        },
    )
    spec = build([web])["services"]["web"]
    assert spec["command"] == ["serve", "--verbose"]
    assert "entrypoint" not in spec
    assert spec["environment"] == {"MODE": "dev", "TOKEN": "x=y"}
    assert spec["working_dir"] == "/srv"
    assert spec["user"] == "root"
    assert spec["hostname"] == "web.local"
    assert spec["labels"] == {"team": "a"}  # no compose, Dockyard or image labels
    assert spec["stop_signal"] == "SIGINT"
    assert spec["stop_grace_period"] == "3s"
    assert spec["tty"] is True


def test_a_new_entrypoint_carries_the_command() -> None:
    web = container("shop_web_1", service="web", config={"Entrypoint": ["/other.sh"]})
    spec = build([web])["services"]["web"]
    # Docker drops the image's command when the entrypoint changes, so it is spelled out.
    assert spec["entrypoint"] == ["/other.sh"]
    assert spec["command"] == ["serve"]


def test_ports_and_expose() -> None:
    web = container(
        "shop_web_1",
        service="web",
        config={"ExposedPorts": {"8080/tcp": {}, "80/tcp": {}, "53/udp": {}, "9000/tcp": {}}},
        host={
            "PortBindings": {
                "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8081"}],
                "53/udp": [
                    {"HostIp": "", "HostPort": "5353"},
                    {"HostIp": "::", "HostPort": "5353"},
                ],
                "8080/tcp": [{"HostIp": "", "HostPort": ""}],
            }
        },
    )
    spec = build([web])["services"]["web"]
    assert spec["ports"] == [
        {"target": 53, "published": 5353, "host_ip": "0.0.0.0", "protocol": "udp"},
        {"target": 80, "published": 8081, "host_ip": "127.0.0.1"},
        {"target": 8080, "host_ip": "0.0.0.0"},
    ]
    assert spec["expose"] == ["9000/tcp"]  # 8080 is the image's, the rest are published


def test_publish_all_ports() -> None:
    web = container("shop_web_1", service="web", host={"PublishAllPorts": True})
    assert build([web])["services"]["web"]["ports"] == [{"target": 8080, "host_ip": "0.0.0.0"}]


def test_mounts_keep_the_same_volumes() -> None:
    mounts = [
        {"Type": "volume", "Name": "shop_data", "Destination": "/data", "RW": True, "Mode": "z"},
        {"Type": "volume", "Name": "shared", "Destination": "/shared", "RW": False, "Mode": "ro"},
        {"Type": "volume", "Name": "f" * 64, "Destination": "/cache", "RW": True, "Mode": ""},
        {
            "Type": "bind",
            "Source": "/srv/conf",
            "Destination": "/conf",
            "RW": False,
            "Mode": "ro,Z",
            "Propagation": "rprivate",
        },
        {
            "Type": "bind",
            "Source": "/run/x",
            "Destination": "/x",
            "RW": True,
            "Propagation": "rslave",
        },
        {"Type": "tmpfs", "Destination": "/scratch", "RW": True},
    ]
    web = container(
        "shop_web_1",
        service="web",
        mounts=mounts,
        host={
            "Binds": ["shop_data:/data:rw", "/srv/conf:/conf:ro,Z"],
            "Mounts": [
                {"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1024}}
            ],
            "Tmpfs": {"/run": "size=1m", "/tmp": ""},
        },
    )
    volumes = {
        "shop_data": {
            "Name": "shop_data",
            "Driver": "local",
            "Labels": {"com.docker.compose.project": "shop", "com.docker.compose.volume": "data"},
        },
        "shared": {"Name": "shared", "Driver": "local", "Labels": None},
    }
    draft = draft_from_inspect([web], project="shop", images=IMAGES, volumes=volumes)
    definition = draft.definition
    parse_definition(definition)
    assert definition["services"]["web"]["volumes"] == [
        {"type": "volume", "target": "/cache", "source": "anon-ffffffffffff"},
        {
            "type": "bind",
            "target": "/conf",
            "read_only": True,
            "source": "/srv/conf",
            "bind": {"create_host_path": True, "selinux": "Z"},
        },
        {"type": "volume", "target": "/data", "source": "data"},
        {"type": "tmpfs", "target": "/scratch", "tmpfs": {"size": 1024}},
        {"type": "volume", "target": "/shared", "read_only": True, "source": "shared"},
        {"type": "bind", "target": "/x", "source": "/run/x", "bind": {"propagation": "rslave"}},
    ]
    assert definition["services"]["web"]["tmpfs"] == ["/run:size=1m", "/tmp"]
    assert definition["volumes"] == {
        "anon-ffffffffffff": {"external": True, "name": "f" * 64},
        "data": {},  # `volume_name("shop", "data")` is `shop_data`: the same volume
        "shared": {"external": True},
    }
    assert any("anonymous volume at /cache" in w for w in draft.warnings)


def test_a_renamed_project_names_its_volumes_and_networks() -> None:
    web = container(
        "shop_web_1",
        service="web",
        mounts=[{"Type": "volume", "Name": "shop_data", "Destination": "/data", "RW": True}],
    )
    draft = draft_from_inspect([web], project="shop", name="store", images=IMAGES)
    parse_definition(draft.definition)
    assert draft.definition["volumes"] == {"data": {"name": "shop_data"}}
    assert draft.definition["networks"] == {"default": {"name": "shop_default"}}
    assert any("move from compose project `shop` to `store`" in w for w in draft.warnings)


def test_networks() -> None:
    web = container(
        "shop_web_1",
        service="web",
        networks={
            "shop_default": {"Aliases": ["web", "shop_web_1"]},
            "shop_back": {"Aliases": ["web", "api"], "IPAMConfig": {"IPv4Address": "10.5.0.9"}},
            "proxy": {"Aliases": None},
        },
    )
    networks = {
        "shop_back": {
            "Name": "shop_back",
            "Driver": "bridge",
            "Internal": True,
            "Attachable": True,
            "Labels": {"com.docker.compose.project": "shop", "com.docker.compose.network": "back"},
        },
        "proxy": {"Name": "proxy", "Driver": "bridge", "Labels": {}},
    }
    definition = build([web], networks=networks)
    assert definition["services"]["web"]["networks"] == {
        "back": {"aliases": ["api"], "ipv4_address": "10.5.0.9"},
        "default": {},
        "proxy": {},
    }
    assert definition["networks"] == {"back": {"internal": True}, "proxy": {"external": True}}


def test_network_modes() -> None:
    solo = container("solo", project=None)
    assert build([solo], project=None)["services"]["solo"]["network_mode"] == "bridge"
    hosted = container("hosted", project=None, host={"NetworkMode": "host"}, networks={"host": {}})
    assert build([hosted], project=None)["services"]["hosted"]["network_mode"] == "host"
    shared = container("shared", project=None, host={"NetworkMode": "container:abc"}, networks={})
    draft = draft_from_inspect([shared], images=IMAGES)
    assert "network_mode" not in draft.definition["services"]["shared"]
    assert any("shares another container's network" in w for w in draft.warnings)


def test_healthcheck_durations_from_nanoseconds() -> None:
    web = container(
        "shop_web_1",
        service="web",
        config={
            "Healthcheck": {
                "Test": ["CMD-SHELL", "curl -f localhost"],
                "Interval": 90_000_000_000,
                "Timeout": 500_000_000,
                "StartPeriod": 0,
                "Retries": 3,
            }
        },
    )
    assert build([web])["services"]["web"]["healthcheck"] == {
        "test": ["CMD-SHELL", "curl -f localhost"],
        "interval": "1m30s",
        "timeout": "500ms",
        "retries": 3,
    }
    disabled = container("shop_db_1", service="db", config={"Healthcheck": {"Test": ["NONE"]}})
    assert build([disabled])["services"]["db"]["healthcheck"] == {"test": ["NONE"]}


def test_depends_on_from_the_compose_v2_label() -> None:
    assert parse_depends_on("db:service_healthy:false,cache:service_started:true,") == {
        "db": {"condition": "service_healthy"},
        "cache": {"restart": True},
    }
    assert parse_depends_on("db") == {"db": {}}
    web = container(
        "shop-web-1",
        service="web",
        config={
            "Labels": {
                "com.docker.compose.depends_on": (
                    "db:service_healthy:false,migrate:service_completed_successfully:false,"
                    "gone:service_started:false"
                )
            }
        },
    )
    db = container("shop-db-1", service="db")
    migrate = container("shop-migrate-1", service="migrate", running=False)
    draft = draft_from_inspect([web, db, migrate], project="shop", images=IMAGES)
    parse_definition(draft.definition)
    assert draft.definition["services"]["web"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert any("`gone`, which is not adopted" in w for w in draft.warnings)
    assert any("shop-migrate-1 is exited; the deploy starts it" in w for w in draft.warnings)


def test_resources_and_host_options() -> None:
    web = container(
        "shop_web_1",
        service="web",
        host={
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
            "NanoCpus": 1_500_000_000,
            "Memory": 256 * 1024 * 1024,
            "MemorySwap": 512 * 1024 * 1024,  # Docker's default: twice the memory
            "PidsLimit": 100,
            "CapAdd": ["CAP_NET_ADMIN"],
            "CapDrop": ["ALL"],
            "Privileged": True,
            "ReadonlyRootfs": True,
            "SecurityOpt": ["no-new-privileges:true"],
            "ExtraHosts": ["db.local:10.0.0.2"],
            "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
            "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse"}],
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
            "Init": True,
            "ShmSize": 128 * 1024 * 1024,
        },
    )
    spec = build([web])["services"]["web"]
    assert spec["restart"] == "on-failure:3"
    assert spec["cpus"] == 1.5
    assert spec["mem_limit"] == 256 * 1024 * 1024
    assert "memswap_limit" not in spec
    assert spec["pids_limit"] == 100
    assert spec["cap_add"] == ["CAP_NET_ADMIN"]
    assert spec["cap_drop"] == ["ALL"]
    assert spec["privileged"] is True
    assert spec["read_only"] is True
    assert spec["security_opt"] == ["no-new-privileges:true"]
    assert spec["extra_hosts"] == ["db.local:10.0.0.2"]
    assert spec["ulimits"] == {"nofile": {"soft": 1024, "hard": 2048}}
    assert spec["devices"] == ["/dev/fuse:/dev/fuse:rwm"]
    assert spec["logging"] == {"driver": "json-file", "options": {"max-size": "10m"}}
    assert spec["init"] is True
    assert spec["shm_size"] == 128 * 1024 * 1024

    unlimited = container("shop_db_1", service="db", host={"Memory": 2**27, "MemorySwap": -1})
    assert build([unlimited])["services"]["db"]["memswap_limit"] == -1
    journald = container("shop_q_1", service="q", host={"LogConfig": {"Type": "journald"}})
    assert "logging" not in build([journald], default_log_driver="journald")["services"]["q"]


def test_what_cannot_be_adopted_becomes_warnings() -> None:
    web = container(
        "shop_web_1",
        service="web",
        host={
            "AutoRemove": True,
            "Links": ["/db:/web/db"],
            "CpuQuota": 50000,
            "PidMode": "container:abc",
            "Runtime": "nvidia",
        },
    )
    draft = draft_from_inspect([web], project="shop", images=IMAGES)
    parse_definition(draft.definition)
    text = "\n".join(draft.warnings)
    for expected in ("(`--rm`)", "links", "a CPU quota", "pid mode", "runtime `nvidia`"):
        assert expected in text


def test_loose_containers_keep_their_names() -> None:
    first = container("My.App", project=None)
    second = container("my-app", project=None)
    draft = draft_from_inspect([first, second], name="mine", images=IMAGES)
    parse_definition(draft.definition)
    assert set(draft.definition["services"]) == {"my-app", "my-app-2"}
    assert draft.definition["services"]["my-app"]["container_name"] == "My.App"
    assert draft.definition["services"]["my-app-2"]["container_name"] == "my-app"
    assert draft.containers == {"my-app": [first["Id"]], "my-app-2": [second["Id"]]}


def test_scaled_services_keep_one_container() -> None:
    one = container("shop_web_1", service="web", number=1)
    two = container("shop_web_2", service="web", number=2)
    draft = draft_from_inspect([two, one], project="shop", images=IMAGES)
    assert draft.containers == {"web": [one["Id"], two["Id"]]}
    assert any("removes shop_web_2" in w for w in draft.warnings)
    explicit = container("shop-proxy", service="proxy")
    spec = build([explicit])["services"]["proxy"]
    assert spec["container_name"] == "shop-proxy"  # a compose `container_name`


def test_images() -> None:
    by_id = container("shop_web_1", service="web", config={"Image": IMAGE_ID})
    draft = draft_from_inspect([by_id], project="shop", images=IMAGES)
    assert draft.definition["services"]["web"]["image"] == "example/app:1"
    assert any("created from an image id" in w for w in draft.warnings)

    unnamed = {**IMAGE, "RepoTags": [], "RepoDigests": []}
    with pytest.raises(ValidationFailedError) as raised:
        draft_from_inspect([by_id], project="shop", images={IMAGE_ID: unnamed})
    assert raised.value.code == "image_not_named"

    moved = {**IMAGE, "Id": "sha256:" + "cd" * 32}
    web = container("shop_web_1", service="web")
    draft = draft_from_inspect(
        [web], project="shop", images={IMAGE_ID: IMAGE, "example/app:1": moved}
    )
    assert any("now names a newer image" in w for w in draft.warnings)

    draft = draft_from_inspect([web], project="shop", images={})
    assert draft.definition["services"]["web"]["command"] == ["serve"]  # defaults unknown
    assert any("could not be inspected" in w for w in draft.warnings)


def test_sanitize_key() -> None:
    assert sanitize_key("Web.Front_1") == "web-front_1"
    assert sanitize_key("__x__") == "x"
    assert sanitize_key("!!!") == "service"
    assert len(sanitize_key("a" * 100)) == 63


def test_adopt_request() -> None:
    assert AdoptRequest.model_validate({"project": "shop"}).name is None
    request = AdoptRequest.model_validate({"container_ids": ["abc", "abc", "def"], "name": "x"})
    assert request.container_ids == ["abc", "def"]
    for bad in (
        {},
        {"project": "shop", "container_ids": ["abc"], "name": "x"},
        {"container_ids": ["abc"]},
        {"project": "shop", "name": "Bad Name"},
        {"container_ids": ["../etc"], "name": "x"},
        {"container_ids": [], "name": "x"},
        {"project": "shop", "extra": 1},
    ):
        with pytest.raises(ValidationError):
            AdoptRequest.model_validate(bad)


def test_a_random_host_port_is_pinned_to_the_one_bound_now() -> None:
    web = container(
        "shop_web_1",
        service="web",
        host={"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}},
    )
    web["NetworkSettings"]["Ports"] = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32798"}]}
    warnings = draft_from_inspect([web], project="shop", images=IMAGES).warnings
    assert build([web])["services"]["web"]["ports"] == [
        {"target": 80, "published": 32798, "host_ip": "127.0.0.1"}
    ]
    assert any("keeps host port 32798" in w for w in warnings)
