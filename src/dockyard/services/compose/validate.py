"""Cross-checks of a parsed definition: names, references, cycles, ports, resources.

`parse_definition` runs these too; call `validate_definition` directly for a definition
built in code. Every issue names its path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from dockyard.services.compose.issues import ComposeError, ComposeIssue, join_path
from dockyard.services.compose.names import (
    docker_name_problem,
    image_reference_problem,
    name_problem,
)
from dockyard.services.compose.units import parse_duration

if TYPE_CHECKING:
    from dockyard.services.compose.model import ComposeDefinition, ContainerSpec

__all__ = [
    "ComposeError",
    "ComposeIssue",
    "PublishedPort",
    "host_ips_overlap",
    "published_ports",
    "validate_definition",
    "validate_project_name",
]

ENVIRONMENT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
MIN_MEMORY_BYTES = 6 * 1024 * 1024  # Docker refuses a smaller memory limit.
MIN_HEALTHCHECK_NS = 1_000_000  # Docker: zero (the default) or at least 1ms.
ULIMIT_NAMES = frozenset(
    {
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    }
)
_CAPABILITY = re.compile(r"^(?:ALL|(?:CAP_)?[A-Z][A-Z0-9_]*)$")
_SIGNAL = re.compile(r"^(?:SIG)?[A-Z][A-Z0-9+-]*$|^[0-9]+$")
_SYSCTL = re.compile(r"^[a-z0-9_][a-z0-9_./-]*$", re.IGNORECASE)
_LABEL_KEY = re.compile(r"^\S+$")
_LOG_DRIVER = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.:/-]*$")
_HOSTNAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$")
_DEVICE_PERMISSIONS = re.compile(r"^[rwm]{1,3}$")
_TMPFS_OPTION = re.compile(r"^[a-z0-9_-]+(?:=[a-zA-Z0-9.]+)?$")
_WILDCARD_IPS = frozenset({"0.0.0.0", "::"})

_Add = Callable[..., None]  # add(message, *subpath) appends an issue below the service


class PublishedPort(NamedTuple):
    """A host port a definition publishes; `host_ip` None means the node's default address."""

    host_ip: str | None
    port: int
    protocol: str
    service: str


def published_ports(defn: ComposeDefinition) -> list[PublishedPort]:
    """Every published host port of a definition, to check against other services."""
    return [
        PublishedPort(port.host_ip, port.published, port.protocol, name)
        for name, spec in defn.services.items()
        for port in spec.ports
        if port.published is not None
    ]


def host_ips_overlap(a: str | None, b: str | None) -> bool:
    """Whether two bindings of one port clash: same address, or either is a wildcard/default.

    None (the default publish address, not known here) is treated as overlapping everything.
    """
    if a is None or b is None or a in _WILDCARD_IPS or b in _WILDCARD_IPS:
        return True
    return ipaddress.ip_address(a) == ipaddress.ip_address(b)


def validate_project_name(name: str) -> list[ComposeIssue]:
    """Issues with a project name (`NAME_PATTERN`), at path `name`."""
    problem = name_problem(name)
    return [ComposeIssue("name", problem)] if problem else []


def validate_definition(defn: ComposeDefinition) -> list[ComposeIssue]:
    """Every problem a parsed definition still has; empty when it can be deployed."""
    issues: list[ComposeIssue] = []
    issues.extend(_check_names(defn))
    for name, spec in defn.services.items():
        issues.extend(_check_service(defn, name, spec))
    issues.extend(_check_dependencies(defn))
    issues.extend(_check_port_clashes(defn))
    issues.extend(_check_container_names(defn))
    return issues


