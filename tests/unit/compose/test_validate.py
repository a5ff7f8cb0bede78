"""Cross-checks: each bad definition is refused with the exact path of the problem."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.services.compose import (
    ComposeDefinition,
    ComposeError,
    ComposeIssue,
    PublishedPort,
    host_ips_overlap,
    image_reference_problem,
    parse_definition,
    published_ports,
    validate_definition,
    validate_project_name,
)


def issues(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ComposeError) as caught:
        parse_definition(raw)
    return [(issue.path, issue.message) for issue in caught.value.issues]


def web(**fields: Any) -> dict[str, Any]:
    fields.setdefault("image", "busybox")
    return {"services": {"web": fields}}


def single_issue(raw: dict[str, Any]) -> tuple[str, str]:
    found = issues(raw)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- images and names


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "busybox:1.36",
        "library/busybox:latest",
        "docker.io/library/busybox",
        "ghcr.io/owner/repo/sub:v1.2.3-rc.1",
        "registry.example.com:5000/team/app:2024_01",
        "localhost/app",
        "localhost:5000/app:dev",
        "127.0.0.1:5000/dockyard-test/app",
        "[::1]:5000/app",
        "my-app__x/y.z",
        "app@sha256:" + "a" * 64,
        "app:1@sha256:" + "0123456789abcdef" * 4,
        "Registry.Example.com/app",
    ],
)
def test_valid_image_references(image: str) -> None:
    assert image_reference_problem(image) is None


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("busy box", "may not be empty or contain spaces"),
        (" busybox", "may not be empty or contain spaces"),
        ("", "may not be empty"),
        ("Busybox", "the repository path `Busybox`"),
        ("owner/MyApp:1", "the repository path `MyApp`"),
        ("app:bad tag", "contain spaces"),
        ("app:" + "x" * 129, "the tag"),
        ("app:-dash", "the tag `-dash`"),
        ("app@sha256:abc", "a digest is `sha256:`"),
        ("app@md5:" + "a" * 32, "a digest is `sha256:`"),
        ("app@sha256:" + "A" * 64, "a digest is `sha256:`"),
        ("a//b", "the repository path ``"),
        ("app_", "the repository path `app_`"),
        ("-app", "the repository path `-app`"),
        ("bad_host.com/app", "`bad_host.com` is not a valid registry host"),
        (":tag", "the repository name is missing"),
        ("a" * 256, "longer than 255"),
    ],
)
def test_invalid_image_references(image: str, reason: str) -> None:
    problem = image_reference_problem(image)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize("image", ["my image:1", "MyImage"])
def test_an_invalid_image_is_refused_at_its_path(image: str) -> None:
    path, message = single_issue(web(image=image))
    assert path == "services.web.image"
    assert message.startswith(f"`{image}` is not a valid image reference")


@pytest.mark.parametrize("name", ["../etc", "a/b", "Web", "-web", "web.1", "a" * 64, "", "wéb"])
def test_unsafe_service_names_are_refused(name: str) -> None:
    path, message = single_issue({"services": {name: {"image": "busybox"}}})
    assert path == (f"services.{name}" if name else "services")
    assert "is not a valid name" in message


@pytest.mark.parametrize("section", ["volumes", "networks"])
def test_unsafe_volume_and_network_keys_are_refused(section: str) -> None:
    raw = {**web(), section: {"../up": {}}}
    assert single_issue(raw) == (
        f"{section}.../up",
        "`../up` is not a valid name: use 1-63 lowercase letters, digits, `_` or `-`, "
        "starting with a letter or digit",
    )


def test_resource_names_follow_dockers_rule() -> None:
    raw = {**web(), "volumes": {"data": {"name": "has space"}}, "networks": {"n": {"name": "../x"}}}
    assert [path for path, _ in issues(raw)] == ["volumes.data.name", "networks.n.name"]


def test_project_names() -> None:
    assert validate_project_name("shop-2") == []
    assert validate_project_name("../shop") == [
        ComposeIssue(
            "name",
            "`../shop` is not a valid name: use 1-63 lowercase letters, digits, `_` or `-`, "
            "starting with a letter or digit",
        )
    ]


def test_container_names() -> None:
    assert single_issue(web(container_name="bad/name"))[0] == "services.web.container_name"
    raw = {
        "services": {
            "a": {"image": "busybox", "container_name": "same"},
            "b": {"image": "busybox", "container_name": "same"},
        }
    }
    assert single_issue(raw) == (
        "services.b.container_name",
        "is also the container name of service `a`",
    )


# ---------------------------------------------------------------- ports


def test_port_70000_is_refused_at_its_index() -> None:
    assert single_issue(web(ports=["80", "70000"])) == (
        "services.web.ports.1",
        "container port 70000 is out of range 1-65535",
    )


def test_a_duplicate_host_port_is_refused() -> None:
    raw = {
        "services": {
            "web": {"image": "busybox", "ports": ["8080:80"]},
            "api": {"image": "busybox", "ports": ["9000:9000", "8080:8000"]},
        }
    }
    assert single_issue(raw) == (
        "services.api.ports.1",
        "host port 8080/tcp is already published by services.web.ports.0",
    )


@pytest.mark.parametrize(
    ("ports", "clash"),
    [
        (["127.0.0.1:8080:80", "127.0.0.1:8080:81"], True),
        (["127.0.0.1:8080:80", "0.0.0.0:8080:81"], True),
        (["127.0.0.1:8080:80", "8080:81"], True),
        (["127.0.0.1:8080:80", "127.0.0.2:8080:81"], False),
        (["8080:80", "8080:80/udp"], False),
        (["80", "80"], False),
        (["[::1]:53:53/udp", "[0::1]:53:54/udp"], True),
    ],
)
def test_host_port_clashes_consider_address_and_protocol(ports: list[str], clash: bool) -> None:
    raw = web(ports=ports)
    if clash:
        assert single_issue(raw)[0] == "services.web.ports.1"
    else:
        parse_definition(raw)


def test_published_ports_lists_every_published_host_port() -> None:
    defn = parse_definition(
        {
            "services": {
                "web": {"image": "busybox", "ports": ["80", "8080:80", "127.0.0.1:5353:53/udp"]},
                "db": {"image": "busybox", "ports": ["5432:5432"]},
            }
        }
    )
    assert published_ports(defn) == [
        PublishedPort(None, 8080, "tcp", "web"),
        PublishedPort("127.0.0.1", 5353, "udp", "web"),
        PublishedPort(None, 5432, "tcp", "db"),
    ]
    host_ip, port, protocol, service = published_ports(defn)[0]
    assert (host_ip, port, protocol, service) == (None, 8080, "tcp", "web")


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        (None, "10.0.0.1", True),
        ("0.0.0.0", "10.0.0.1", True),
        ("::", "::1", True),
        ("10.0.0.1", "10.0.0.1", True),
        ("10.0.0.1", "10.0.0.2", False),
        ("::1", "0:0::1", True),
    ],
)
def test_host_ips_overlap(a: str | None, b: str | None, overlap: bool) -> None:
    assert host_ips_overlap(a, b) is overlap


# ---------------------------------------------------------------- dependencies


def test_a_depends_on_cycle_is_named() -> None:
    raw = {
        "services": {
            "web": {"image": "busybox", "depends_on": ["db"]},
            "db": {"image": "busybox", "depends_on": ["web"]},
        }
    }
    assert single_issue(raw) == ("services.db.depends_on", "dependency cycle: db -> web -> db")


def test_a_longer_cycle_is_named_in_order() -> None:
    raw = {
        "services": {
            "a": {"image": "busybox", "depends_on": ["b"]},
            "b": {"image": "busybox", "depends_on": {"c": {"condition": "service_healthy"}}},
            "c": {"image": "busybox", "depends_on": ["a"]},
            "d": {"image": "busybox", "depends_on": ["a"]},
        }
    }
    assert single_issue(raw) == ("services.a.depends_on", "dependency cycle: a -> b -> c -> a")


def test_a_diamond_is_not_a_cycle() -> None:
    parse_definition(
        {
            "services": {
                "a": {"image": "busybox", "depends_on": ["b", "c"]},
                "b": {"image": "busybox", "depends_on": ["d"]},
                "c": {"image": "busybox", "depends_on": ["d"]},
                "d": {"image": "busybox"},
            }
        }
    )


def test_an_unknown_depends_on_target_is_refused() -> None:
    assert single_issue(web(depends_on=["cache"])) == (
        "services.web.depends_on.cache",
        "service `cache` is not defined",
    )


def test_an_optional_dependency_may_be_missing() -> None:
    parse_definition(web(depends_on={"cache": {"condition": "service_started", "required": False}}))


def test_a_service_cannot_depend_on_itself() -> None:
    assert single_issue(web(depends_on=["web"])) == (
        "services.web.depends_on.web",
        "a service cannot depend on itself",
    )


# ---------------------------------------------------------------- references


def test_an_undeclared_named_volume_is_refused() -> None:
    assert single_issue(web(volumes=["./ok:/ok", "data:/data"])) == (
        "services.web.volumes.1.source",
        "volume `data` is not declared under the top-level `volumes`",
    )


def test_an_undeclared_network_is_refused() -> None:
    assert single_issue(web(networks=["default", "front"])) == (
        "services.web.networks.front",
        "network `front` is not declared under the top-level `networks`",
    )


def test_network_mode_excludes_networks() -> None:
    raw = {**web(network_mode="host", networks=["front"]), "networks": {"front": {}}}
    assert single_issue(raw) == (
        "services.web.network_mode",
        "`network_mode` and `networks` cannot both be set",
    )


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        (
            {"environment": {"BAD=KEY": "x"}},
            "services.web.environment.BAD=KEY",
            "is not a valid variable name",
        ),
        (
            {"environment": {"1ST": "x"}},
            "services.web.environment.1ST",
            "is not a valid variable name",
        ),
        (
            {"environment": ["A B=1"]},
            "services.web.environment.A B",
            "is not a valid variable name",
        ),
        (
            {"labels": {"has space": "x"}},
            "services.web.labels.has space",
            "cannot be empty or contain spaces",
        ),
        ({"cpus": 0}, "services.web.cpus", "must be more than 0"),
        ({"cpus": -1}, "services.web.cpus", "must be more than 0"),
        ({"mem_limit": 0}, "services.web.mem_limit", "must be at least 6m"),
        ({"mem_limit": "1m"}, "services.web.mem_limit", "must be at least 6m"),
        ({"mem_reservation": 0}, "services.web.mem_reservation", "must be more than 0"),
        (
            {"mem_limit": "64m", "mem_reservation": "128m"},
            "services.web.mem_reservation",
            "must not be above mem_limit",
        ),
        ({"memswap_limit": "1g"}, "services.web.memswap_limit", "needs mem_limit"),
        (
            {"mem_limit": "1g", "memswap_limit": "512m"},
            "services.web.memswap_limit",
            "must be at least mem_limit",
        ),
        ({"pids_limit": -5}, "services.web.pids_limit", "must be a positive number"),
        ({"shm_size": 0}, "services.web.shm_size", "must be more than 0"),
        ({"cpu_shares": -1}, "services.web.cpu_shares", "cannot be negative"),
        (
            {"deploy": {"resources": {"reservations": {"cpus": 0}}}},
            "services.web.deploy.resources.reservations.cpus",
            "must be more than 0",
        ),
        (
            {"stop_grace_period": "1500ms"},
            "services.web.stop_grace_period",
            "must be whole seconds",
        ),
        (
            {"healthcheck": {"test": ["FOO", "x"]}},
            "services.web.healthcheck.test",
            "must be a shell command string, or a list",
        ),
        (
            {"healthcheck": {"test": []}},
            "services.web.healthcheck.test",
            "must be a shell command string, or a list",
        ),
        (
            {"healthcheck": {"test": ["CMD"]}},
            "services.web.healthcheck.test",
            "`CMD` needs a command",
        ),
        (
            {"healthcheck": {"test": ["CMD-SHELL", "a", "b"]}},
            "services.web.healthcheck.test",
            "takes one shell command",
        ),
        ({"healthcheck": {"test": ""}}, "services.web.healthcheck.test", "takes one shell command"),
        (
            {"healthcheck": {"test": ["NONE", "x"]}},
            "services.web.healthcheck.test",
            "`NONE` takes no arguments",
        ),
        (
            {"healthcheck": {"interval": "500us"}},
            "services.web.healthcheck.interval",
            "must be 0 or at least 1ms",
        ),
        (
            {"healthcheck": {"retries": -1}},
            "services.web.healthcheck.retries",
            "cannot be negative",
        ),
        ({"cap_add": ["net admin"]}, "services.web.cap_add.0", "is not a capability name"),
        ({"stop_signal": "KILL ME"}, "services.web.stop_signal", "is not a signal name"),
        ({"ulimits": {"files": 10}}, "services.web.ulimits.files", "unknown ulimit"),
        (
            {"ulimits": {"nofile": {"soft": 20, "hard": 10}}},
            "services.web.ulimits.nofile",
            "soft limit is above the hard limit",
        ),
        ({"extra_hosts": ["db:not-an-ip"]}, "services.web.extra_hosts.0", "must be `hostname:ip`"),
        ({"dns": ["dns.google"]}, "services.web.dns.0", "is not an IP address"),
        ({"hostname": "bad_host!"}, "services.web.hostname", "is not a valid host name"),
        ({"devices": ["dev/null"]}, "services.web.devices.0", "must be `/dev/host"),
        ({"devices": ["/dev/fuse:/dev/fuse:rwx"]}, "services.web.devices.0", "must be `/dev/host"),
        ({"tmpfs": ["run"]}, "services.web.tmpfs.0", "must be an absolute container path"),
        ({"sysctls": {"bad key": "1"}}, "services.web.sysctls.bad key", "is not a sysctl name"),
        (
            {"logging": {"driver": "bad driver"}},
            "services.web.logging.driver",
            "is not a log driver name",
        ),
        (
            {"volumes": [{"type": "tmpfs", "target": "relative"}]},
            "services.web.volumes.0.target",
            "must be an absolute container path",
        ),
        (
            {"volumes": ["/a:/data", "/b:/data/"]},
            "services.web.volumes.1.target",
            "mounts at the same path as volumes.0",
        ),
        (
            {"volumes": ["~/x:/x"]},
            "services.web.volumes.0.source",
            "`~` is not expanded on the server",
        ),
        (
            {"gpus": 0},
            "services.web.deploy.resources.reservations.devices.0.count",
            "must be at least 1",
        ),
    ],
)
def test_bad_values_are_refused_at_their_path(
    fields: dict[str, Any], path: str, message: str
) -> None:
    found = single_issue(web(**fields))
    assert found[0] == path
    assert message in found[1]


def test_network_checks() -> None:
    raw = {
        **web(networks={"back": {"ipv4_address": "10.0.0.300", "aliases": ["ok", "not ok"]}}),
        "networks": {
            "back": {
                "ipam": {
                    "config": [
                        {"subnet": "10.0.0.0/33", "gateway": "x", "aux_addresses": {"h": "y"}}
                    ]
                }
            },
            "ext": {"external": True, "driver": "bridge"},
        },
    }
    assert [path for path, _ in issues(raw)] == [
        "networks.ext",
        "networks.back.ipam.config.0.subnet",
        "networks.back.ipam.config.0.gateway",
        "networks.back.ipam.config.0.aux_addresses.h",
        "services.web.networks.back.ipv4_address",
        "services.web.networks.back.aliases.1",
    ]


def test_validate_definition_checks_a_definition_built_in_code() -> None:
    defn = ComposeDefinition.model_validate({"services": {"Web": {"image": "Bad Image"}}})
    assert [issue.path for issue in validate_definition(defn)] == [
        "services.Web",
        "services.Web.image",
    ]


def test_parse_without_validation_keeps_a_stored_definition_readable() -> None:
    defn = parse_definition({"services": {"Web": {"image": "busybox"}}}, validate=False)
    assert list(defn.services) == ["Web"]


def test_compose_error_is_a_422_with_every_issue() -> None:
    with pytest.raises(ComposeError) as caught:
        parse_definition(web(image="Bad", cpus=0))
    error = caught.value
    assert error.status_code == 422
    assert error.code == "invalid_definition"
    assert error.message.startswith("The definition is not valid: services.web.image: ")
    assert error.message.endswith("(and 1 more problem)")
    assert error.details == {
        "errors": [{"path": i.path, "message": i.message} for i in error.issues]
    }
