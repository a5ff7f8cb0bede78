"""Parsing into the canonical definition: equivalent shapes compare equal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.services.compose import (
    ComposeDefinition,
    ComposeError,
    ContainerSpec,
    MountSpec,
    PortSpec,
    parse_definition,
)


def service(**fields: Any) -> ContainerSpec:
    """The parsed `web` service of a one-service definition with `fields`."""
    fields.setdefault("image", "busybox")
    raw: dict[str, Any] = {"services": {"web": fields}}
    for mount in fields.get("volumes", []):
        source = mount.get("source") if isinstance(mount, dict) else mount.split(":")[0]
        if source and not source.startswith(("/", ".")) and len(str(mount).split(":")) > 1:
            raw.setdefault("volumes", {})[source] = {}
    for network in fields.get("networks", []):
        raw.setdefault("networks", {})[network] = {}
    # Only parsing is compared here; cross-checks (declared dependencies...) are not the point.
    return parse_definition(raw, validate=False).services["web"]


def issues(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ComposeError) as caught:
        parse_definition(raw)
    return [(issue.path, issue.message) for issue in caught.value.issues]


def web(**fields: Any) -> dict[str, Any]:
    fields.setdefault("image", "busybox")
    return {"services": {"web": fields}}


# ---------------------------------------------------------------- equivalences


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("8080:80", {"target": 80, "published": 8080}),
        (80, {"target": 80}),
        ("80", {"target": 80, "protocol": "tcp"}),
        (
            "127.0.0.1:8080:80/udp",
            {"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "udp"},
        ),
        ("127.0.0.1::80", {"target": 80, "host_ip": "127.0.0.1"}),
        ("[::1]:53:53/udp", {"target": 53, "published": 53, "host_ip": "::1", "protocol": "udp"}),
        ("::1:53:53/udp", {"target": 53, "published": 53, "host_ip": "0:0::1", "protocol": "udp"}),
        ("8080:80", {"target": 80, "published": 8080, "mode": "host"}),
    ],
)
def test_short_and_long_port_syntax_are_equal(short: object, long: dict[str, Any]) -> None:
    assert service(ports=[short]) == service(ports=[long])


def test_port_ranges_expand_to_one_entry_per_container_port() -> None:
    assert service(ports=["127.0.0.1:8080-8081:80-81/udp"]).ports == [
        PortSpec(target=80, published=8080, host_ip="127.0.0.1", protocol="udp"),
        PortSpec(target=81, published=8081, host_ip="127.0.0.1", protocol="udp"),
    ]
    assert service(ports=["3000-3001"]).ports == [PortSpec(target=3000), PortSpec(target=3001)]
    assert service(ports=[{"target": 80, "published": "8080-8080"}]).ports == [
        PortSpec(target=80, published=8080)
    ]


@st.composite
def port_entries(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A random valid port as short syntax, and the same port in long syntax."""
    target = draw(st.integers(1, 65535))
    published = draw(st.none() | st.integers(1, 65535))
    host_ip = draw(st.sampled_from([None, "127.0.0.1", "0.0.0.0", "10.1.2.3", "::1", "fe80::1"]))
    protocol = draw(st.sampled_from(["tcp", "udp", "sctp"]))
    text = str(target)
    if host_ip is not None:
        host = f"[{host_ip}]" if ":" in host_ip else host_ip
        text = f"{host}:{published or ''}:{target}"
    elif published is not None:
        text = f"{published}:{target}"
    long: dict[str, Any] = {"target": target, "protocol": protocol}
    if published is not None:
        long["published"] = published
    if host_ip is not None:
        long["host_ip"] = host_ip
    return f"{text}/{protocol}", long


@given(st.lists(port_entries(), max_size=5))
def test_random_ports_have_one_canonical_form(entries: list[tuple[str, dict[str, Any]]]) -> None:
    raw_short = {"services": {"web": {"image": "x", "ports": [e[0] for e in entries]}}}
    raw_long = {"services": {"web": {"image": "x", "ports": [e[1] for e in entries]}}}
    short = ComposeDefinition.model_validate(raw_short)
    assert short == ComposeDefinition.model_validate(raw_long)
    assert ComposeDefinition.model_validate(short.to_json()) == short