def _check_names(defn: ComposeDefinition) -> Iterator[ComposeIssue]:
    for section, keys in (
        ("services", defn.services),
        ("volumes", defn.volumes),
        ("networks", defn.networks),
    ):
        for key in keys:
            problem = name_problem(key)
            if problem:
                yield ComposeIssue(join_path(section, key), problem)
    for section, resources in (("volumes", defn.volumes), ("networks", defn.networks)):
        for key, resource in resources.items():
            path = join_path(section, key)
            if resource.name is not None:
                problem = docker_name_problem(resource.name)
                if problem:
                    yield ComposeIssue(join_path(path, "name"), problem)
            if resource.external and (resource.driver or resource.driver_opts or resource.labels):
                yield ComposeIssue(
                    path, "an external resource is not created, so it takes no driver or labels"
                )
    for key, network in defn.networks.items():
        path = join_path("networks", key)
        if network.external and (network.internal or network.ipam or network.enable_ipv6):
            yield ComposeIssue(path, "an external network is not created: drop its options")
        for index, pool in enumerate(network.ipam.config if network.ipam else []):
            pool_path = join_path(path, "ipam", "config", index)
            for field in ("subnet", "ip_range"):
                value = getattr(pool, field)
                if value is not None and not _is_network(value):
                    yield ComposeIssue(join_path(pool_path, field), f"`{value}` is not a subnet")
            if pool.gateway is not None and not _is_ip(pool.gateway):
                yield ComposeIssue(join_path(pool_path, "gateway"), "is not an IP address")
            for host, address in pool.aux_addresses.items():
                if not _is_ip(address):
                    yield ComposeIssue(
                        join_path(pool_path, "aux_addresses", host), "is not an IP address"
                    )


def _check_service(defn: ComposeDefinition, name: str, spec: ContainerSpec) -> list[ComposeIssue]:
    base = join_path("services", name)
    issues: list[ComposeIssue] = []

    def add(message: str, *subpath: object) -> None:
        issues.append(ComposeIssue(join_path(base, *subpath), message))

    problem = image_reference_problem(spec.image)
    if problem:
        add(problem, "image")
    if spec.container_name is not None:
        problem = docker_name_problem(spec.container_name)
        if problem:
            add(problem, "container_name")

    for key in spec.environment:
        if not ENVIRONMENT_KEY.match(key):
            add(
                "is not a valid variable name: use letters, digits, `_`, `.` or `-`, "
                "not starting with a digit",
                "environment",
                key,
            )
    for key in spec.labels:
        if not _LABEL_KEY.match(key):
            add("a label key cannot be empty or contain spaces", "labels", key)

    _check_mounts(defn, spec, add)
    _check_networks(defn, spec, add)
    _check_resources(spec, add)
    _check_healthcheck(spec, add)

    for field in ("cap_add", "cap_drop"):
        for index, capability in enumerate(getattr(spec, field)):
            if not _CAPABILITY.match(capability):
                add(f"`{capability}` is not a capability name like NET_ADMIN", field, index)
    if spec.stop_signal is not None and not _SIGNAL.match(spec.stop_signal):
        add("is not a signal name like SIGTERM", "stop_signal")
    for key in spec.sysctls:
        if not _SYSCTL.match(key):
            add("is not a sysctl name", "sysctls", key)
    for limit_name, limit in spec.ulimits.items():
        if limit_name not in ULIMIT_NAMES:
            add(f"unknown ulimit; known: {', '.join(sorted(ULIMIT_NAMES))}", "ulimits", limit_name)
        if limit.soft > limit.hard:
            add("the soft limit is above the hard limit", "ulimits", limit_name)
    driver = spec.logging.driver if spec.logging is not None else None
    if driver is not None and not _LOG_DRIVER.match(driver):
        add("is not a log driver name", "logging", "driver")
    for index, entry in enumerate(spec.extra_hosts):
        host, _, address = entry.partition(":")
        if not _HOSTNAME.match(host) or not (address == "host-gateway" or _is_ip(address)):
            add("must be `hostname:ip` (or `hostname:host-gateway`)", "extra_hosts", index)
    for index, address in enumerate(spec.dns):
        if not _is_ip(address):
            add("is not an IP address", "dns", index)
    for field in ("hostname", "domainname"):
        value = getattr(spec, field)
        if value is not None and not _HOSTNAME.match(value):
            add("is not a valid host name", field)
    for index, device in enumerate(spec.devices):
        parts = device.split(":")
        paths_ok = all(p.startswith("/") for p in parts[:2])
        perms_ok = len(parts) < 3 or _DEVICE_PERMISSIONS.match(parts[2]) is not None
        if len(parts) > 3 or not paths_ok or not perms_ok:
            add("must be `/dev/host[:/dev/container[:rwm]]`", "devices", index)
    for index, entry in enumerate(spec.tmpfs):
        path, _, options = entry.partition(":")
        if not path.startswith("/"):
            add(
                "must be an absolute container path, optionally `:size=64m,mode=1777`",
                "tmpfs",
                index,
            )
        elif options and not all(_TMPFS_OPTION.match(o) for o in options.split(",")):
            add("has malformed options", "tmpfs", index)
    for index, request in enumerate(
        spec.deploy.resources.reservations.devices
        if spec.deploy and spec.deploy.resources and spec.deploy.resources.reservations
        else []
    ):
        if isinstance(request.count, int) and request.count < 1:
            add(
                "must be at least 1, or `all`",
                "deploy.resources.reservations.devices",
                index,
                "count",
            )
    return issues


