"""The container security policy: each bypass variant refused for a user, allowed for an admin."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.services.compose import ComposeError, parse_definition
from dockyard.services.compose.docker_args import container_create_args
from dockyard.services.compose.policy import (
    OWNER_LABEL,
    PolicyContext,
    PolicyViolationError,
    QuotaLimits,
    enforce_container_policy,
    is_within,
    policy_violations,
)

ROOTS = ("/srv/data", "/home/tenant/")
USER = PolicyContext(
    is_admin=False, user_id=7, allowed_bind_roots=ROOTS, project_dir="/var/lib/dockyard/p/x"
)
ADMIN = PolicyContext(is_admin=True, user_id=1)


def web(**fields: Any) -> dict[str, Any]:
    return {"services": {"web": {"image": "busybox", **fields}}}


def bind(source: str) -> dict[str, Any]:
    return web(volumes=[f"{source}:/mnt"])


# (case id, raw definition, path, rule). Every one parses for an admin.
PARSED_VARIANTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("privileged", web(privileged=True), "services.web.privileged", "privileged"),
    ("cap_add", web(cap_add=["NET_ADMIN"]), "services.web.cap_add", "cap_add"),
    ("cap_add-all", web(cap_add=["ALL"]), "services.web.cap_add", "cap_add"),
    ("devices", web(devices=["/dev/sda:/dev/sda"]), "services.web.devices", "devices"),
    (
        "device_cgroup_rules",
        web(device_cgroup_rules=["c 1:3 mr"]),
        "services.web.device_cgroup_rules",
        "device_cgroup_rules",
    ),
    ("network_mode-host", web(network_mode="host"), "services.web.network_mode", "network_mode"),
    ("pid-host", web(pid="host"), "services.web.pid", "pid"),
    ("ipc-host", web(ipc="host"), "services.web.ipc", "ipc"),
    ("uts-host", web(uts="host"), "services.web.uts", "uts"),
    ("userns-host", web(userns_mode="host"), "services.web.userns_mode", "userns_mode"),
    (
        "security_opt-apparmor",
        web(security_opt=["apparmor:unconfined"]),
        "services.web.security_opt.0",
        "security_opt",
    ),
    (
        "security_opt-seccomp",
        web(security_opt=["no-new-privileges:true", "seccomp=unconfined"]),
        "services.web.security_opt.1",
        "security_opt",
    ),
    (
        "security_opt-nnp-false",
        web(security_opt=["no-new-privileges:false"]),
        "services.web.security_opt.0",
        "security_opt",
    ),
    ("sysctls", web(sysctls={"net.ipv4.ip_forward": 1}), "services.web.sysctls", "sysctls"),
    (
        "cgroup_parent",
        web(cgroup_parent="/system.slice"),
        "services.web.cgroup_parent",
        "cgroup_parent",
    ),
    ("runtime", web(runtime="runsc"), "services.web.runtime", "runtime"),
    ("bind-short-absolute", bind("/etc"), "services.web.volumes.0.source", "bind_mount"),
    ("bind-short-relative", bind("./data"), "services.web.volumes.0.source", "bind_mount"),
    ("bind-short-dotdot", bind("../../../../etc"), "services.web.volumes.0.source", "bind_mount"),
    ("bind-root", bind("/"), "services.web.volumes.0.source", "docker_socket"),
    ("bind-sibling-prefix", bind("/srv/data2"), "services.web.volumes.0.source", "bind_mount"),
    (
        "bind-dotdot-escape",
        bind("/srv/data/../etc"),
        "services.web.volumes.0.source",
        "bind_mount",
    ),
    (
        "bind-long",
        web(volumes=[{"type": "bind", "source": "/etc", "target": "/mnt"}]),
        "services.web.volumes.0.source",
        "bind_mount",
    ),
    (
        "bind-long-uppercase",
        web(volumes=[{"type": "BIND", "source": "/etc", "target": "/mnt"}]),
        "services.web.volumes.0.source",
        "bind_mount",
    ),
    (
        "bind-long-mixedcase",
        web(volumes=[{"type": "Bind", "source": "/srv/data/../../root", "target": "/mnt"}]),
        "services.web.volumes.0.source",
        "bind_mount",
    ),
    (
        "docker-sock-in-allowed-root",
        bind("/srv/data/docker.sock"),
        "services.web.volumes.0.source",
        "docker_socket",
    ),
    (
        "docker-sock-var-run",
        bind("/var/run/docker.sock"),
        "services.web.volumes.0.source",
        "docker_socket",
    ),
    ("docker-sock-run", bind("/run/docker.sock"), "services.web.volumes.0.source", "docker_socket"),
    ("docker-sock-parent-dir", bind("/var/run"), "services.web.volumes.0.source", "docker_socket"),
    (
        "docker-sock-dotdot",
        bind("/srv/data/../../var/run/./docker.sock"),
        "services.web.volumes.0.source",
        "docker_socket",
    ),
    (
        "docker-sock-double-slash",
        bind("//run//docker.sock"),
        "services.web.volumes.0.source",
        "docker_socket",
    ),
    (
        "docker-sock-lookalike",
        bind("/srv/data/docker-rootless.sock"),
        "services.web.volumes.0.source",
        "docker_socket",
    ),
    (
        "volume-o-bind",
        {
            **web(volumes=["v:/mnt"]),
            "volumes": {"v": {"driver_opts": {"o": "bind", "type": "none", "device": "/etc"}}},
        },
        "volumes.v.driver_opts",
        "volume_driver",
    ),
    (
        "volume-o-bind-in-list",
        {**web(volumes=["v:/mnt"]), "volumes": {"v": {"driver_opts": {"o": "ro,rbind"}}}},
        "volumes.v.driver_opts",
        "volume_driver",
    ),
    (
        "volume-device",
        {**web(volumes=["v:/mnt"]), "volumes": {"v": {"driver_opts": {"device": "/dev/sdb1"}}}},
        "volumes.v.driver_opts",
        "volume_driver",
    ),
    (
        "volume-external",
        {**web(volumes=["v:/mnt"]), "volumes": {"v": {"external": True, "name": "other_data"}}},
        "volumes.v",
        "volume_external",
    ),
    (
        "network-external-host",
        {**web(networks=["n"]), "networks": {"n": {"external": True, "name": "host"}}},
        "networks.n",
        "network_external",
    ),
    (
        "network-driver-macvlan",
        {**web(networks=["n"]), "networks": {"n": {"driver": "macvlan"}}},
        "networks.n.driver",
        "network_driver",
    ),
    (
        "logging-syslog",
        web(logging={"driver": "syslog"}),
        "services.web.logging.driver",
        "logging_driver",
    ),
    (
        "logging-gelf",
        web(logging={"driver": "gelf"}),
        "services.web.logging.driver",
        "logging_driver",
    ),
    (
        "logging-fluentd",
        web(logging={"driver": "fluentd"}),
        "services.web.logging.driver",
        "logging_driver",
    ),
    (
        "logging-awslogs",
        web(logging={"driver": "awslogs"}),
        "services.web.logging.driver",
        "logging_driver",
    ),
    (
        "logging-splunk",
        web(logging={"driver": "splunk"}),
        "services.web.logging.driver",
        "logging_driver",
    ),
    (
        "gpus-all",
        web(gpus="all"),
        "services.web.deploy.resources.reservations.devices.0",
        "gpus",
    ),
    (
        "device-request-not-gpu",
        web(
            deploy={
                "resources": {"reservations": {"devices": [{"capabilities": ["tpu"], "count": 1}]}}
            }
        ),
        "services.web.deploy.resources.reservations.devices.0",
        "device_requests",
    ),
]


@pytest.mark.parametrize(
    ("raw", "path", "rule"),
    [pytest.param(raw, path, rule, id=case) for case, raw, path, rule in PARSED_VARIANTS],
)
def test_a_bypass_variant_is_refused_for_a_user_and_allowed_for_an_admin(
    raw: dict[str, Any], path: str, rule: str
) -> None:
    defn = parse_definition(raw)
    with pytest.raises(PolicyViolationError) as caught:
        enforce_container_policy(defn, USER)
    error = caught.value
    assert error.status_code == 403
    assert error.code == "policy_violation"
    errors = error.details["errors"]
    assert {"path": path, "rule": rule} in [{"path": e["path"], "rule": e["rule"]} for e in errors]
    assert all(e["message"] for e in errors)
    assert path in error.message or len(errors) > 1
    # An admin may set it, unchanged.
    assert enforce_container_policy(defn, ADMIN) == defn


# Shapes the compose model refuses for everyone (Dockyard does not share namespaces or
# expand `~`): the policy still refuses them if they ever get through.
RAW_VARIANTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("volumes_from", web(volumes_from=["db"]), "services.web.volumes_from", "volumes_from"),
    (
        "volumes_from-container",
        web(volumes_from=["container:other:ro"]),
        "services.web.volumes_from",
        "volumes_from",
    ),
    (
        "network_mode-container",
        web(network_mode="container:abc"),
        "services.web.network_mode",
        "network_mode",
    ),
    (
        "network_mode-service",
        web(network_mode="service:db"),
        "services.web.network_mode",
        "network_mode",
    ),
    ("pid-container", web(pid="container:abc"), "services.web.pid", "pid"),
    ("ipc-service", web(ipc="service:db"), "services.web.ipc", "ipc"),
    ("bind-tilde", bind("~/.ssh"), "services.web.volumes.0.source", "bind_mount"),
]


@pytest.mark.parametrize(
    ("raw", "path", "rule"),
    [pytest.param(raw, path, rule, id=case) for case, raw, path, rule in RAW_VARIANTS],
)
def test_a_raw_variant_is_refused_for_a_user_and_by_the_model_for_everyone(
    raw: dict[str, Any], path: str, rule: str
) -> None:
    found = [(v.path, v.rule) for v in policy_violations(raw, USER)]
    assert (path, rule) in found
    assert policy_violations(raw, ADMIN) == []
    with pytest.raises(ComposeError):
        parse_definition(raw)


@pytest.mark.parametrize(
    "source",
    ["/srv/data", "/srv/data/app", "/srv/data/a/../b", "/home/tenant/x", "/srv//data/./y"],
)
def test_binds_under_an_allowed_root_are_allowed(source: str) -> None:
    defn = enforce_container_policy(parse_definition(bind(source)), USER)
    assert defn.services["web"].volumes[0].source == source


def test_a_relative_bind_inside_an_allowed_project_dir_is_allowed() -> None:
    context = PolicyContext(
        is_admin=False,
        user_id=7,
        allowed_bind_roots=("/var/lib/dockyard/p",),
        project_dir="/var/lib/dockyard/p/x",
    )
    enforce_container_policy(parse_definition(bind("./data")), context)
    with pytest.raises(PolicyViolationError):
        enforce_container_policy(parse_definition(bind("../../etc")), context)


@pytest.mark.parametrize("source", [".", "./", "./data/.."])
def test_the_project_folder_itself_is_a_bind_not_a_socket(source: str) -> None:
    rules = [v.rule for v in policy_violations(parse_definition(bind(source)), USER)]
    assert rules == ["bind_mount"]
    context = PolicyContext(is_admin=False, user_id=7)  # no project folder known
    assert [v.rule for v in policy_violations(parse_definition(bind(source)), context)] == [
        "bind_mount"
    ]


def test_no_bind_is_allowed_without_roots() -> None:
    context = PolicyContext(is_admin=False, user_id=7)
    with pytest.raises(PolicyViolationError) as caught:
        enforce_container_policy(parse_definition(bind("/srv/data")), context)
    assert "none is allowed" in caught.value.details["errors"][0]["message"]


@pytest.mark.parametrize(
    ("path", "root", "inside"),
    [
        ("/srv/data", "/srv/data", True),
        ("/srv/data/x", "/srv/data/", True),
        ("/srv/data2", "/srv/data", False),
        ("/srv", "/srv/data", False),
        ("/anything", "/", True),
    ],
)
def test_is_within_compares_whole_components(path: str, root: str, inside: bool) -> None:
    assert is_within(path, root) is inside


def test_allowed_settings_pass() -> None:
    raw = web(
        security_opt=["no-new-privileges"],
        cap_drop=["ALL"],
        logging={"driver": "json-file", "options": {"max-size": "10m"}},
        volumes=["data:/data", {"type": "tmpfs", "target": "/tmp"}],
        networks=["back"],
    )
    raw["volumes"] = {"data": {}}
    raw["networks"] = {"back": {"driver": "bridge"}}
    enforce_container_policy(parse_definition(raw), USER)


def test_gpus_within_the_quota_are_allowed() -> None:
    context = PolicyContext(is_admin=False, user_id=7, quota=QuotaLimits(max_gpus=1))
    enforce_container_policy(parse_definition(web(gpus=1)), context)


def test_every_violation_is_reported_at_once() -> None:
    raw = web(privileged=True, cap_add=["SYS_ADMIN"], volumes=["/:/host"])
    with pytest.raises(PolicyViolationError) as caught:
        enforce_container_policy(parse_definition(raw), USER)
    rules = [e["rule"] for e in caught.value.details["errors"]]
    assert rules == ["privileged", "cap_add", "docker_socket"]


def test_forced_settings_for_a_user() -> None:
    quota = QuotaLimits(
        default_cpus=0.5,
        default_memory=128 * 1024**2,
        default_pids=64,
        max_cpus=2,
        max_memory_bytes=256 * 1024**2,
    )
    context = PolicyContext(is_admin=False, user_id=7, quota=quota)
    raw = web(labels={OWNER_LABEL: "1"})
    raw["services"]["big"] = {"image": "busybox", "cpus": 8, "mem_limit": "1g", "pids_limit": -1}
    defn = enforce_container_policy(parse_definition(raw), context)
    small, big = defn.services["web"], defn.services["big"]
    assert (small.cpus, small.mem_limit, small.pids_limit) == (0.5, 128 * 1024**2, 64)
    # Above the quota is left for the quota check to refuse; pids are capped.
    assert (big.cpus, big.mem_limit, big.pids_limit) == (8, 1024**3, 64)
    for spec in (small, big):
        assert spec.security_opt == ["no-new-privileges:true"]
        assert spec.labels[OWNER_LABEL] == "7"
    # The forced definition is a valid canonical one and maps to the Docker settings.
    assert parse_definition(defn.to_json()) == defn
    host = container_create_args(
        "p", "web", small, defn=defn, default_publish_ip="127.0.0.1", extra_labels={}
    ).host_config
    assert host["PidsLimit"] == 64
    assert host["Memory"] == 128 * 1024**2
    assert host["NanoCpus"] == 500_000_000
    assert host["SecurityOpt"] == ["no-new-privileges:true"]


def test_an_admin_definition_is_not_changed() -> None:
    defn = parse_definition(web())
    assert enforce_container_policy(defn, ADMIN) is defn


def test_new_fields_map_to_docker() -> None:
    defn = parse_definition(
        web(
            uts="host",
            userns_mode="host",
            cgroup_parent="x.slice",
            runtime="runc",
            device_cgroup_rules=["c 1:3 mr"],
        )
    )
    host = container_create_args(
        "p", "web", defn.services["web"], defn=defn, default_publish_ip="127.0.0.1", extra_labels={}
    ).host_config
    assert host["UTSMode"] == "host"
    assert host["UsernsMode"] == "host"
    assert host["CgroupParent"] == "x.slice"
    assert host["Runtime"] == "runc"
    assert host["DeviceCgroupRules"] == ["c 1:3 mr"]