@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("data:/data", {"type": "volume", "source": "data", "target": "/data"}),
        (
            "data:/data:ro",
            {"type": "volume", "source": "data", "target": "/data", "read_only": True},
        ),
        (
            "data:/data:rw,nocopy",
            {"type": "volume", "source": "data", "target": "/data", "volume": {"nocopy": True}},
        ),
        ("/data", {"type": "volume", "target": "/data", "volume": {}}),
        (
            "./x:/y",
            {"type": "bind", "source": "./x", "target": "/y", "bind": {"create_host_path": True}},
        ),
        (
            "/abs:/y:ro",
            {
                "type": "bind",
                "source": "/abs",
                "target": "/y",
                "read_only": True,
                "bind": {"create_host_path": True},
            },
        ),
        (
            "/abs:/y:ro,rshared,z",
            {
                "type": "bind",
                "source": "/abs",
                "target": "/y",
                "read_only": True,
                "bind": {"create_host_path": True, "propagation": "rshared", "selinux": "z"},
            },
        ),
    ],
)
def test_short_and_long_volume_syntax_are_equal(short: str, long: dict[str, Any]) -> None:
    assert service(volumes=[short]) == service(volumes=[long])


def test_long_syntax_binds_do_not_create_the_host_path() -> None:
    (mount,) = service(volumes=[{"type": "bind", "source": "/x", "target": "/y"}]).volumes
    assert mount == MountSpec(type="bind", source="/x", target="/y")
    assert mount.bind is None


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"environment": ["A=1", "B=", "C"]}, {"environment": {"A": 1, "B": "", "C": None}}),
        ({"environment": {"T": True, "F": 1.5}}, {"environment": {"T": "true", "F": "1.5"}}),
        ({"labels": ["a=1", "b"]}, {"labels": {"a": "1", "b": ""}}),
        ({"command": "sh -c 'echo hi there'"}, {"command": ["sh", "-c", "echo hi there"]}),
        ({"entrypoint": ""}, {"entrypoint": []}),
        ({"depends_on": ["db"]}, {"depends_on": {"db": {"condition": "service_started"}}}),
        ({"depends_on": {"db": None}}, {"depends_on": {"db": {"required": True}}}),
        ({"networks": ["front"]}, {"networks": {"front": None}}),
        ({"healthcheck": {"test": "true"}}, {"healthcheck": {"test": ["CMD-SHELL", "true"]}}),
        ({"healthcheck": {"disable": True}}, {"healthcheck": {"test": ["NONE"]}}),
        ({"healthcheck": {"interval": "90s"}}, {"healthcheck": {"interval": "1m30s"}}),
        ({"stop_grace_period": "60s"}, {"stop_grace_period": "1m"}),
        ({"mem_limit": "512m"}, {"mem_limit": 536870912}),
        ({"mem_limit": "1g"}, {"deploy": {"resources": {"limits": {"memory": "1024M"}}}}),
        ({"cpus": "0.5"}, {"deploy": {"resources": {"limits": {"cpus": 0.5}}}}),
        ({"pids_limit": 10}, {"deploy": {"resources": {"limits": {"pids": 10}}}}),
        ({"mem_reservation": "1m"}, {"deploy": {"resources": {"reservations": {"memory": "1m"}}}}),
        (
            {"restart": "on-failure:3"},
            {"deploy": {"restart_policy": {"condition": "on-failure", "max_attempts": 3}}},
        ),
        ({"restart": "always"}, {"deploy": {"restart_policy": {}}}),
        ({"restart": "no"}, {}),
        ({"restart": "on-failure:0"}, {"restart": "on-failure"}),
        ({"pull_policy": "if_not_present"}, {}),
        ({"pull_policy": "missing"}, {}),
        ({"tmpfs": "/run"}, {"tmpfs": ["/run"]}),
        ({"dns": "1.1.1.1"}, {"dns": ["1.1.1.1"]}),
        ({"ulimits": {"nofile": 1024}}, {"ulimits": {"nofile": {"soft": 1024, "hard": 1024}}}),
        ({"extra_hosts": {"db": "10.0.0.1"}}, {"extra_hosts": ["db=10.0.0.1"]}),
        ({"extra_hosts": ["db:10.0.0.1"]}, {"extra_hosts": ["db=10.0.0.1"]}),
        ({"sysctls": ["a.b=1"]}, {"sysctls": {"a.b": 1}}),
        ({"expose": ["80", "81/udp"]}, {"expose": [80, "81/udp", "80/tcp"]}),
        ({"group_add": [1000]}, {"group_add": ["1000"]}),
        ({"user": 1000}, {"user": "1000"}),
        ({"logging": {}}, {}),
        ({"deploy": {}}, {}),
        ({"deploy": {"resources": {"reservations": {}}}}, {}),
        (
            {"gpus": "all"},
            {"deploy": {"resources": {"reservations": {"devices": [{"capabilities": ["gpu"]}]}}}},
        ),
        (
            {"gpus": 2},
            {
                "deploy": {
                    "resources": {
                        "reservations": {"devices": [{"capabilities": ["gpu"], "count": "2"}]}
                    }
                }
            },
        ),
        ({"x-note": "dropped"}, {}),
    ],
)
def test_equivalent_shapes_parse_equal(one: dict[str, Any], other: dict[str, Any]) -> None:
    assert service(**one) == service(**other)