def _check_mounts(defn: ComposeDefinition, spec: ContainerSpec, add: _Add) -> None:
    targets: dict[str, int] = {}
    for index, mount in enumerate(spec.volumes):
        if not mount.target.startswith("/"):
            add("must be an absolute container path", "volumes", index, "target")
        elif mount.target.rstrip("/") in targets:
            add(
                f"mounts at the same path as volumes.{targets[mount.target.rstrip('/')]}",
                "volumes",
                index,
                "target",
            )
        else:
            targets[mount.target.rstrip("/")] = index
        if mount.type == "volume" and mount.source and mount.source not in defn.volumes:
            add(
                f"volume `{mount.source}` is not declared under the top-level `volumes`",
                "volumes",
                index,
                "source",
            )
        if mount.type == "bind" and mount.source is not None and mount.source.startswith("~"):
            add(
                "`~` is not expanded on the server: use an absolute path or one relative "
                "to the project directory",
                "volumes",
                index,
                "source",
            )


def _check_networks(defn: ComposeDefinition, spec: ContainerSpec, add: _Add) -> None:
    if spec.network_mode is not None and spec.networks:
        add("`network_mode` and `networks` cannot both be set", "network_mode")
    for network, attachment in spec.networks.items():
        if network != "default" and network not in defn.networks:
            add(
                f"network `{network}` is not declared under the top-level `networks`",
                "networks",
                network,
            )
        if attachment.ipv4_address is not None and not _is_ip(attachment.ipv4_address, 4):
            add("is not an IPv4 address", "networks", network, "ipv4_address")
        if attachment.ipv6_address is not None and not _is_ip(attachment.ipv6_address, 6):
            add("is not an IPv6 address", "networks", network, "ipv6_address")
        for index, alias in enumerate(attachment.aliases):
            if not _HOSTNAME.match(alias):
                add("is not a valid host name", "networks", network, "aliases", index)


def _check_resources(spec: ContainerSpec, add: _Add) -> None:
    if spec.cpus is not None and spec.cpus <= 0:
        add("must be more than 0", "cpus")
    reservations = (
        spec.deploy.resources.reservations if spec.deploy and spec.deploy.resources else None
    )
    if reservations is not None and reservations.cpus is not None and reservations.cpus <= 0:
        add("must be more than 0", "deploy", "resources", "reservations", "cpus")
    if spec.cpu_shares is not None and spec.cpu_shares < 0:
        add("cannot be negative", "cpu_shares")
    if spec.mem_limit is not None and spec.mem_limit < MIN_MEMORY_BYTES:
        add("must be at least 6m (Docker's minimum)", "mem_limit")
    if spec.mem_reservation is not None:
        if spec.mem_reservation <= 0:
            add("must be more than 0", "mem_reservation")
        elif spec.mem_limit is not None and spec.mem_reservation > spec.mem_limit:
            add("must not be above mem_limit", "mem_reservation")
    if spec.memswap_limit is not None and spec.memswap_limit != -1:
        if spec.mem_limit is None:
            add("needs mem_limit", "memswap_limit")
        elif spec.memswap_limit < spec.mem_limit:
            add("must be at least mem_limit (it counts memory plus swap), or -1", "memswap_limit")
    if spec.pids_limit is not None and spec.pids_limit < -1:
        add("must be a positive number, or -1 or 0 for no limit", "pids_limit")
    if spec.shm_size is not None and spec.shm_size <= 0:
        add("must be more than 0", "shm_size")
    if (
        spec.stop_grace_period is not None
        and parse_duration(spec.stop_grace_period) % 1_000_000_000
    ):
        add(
            "must be whole seconds (Docker stops containers with a timeout in seconds)",
            "stop_grace_period",
        )