def test_volumes_and_networks_accept_null_and_the_old_external_name() -> None:
    one = parse_definition(
        {
            "services": {"web": {"image": "busybox"}},
            "volumes": {"data": None, "old": {"external": {"name": "legacy"}}},
            "networks": {"net": None, "ipam": {"ipam": {}}},
        }
    )
    other = parse_definition(
        {
            "services": {"web": {"image": "busybox"}},
            "volumes": {"data": {}, "old": {"external": True, "name": "legacy"}},
            "networks": {"net": {}, "ipam": {}},
        }
    )
    assert one == other


def test_version_and_name_are_accepted_and_not_kept() -> None:
    raw = web()
    assert parse_definition({"version": "3.8", "name": "proj", **raw}) == parse_definition(raw)


# ---------------------------------------------------------------- canonical JSON


def test_canonical_json_is_json_and_reads_back_equal() -> None:
    defn = parse_definition(
        {
            "services": {
                "web": {
                    "image": "busybox",
                    "ports": ["8080:80"],
                    "volumes": [
                        "data:/data",
                        "./x:/x",
                        {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "1m"}},
                    ],
                    "healthcheck": {"test": "true", "interval": "90s", "retries": 3},
                    "depends_on": {"db": {"condition": "service_healthy", "restart": True}},
                    "environment": {"A": None, "B": 2},
                    "gpus": "all",
                    "deploy": {"resources": {"reservations": {"cpus": "0.5"}}},
                    "mem_limit": "64m",
                },
                "db": {"image": "postgres:16"},
            },
            "volumes": {"data": {"driver_opts": {"size": 10}}},
        }
    )
    stored = json.loads(json.dumps(defn.to_json()))
    assert parse_definition(stored) == defn
    web_json = stored["services"]["web"]
    assert web_json["ports"] == [{"target": 80, "published": 8080}]
    assert web_json["healthcheck"] == {
        "test": ["CMD-SHELL", "true"],
        "interval": "1m30s",
        "retries": 3,
    }
    assert web_json["mem_limit"] == 64 * 1024 * 1024
    assert web_json["volumes"][2] == {"type": "tmpfs", "target": "/t", "tmpfs": {"size": 1048576}}
    assert web_json["deploy"] == {
        "resources": {
            "reservations": {"cpus": 0.5, "devices": [{"capabilities": ["gpu"], "count": "all"}]}
        }
    }
    assert stored["services"]["db"] == {"image": "postgres:16"}
    assert stored["volumes"] == {"data": {"driver_opts": {"size": "10"}}}


def test_models_are_frozen() -> None:
    spec = service()
    with pytest.raises(ValueError, match="frozen"):
        spec.image = "other"  # type: ignore[misc]


# ---------------------------------------------------------------- errors with paths


def test_an_unknown_field_names_its_path_and_suggests() -> None:
    assert issues(web(portz=["80"])) == [
        ("services.web.portz", "unknown field `portz` (did you mean `ports`?)")
    ]
    assert issues(web(healthcheck={"test": "true", "intervall": "1s"})) == [
        (
            "services.web.healthcheck.intervall",
            "unknown field `intervall` (did you mean `interval`?)",
        )
    ]
    assert issues({**web(), "volumez": {}}) == [
        ("volumez", "unknown field `volumez` (did you mean `volumes`?)")
    ]


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        (
            {"ports": ["70000:80"]},
            "services.web.ports.0",
            "host port 70000 is out of range 1-65535",
        ),
        ({"ports": ["80", "0:80"]}, "services.web.ports.1", "host port 0 is out of range 1-65535"),
        (
            {"ports": [{"target": 70000}]},
            "services.web.ports.0",
            "container port 70000 is out of range 1-65535",
        ),
        (
            {"ports": ["8080-8090:80"]},
            "services.web.ports.0",
            "a range of host ports for one container port",
        ),
        ({"ports": ["80-81:80-82"]}, "services.web.ports.0", "different lengths"),
        ({"ports": ["1-2000"]}, "services.web.ports.0", "larger than 1024 ports"),
        ({"ports": ["1.2.3:80:80"]}, "services.web.ports.0", "`1.2.3` is not an IP address"),
        (
            {"ports": ["80/http"]},
            "services.web.ports.0",
            "protocol `http` is not one of tcp, udp or sctp",
        ),
        (
            {"ports": [{"target": 80, "name": "web"}]},
            "services.web.ports.0.name",
            "unknown field `name`",
        ),
        ({"ports": [{"published": 80}]}, "services.web.ports.0.target", "is required"),
        ({"ports": "80"}, "services.web.ports", "must be a list of ports"),
        ({"volumes": ["a:b:c:d"]}, "services.web.volumes.0", "is not `[source:]target[:options]`"),
        ({"volumes": ["/x:/y:fast"]}, "services.web.volumes.0", "unknown volume option `fast`"),
        (
            {"volumes": ["/x:/y:nocopy"]},
            "services.web.volumes.0",
            "`nocopy` applies to named volumes",
        ),
        (
            {"volumes": [{"type": "npipe", "target": "/x"}]},
            "services.web.volumes.0.type",
            "Input should be",
        ),
        (
            {"volumes": [{"type": "bind", "target": "/x"}]},
            "services.web.volumes.0.source",
            "a bind mount needs a source path",
        ),
        (
            {"volumes": [{"type": "tmpfs", "target": "/x", "bind": {"propagation": "shared"}}]},
            "services.web.volumes.0.bind",
            "do not apply to a tmpfs mount",
        ),
        (
            {"volumes": [{"type": "volume", "target": "/x", "volume": {"subpath": "a"}}]},
            "services.web.volumes.0.volume.subpath",
            "unknown field `subpath`",
        ),
        ({"restart": "sometimes"}, "services.web.restart", "must be `no`, `always`"),
        (
            {"healthcheck": {"interval": 10}},
            "services.web.healthcheck.interval",
            "a duration is a string with a unit",
        ),
        (
            {"healthcheck": {"timeout": "10 s"}},
            "services.web.healthcheck.timeout",
            "is not a duration",
        ),
        (
            {"healthcheck": {"disable": True, "test": "true"}},
            "services.web.healthcheck.disable",
            "cannot both be set",
        ),
        ({"mem_limit": "lots"}, "services.web.mem_limit", "`lots` is not a size"),
        (
            {"network_mode": "service:db"},
            "services.web.network_mode",
            "put the services on a shared network",
        ),
        ({"network_mode": "container:abc"}, "services.web.network_mode", "is not supported"),
        ({"network_mode": "default"}, "services.web.network_mode", "Input should be"),
        ({"pid": "service:db"}, "services.web.pid", "is not supported"),
        ({"ipc": "container:x"}, "services.web.ipc", "is not supported"),
        ({"pull_policy": "build"}, "services.web.pull_policy", "Dockyard does not build images"),
        ({"environment": "A=1"}, "services.web.environment", "must be a map or a list"),
        ({"environment": ["A=1", "A=2"]}, "services.web.environment.1", "`A` is set twice"),
        ({"environment": {"A": {"nested": 1}}}, "services.web.environment.A", "must be a string"),
        ({"command": "echo 'unbalanced"}, "services.web.command", "cannot split the command"),
        ({"depends_on": ["db", "db"]}, "services.web.depends_on.1", "`db` is listed twice"),
        (
            {"depends_on": {"db": {"condition": "service_ready"}}},
            "services.web.depends_on.db.condition",
            "Input should be",
        ),
        (
            {"mem_limit": "1g", "deploy": {"resources": {"limits": {"memory": "2g"}}}},
            "services.web.deploy.resources.limits.memory",
            "conflicts with `mem_limit`",
        ),
        (
            {"deploy": {"resources": {"limits": {"memory": "lots"}}}},
            "services.web.deploy.resources.limits.memory",
            "`lots` is not a size",
        ),
        (
            {"deploy": {"resources": {"limits": {"gpus": 1}}}},
            "services.web.deploy.resources.limits.gpus",
            "unknown field `gpus`",
        ),
        (
            {"deploy": {"restart_policy": {"condition": "any", "delay": "5s"}}},
            "services.web.deploy.restart_policy.delay",
            "is not supported",
        ),
        (
            {"deploy": {"restart_policy": {"condition": "sometimes"}}},
            "services.web.deploy.restart_policy.condition",
            "must be `none`",
        ),
        (
            {"restart": "always", "deploy": {"restart_policy": {"condition": "none"}}},
            "services.web.deploy.restart_policy",
            "conflicts with `restart`",
        ),
        ({"gpus": "some"}, "services.web.gpus", "must be `all`"),
        (
            {"deploy": {"resources": {"reservations": {"devices": [{"count": 1}]}}}},
            "services.web.deploy.resources.reservations.devices.0.capabilities",
            "is required",
        ),
        (
            {
                "deploy": {
                    "resources": {
                        "reservations": {
                            "devices": [{"capabilities": ["gpu"], "count": 1, "device_ids": ["0"]}]
                        }
                    }
                }
            },
            "services.web.deploy.resources.reservations.devices.0.count",
            "cannot both be set",
        ),
        ({"image": None}, "services.web.image", "Input should be a valid string"),
    ],
)
def test_bad_values_name_their_path(fields: dict[str, Any], path: str, message: str) -> None:
    found = issues(web(**fields))
    assert any(p == path and message in m for p, m in found), found