def _check_healthcheck(spec: ContainerSpec, add: _Add) -> None:
    check = spec.healthcheck
    if check is None:
        return
    test = check.test
    if test is not None:
        kind = test[0] if test else ""
        if kind == "NONE":
            if len(test) != 1:
                add("`NONE` takes no arguments", "healthcheck", "test")
        elif kind == "CMD":
            if len(test) < 2:
                add("`CMD` needs a command", "healthcheck", "test")
        elif kind == "CMD-SHELL":
            if len(test) != 2 or not test[1].strip():
                add("`CMD-SHELL` takes one shell command", "healthcheck", "test")
        else:
            add(
                "must be a shell command string, or a list starting with CMD, CMD-SHELL or NONE",
                "healthcheck",
                "test",
            )
    for field in ("interval", "timeout", "start_period", "start_interval"):
        value = getattr(check, field)
        if value is not None and 0 < parse_duration(value) < MIN_HEALTHCHECK_NS:
            add("must be 0 or at least 1ms", "healthcheck", field)
    if check.retries is not None and check.retries < 0:
        add("cannot be negative", "healthcheck", "retries")


def _check_dependencies(defn: ComposeDefinition) -> Iterator[ComposeIssue]:
    for name, spec in defn.services.items():
        for target, dependency in spec.depends_on.items():
            path = join_path("services", name, "depends_on", target)
            if target == name:
                yield ComposeIssue(path, "a service cannot depend on itself")
            elif target not in defn.services and dependency.required:
                yield ComposeIssue(path, f"service `{target}` is not defined")
    cycle = _find_cycle(defn)
    if cycle:
        yield ComposeIssue(
            join_path("services", cycle[0], "depends_on"),
            f"dependency cycle: {' -> '.join(cycle)}",
        )


def _find_cycle(defn: ComposeDefinition) -> list[str] | None:
    """The first `depends_on` cycle as `[a, b, ..., a]`, in a stable order; None if acyclic."""
    done: set[str] = set()
    for start in sorted(defn.services):
        if start in done:
            continue
        # Iterative depth-first search: `path` is the current chain, one iterator per link.
        path: list[str] = [start]
        on_path = {start}
        iterators = [iter(sorted(defn.services[start].depends_on))]
        while iterators:
            following = next(iterators[-1], None)
            if following is None:
                iterators.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            # Self-dependencies are reported on their own, not as a cycle.
            if following not in defn.services or following in done or following == path[-1]:
                continue
            if following in on_path:
                return [*path[path.index(following) :], following]
            path.append(following)
            on_path.add(following)
            iterators.append(iter(sorted(defn.services[following].depends_on)))
    return None


def _check_port_clashes(defn: ComposeDefinition) -> Iterator[ComposeIssue]:
    seen: list[tuple[PublishedPort, str]] = []
    for name, spec in defn.services.items():
        for index, port in enumerate(spec.ports):
            if port.published is None:
                continue
            current = PublishedPort(port.host_ip, port.published, port.protocol, name)
            path = join_path("services", name, "ports", index)
            for earlier, earlier_path in seen:
                if (
                    earlier.port == current.port
                    and earlier.protocol == current.protocol
                    and host_ips_overlap(earlier.host_ip, current.host_ip)
                ):
                    yield ComposeIssue(
                        path,
                        f"host port {current.port}/{current.protocol} is already published "
                        f"by {earlier_path}",
                    )
                    break
            seen.append((current, path))


def _check_container_names(defn: ComposeDefinition) -> Iterator[ComposeIssue]:
    owners: dict[str, str] = {}
    for name, spec in defn.services.items():
        if spec.container_name is None:
            continue
        if spec.container_name in owners:
            yield ComposeIssue(
                join_path("services", name, "container_name"),
                f"is also the container name of service `{owners[spec.container_name]}`",
            )
        else:
            owners[spec.container_name] = name


def _is_ip(text: str, version: int | None = None) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return version is None or address.version == version


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True