def test_a_missing_image_is_required() -> None:
    assert issues({"services": {"web": {"command": "true"}}}) == [
        ("services.web.image", "is required")
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "is required"),
        ({"services": {}}, "a definition needs at least one service"),
        ({"services": None}, "a definition needs at least one service"),
    ],
)
def test_a_definition_needs_services(raw: dict[str, Any], message: str) -> None:
    assert issues(raw) == [("services", message)]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("build", ".", "building images is not supported"),
        ("env_file", ".env", "`env_file` is not supported"),
        ("extends", {"service": "base"}, "`extends` is not supported"),
        ("configs", ["conf"], "`configs` are not supported"),
        ("secrets", ["pw"], "`secrets` are not supported"),
        ("profiles", ["debug"], "`profiles` are not supported"),
        ("links", ["db"], "`links` are not supported"),
        ("volumes_from", ["db"], "`volumes_from` is not supported"),
        ("scale", 2, "`scale` is not supported"),
        ("storage_opt", {"size": "1G"}, "`storage_opt` is not supported by Dockyard"),
    ],
)
def test_unsupported_service_features_say_so(key: str, value: object, message: str) -> None:
    found = issues(web(**{key: value}))
    assert len(found) == 1
    assert found[0][0] == f"services.web.{key}"
    assert message in found[0][1]


@pytest.mark.parametrize("key", ["include", "configs", "secrets"])
def test_unsupported_top_level_features_say_so(key: str) -> None:
    found = issues({**web(), key: ["x"]})
    assert found[0][0] == key
    assert "not supported" in found[0][1]


def test_swarm_only_deploy_keys_say_so() -> None:
    assert issues(web(deploy={"replicas": 2, "placement": {}})) == [
        (
            "services.web.deploy.replicas",
            "`deploy.replicas` is for Docker Swarm and is not supported",
        ),
        (
            "services.web.deploy.placement",
            "`deploy.placement` is for Docker Swarm and is not supported",
        ),
    ]


def test_every_problem_is_reported_at_once() -> None:
    found = issues(web(build=".", portz=1, ports=["99999"], restart="never"))
    assert [path for path, _ in found] == [
        "services.web.build",
        "services.web.ports.0",
        "services.web.restart",
        "services.web.portz",
    ]


@st.composite
def mount_entries(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A random valid short-syntax mount, and the same mount in long syntax."""
    target = draw(st.sampled_from(["/data", "/srv/app", "/var/lib/x"]))
    read_only = draw(st.booleans())
    if draw(st.booleans()):
        source = draw(st.sampled_from(["./data", "/host/path", "../up", "/"]))
        propagation = draw(st.sampled_from([None, *["private", "rshared", "slave", "rslave"]]))
        selinux = draw(st.sampled_from([None, "z", "Z"]))
        options = [o for o in ("ro" if read_only else "rw", propagation, selinux) if o]
        long: dict[str, Any] = {
            "type": "bind",
            "source": source,
            "target": target,
            "read_only": read_only,
            "bind": {"create_host_path": True, "propagation": propagation, "selinux": selinux},
        }
    else:
        source = draw(st.sampled_from(["data", "cache-1", "db_files"]))
        nocopy = draw(st.booleans())
        options = [o for o in ("ro" if read_only else None, "nocopy" if nocopy else None) if o]
        long = {
            "type": "volume",
            "source": source,
            "target": target,
            "read_only": read_only,
            "volume": {"nocopy": nocopy},
        }
    short = ":".join([source, target, *([",".join(options)] if options else [])])
    return short, long


@given(mount_entries())
def test_random_mounts_have_one_canonical_form(entry: tuple[str, dict[str, Any]]) -> None:
    short, long = entry
    from_short = ComposeDefinition.model_validate(
        {"services": {"web": {"image": "x", "volumes": [short]}}}
    )
    from_long = ComposeDefinition.model_validate(
        {"services": {"web": {"image": "x", "volumes": [long]}}}
    )
    assert from_short == from_long
    assert ComposeDefinition.model_validate(from_short.to_json()) == from_short
