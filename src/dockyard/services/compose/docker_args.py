"""A service's container spec as Docker Engine API arguments, named and labelled like compose.

Names follow docker compose v2: containers `{project}-{service}-{number}` (v1 used `_`),
networks and volumes `{project}_{key}` unless `name:` or `external` says otherwise, and
the default network `{project}_default`. Labels are compose's, so `docker compose ps -p`
and other compose-aware tools recognize the containers.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.services.compose.issues import ComposeError, ComposeIssue, join_path
from dockyard.services.compose.model import (
    ComposeDefinition,
    ContainerSpec,
    MountSpec,
    NetworkSpec,
    ServiceNetworkSpec,
    VolumeSpec,
)
from dockyard.services.compose.units import parse_duration

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
CONTAINER_NUMBER_LABEL = "com.docker.compose.container-number"
ONEOFF_LABEL = "com.docker.compose.oneoff"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
NETWORK_LABEL = "com.docker.compose.network"
VOLUME_LABEL = "com.docker.compose.volume"
DEFAULT_NETWORK = "default"

# Fields that do not change the container itself, so they do not change its config hash.
_NOT_HASHED = ("depends_on", "pull_policy")


def network_name(project: str, key: str, spec: NetworkSpec | None = None) -> str:
    """Network `key`'s Docker name: its `name:`, the key if external, else `{project}_{key}`."""
    if spec is not None and spec.name:
        return spec.name
    if spec is not None and spec.external:
        return key
    return f"{project}_{key}"


def volume_name(project: str, key: str, spec: VolumeSpec | None = None) -> str:
    """Volume `key`'s Docker name: its `name:`, the key if external, else `{project}_{key}`."""
    if spec is not None and spec.name:
        return spec.name
    if spec is not None and spec.external:
        return key
    return f"{project}_{key}"


def container_name(project: str, service: str, spec: ContainerSpec, number: int = 1) -> str:
    """`container_name`, or compose v2's `{project}-{service}-{number}`."""
    return spec.container_name or f"{project}-{service}-{number}"


def service_networks(spec: ContainerSpec) -> dict[str, ServiceNetworkSpec]:
    """The networks a service joins: its own, or `default`; none with a `network_mode`."""
    if spec.network_mode is not None:
        return {}
    return dict(spec.networks) or {DEFAULT_NETWORK: ServiceNetworkSpec()}


def config_hash(spec: ContainerSpec, defn: ComposeDefinition) -> str:
    """A stable sha256 of everything in the definition that shapes this service's container.

    The service's canonical JSON (less `depends_on` and `pull_policy`) plus the top-level
    volumes and networks it uses. Inputs from outside the definition (project directory,
    default publish address, extra labels) are not part of it.
    """
    service = {k: v for k, v in spec.to_json().items() if k not in _NOT_HASHED}
    volume_keys = sorted(
        {m.source for m in spec.volumes if m.type == "volume" and m.source is not None}
    )
    network_keys = sorted(service_networks(spec))
    payload = {
        "service": service,
        "volumes": {
            key: defn.volumes[key].model_dump(mode="json", exclude_defaults=True)
            for key in volume_keys
            if key in defn.volumes
        },
        "networks": {
            key: defn.networks[key].model_dump(mode="json", exclude_defaults=True)
            for key in network_keys
            if key in defn.networks
        },
    }
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass(frozen=True)
class NetworkAttachment:
    """A network to connect the container to, with its endpoint settings."""

    network: str
    aliases: list[str]
    ipv4_address: str | None = None
    ipv6_address: str | None = None

    def endpoint_config(self) -> dict[str, Any]:
        """The Engine API `EndpointSettings` for this attachment."""
        config: dict[str, Any] = {"Aliases": list(self.aliases)}
        ipam = {
            key: value
            for key, value in (
                ("IPv4Address", self.ipv4_address),
                ("IPv6Address", self.ipv6_address),
            )
            if value
        }
        if ipam:
            config["IPAMConfig"] = ipam
        return config


@dataclass
class ContainerCreateArgs:
    """Everything to create one service container with docker-py's low-level `APIClient`.

    Create with `api.create_container(**args.create_container_kwargs())`, or with
    `api.create_container_from_config(args.container_config(), args.name, args.platform)`
    (which also keeps `StartInterval`, a field docker-py's `create_container` drops), then
    connect each of `additional_networks` before starting.
    """

    image: str
    name: str
    command: list[str] | None
    entrypoint: list[str] | None
    environment: list[str]
    labels: dict[str, str]
    host_config: dict[str, Any]
    networking_config: dict[str, Any] | None
    healthcheck: dict[str, Any] | None
    stop_signal: str | None
    stop_timeout: int | None
    working_dir: str | None
    user: str | None
    hostname: str | None
    domainname: str | None
    tty: bool
    stdin_open: bool
    ports: list[tuple[int, str]]
    volumes: list[str]
    mac_address: str | None = None
    platform: str | None = None
    additional_networks: list[NetworkAttachment] = field(default_factory=list)

    def create_container_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `docker.APIClient.create_container`."""
        kwargs: dict[str, Any] = {
            "image": self.image,
            "name": self.name,
            "command": self.command,
            "entrypoint": self.entrypoint,
            "environment": self.environment,
            "labels": self.labels,
            "host_config": self.host_config,
            "networking_config": self.networking_config,
            "healthcheck": self.healthcheck,
            "stop_signal": self.stop_signal,
            "stop_timeout": self.stop_timeout,
            "working_dir": self.working_dir,
            "user": self.user,
            "hostname": self.hostname,
            "domainname": self.domainname,
            "tty": self.tty,
            "stdin_open": self.stdin_open,
            "ports": self.ports or None,
            "volumes": self.volumes or None,
            "mac_address": self.mac_address,
            "detach": True,
            # docker-py would add the server user's proxy settings from ~/.docker/config.json.
            "use_config_proxy": False,
        }
        if self.platform:
            kwargs["platform"] = self.platform
        return kwargs

    def container_config(self) -> dict[str, Any]:
        """The Engine API `POST /containers/create` body."""
        body: dict[str, Any] = {
            "Image": self.image,
            "Cmd": self.command,
            "Entrypoint": self.entrypoint,
            "Env": self.environment,
            "Labels": self.labels,
            "HostConfig": self.host_config,
            "NetworkingConfig": self.networking_config,
            "Healthcheck": self.healthcheck,
            "StopSignal": self.stop_signal,
            "StopTimeout": self.stop_timeout,
            "WorkingDir": self.working_dir,
            "User": self.user,
            "Hostname": self.hostname,
            "Domainname": self.domainname,
            "Tty": self.tty,
            "OpenStdin": self.stdin_open,
            "ExposedPorts": {f"{port}/{protocol}": {} for port, protocol in self.ports} or None,
            "Volumes": {path: {} for path in self.volumes} or None,
            "MacAddress": self.mac_address,
        }
        return {key: value for key, value in body.items() if value is not None}


def container_create_args(
    project: str,
    service: str,
    spec: ContainerSpec,
    *,
    defn: ComposeDefinition,
    container_number: int = 1,
    default_publish_ip: str,
    extra_labels: Mapping[str, str],
    project_dir: str | None = None,
) -> ContainerCreateArgs:
    """The arguments creating container `container_number` of `service` in `project`.

    `default_publish_ip` is the host address of ports published without one.
    `project_dir` anchors relative bind sources (`./data`); a relative source without it
    raises `ComposeError`. `extra_labels` (e.g. Dockyard's own) win over every other label.
    """
    labels = {
        **spec.labels,
        PROJECT_LABEL: project,
        SERVICE_LABEL: service,
        CONTAINER_NUMBER_LABEL: str(container_number),
        ONEOFF_LABEL: "False",
        CONFIG_HASH_LABEL: config_hash(spec, defn),
    }
    if project_dir is not None:
        labels[WORKING_DIR_LABEL] = project_dir
    labels.update(extra_labels)

    host_config = _host_config(project, service, spec, defn, default_publish_ip, project_dir)
    networking_config, additional = _networking(project, service, spec, defn, host_config)
    exposed: list[tuple[int, str]] = [(p.target, p.protocol) for p in spec.ports]
    for entry in spec.expose:
        port, _, protocol = entry.partition("/")
        exposed.append((int(port), protocol))
    stop_timeout = None
    if spec.stop_grace_period is not None:
        stop_timeout = parse_duration(spec.stop_grace_period) // 1_000_000_000
    return ContainerCreateArgs(
        image=spec.image,
        name=container_name(project, service, spec, container_number),
        command=spec.command,
        entrypoint=spec.entrypoint,
        environment=[f"{k}={v}" for k, v in spec.environment.items() if v is not None],
        labels=labels,
        host_config=host_config,
        networking_config=networking_config,
        healthcheck=_healthcheck(spec),
        stop_signal=spec.stop_signal,
        stop_timeout=stop_timeout,
        working_dir=spec.working_dir,
        user=spec.user,
        hostname=spec.hostname,
        domainname=spec.domainname,
        tty=spec.tty,
        stdin_open=spec.stdin_open,
        ports=list(dict.fromkeys(exposed)),
        volumes=[m.target for m in spec.volumes if _is_plain_anonymous_volume(m)],
        mac_address=spec.mac_address,
        platform=spec.platform,
        additional_networks=additional,
    )


def _is_plain_anonymous_volume(mount: MountSpec) -> bool:
    # Declared in the container's `Volumes` like `docker run -v /path`; options need `Mounts`.
    return (
        mount.type == "volume" and mount.source is None and not mount.read_only and not mount.volume
    )


def _host_path(source: str, project_dir: str | None, path: str) -> str:
    if source.startswith("/"):
        return posixpath.normpath(source)
    if project_dir is None:
        raise ComposeError(
            [ComposeIssue(path, f"the relative host path `{source}` needs a project directory")]
        )
    return posixpath.normpath(posixpath.join(project_dir, source))


def _mounts(
    project: str,
    service: str,
    spec: ContainerSpec,
    defn: ComposeDefinition,
    project_dir: str | None,
) -> tuple[list[str], list[dict[str, Any]]]:
    binds: list[str] = []
    mounts: list[dict[str, Any]] = []
    for index, mount in enumerate(spec.volumes):
        mount_path = join_path("services", service, "volumes", index, "source")
        if mount.type == "bind":
            source = _host_path(mount.source or "", project_dir, mount_path)
            options = mount.bind
            if options is not None and (options.create_host_path or options.selinux):
                # `Binds` create a missing host path (and know SELinux labels); `Mounts` do not.
                mode = ["ro" if mount.read_only else "rw"]
                mode += [o for o in (options.propagation, options.selinux) if o]
                binds.append(f"{source}:{mount.target}:{','.join(mode)}")
                continue
            entry: dict[str, Any] = {
                "Type": "bind",
                "Source": source,
                "Target": mount.target,
                "ReadOnly": mount.read_only,
            }
            if options is not None and options.propagation:
                entry["BindOptions"] = {"Propagation": options.propagation}
            mounts.append(entry)
        elif mount.type == "volume":
            if _is_plain_anonymous_volume(mount):
                continue
            entry = {"Type": "volume", "Target": mount.target, "ReadOnly": mount.read_only}
            if mount.source is not None:
                entry["Source"] = volume_name(project, mount.source, defn.volumes.get(mount.source))
            if mount.volume is not None and mount.volume.nocopy:
                entry["VolumeOptions"] = {"NoCopy": True}
            mounts.append(entry)
        else:
            entry = {"Type": "tmpfs", "Target": mount.target, "ReadOnly": mount.read_only}
            if mount.tmpfs is not None and mount.tmpfs.size is not None:
                entry["TmpfsOptions"] = {"SizeBytes": mount.tmpfs.size}
            mounts.append(entry)
    return binds, mounts


def _restart_policy(restart: str) -> dict[str, Any]:
    name, _, count = restart.partition(":")
    policy: dict[str, Any] = {"Name": name}
    if name == "on-failure":
        policy["MaximumRetryCount"] = int(count or 0)
    return policy


def _device(entry: str) -> dict[str, str]:
    parts = entry.split(":")
    host = parts[0]
    container = parts[1] if len(parts) > 1 else host
    permissions = parts[2] if len(parts) > 2 else "rwm"
    return {"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": permissions}


def _host_config(
    project: str,
    service: str,
    spec: ContainerSpec,
    defn: ComposeDefinition,
    default_publish_ip: str,
    project_dir: str | None,
) -> dict[str, Any]:
    config: dict[str, Any] = {}

    bindings: dict[str, list[dict[str, str]]] = {}
    for port in spec.ports:
        # A port without a host port is still published, on a random one (as compose does).
        bindings.setdefault(f"{port.target}/{port.protocol}", []).append(
            {
                "HostIp": port.host_ip or default_publish_ip,
                "HostPort": str(port.published) if port.published is not None else "",
            }
        )
    if bindings:
        config["PortBindings"] = bindings

    binds, mounts = _mounts(project, service, spec, defn, project_dir)
    if binds:
        config["Binds"] = binds
    if mounts:
        config["Mounts"] = mounts
    config["RestartPolicy"] = _restart_policy(spec.restart)

    if spec.cpus is not None:
        config["NanoCpus"] = round(spec.cpus * 1_000_000_000)
    optional = {
        "CpuShares": spec.cpu_shares,
        "CpusetCpus": spec.cpuset,
        "Memory": spec.mem_limit,
        "MemoryReservation": spec.mem_reservation,
        "MemorySwap": spec.memswap_limit,
        "PidsLimit": spec.pids_limit,
        "ShmSize": spec.shm_size,
        "Init": spec.init,
        "PidMode": spec.pid,
        "IpcMode": spec.ipc,
        "UTSMode": spec.uts,
        "UsernsMode": spec.userns_mode,
        "CgroupParent": spec.cgroup_parent,
        "Runtime": spec.runtime,
    }
    config.update({key: value for key, value in optional.items() if value is not None})
    if spec.ulimits:
        config["Ulimits"] = [
            {"Name": name, "Soft": limit.soft, "Hard": limit.hard}
            for name, limit in spec.ulimits.items()
        ]
    if spec.logging is not None:
        config["LogConfig"] = {
            "Type": spec.logging.driver or "",
            "Config": dict(spec.logging.options),
        }
    lists = {
        "CapAdd": spec.cap_add,
        "CapDrop": spec.cap_drop,
        "SecurityOpt": spec.security_opt,
        "ExtraHosts": spec.extra_hosts,
        "Dns": spec.dns,
        "DnsSearch": spec.dns_search,
        "DnsOptions": spec.dns_opt,
        "GroupAdd": spec.group_add,
        "DeviceCgroupRules": spec.device_cgroup_rules,
    }
    config.update({key: list(value) for key, value in lists.items() if value})
    if spec.devices:
        config["Devices"] = [_device(entry) for entry in spec.devices]
    if spec.tmpfs:
        config["Tmpfs"] = {
            path: options for path, _, options in (e.partition(":") for e in spec.tmpfs)
        }
    if spec.sysctls:
        config["Sysctls"] = dict(spec.sysctls)
    if spec.privileged:
        config["Privileged"] = True
    if spec.read_only:
        config["ReadonlyRootfs"] = True
    reservations = (
        spec.deploy.resources.reservations if spec.deploy and spec.deploy.resources else None
    )
    if reservations is not None and reservations.devices:
        config["DeviceRequests"] = [
            {
                "Driver": request.driver or "",
                "Count": -1 if request.count == "all" else (request.count or 0),
                "DeviceIDs": list(request.device_ids) or None,
                "Capabilities": [list(request.capabilities)],
                "Options": dict(request.options),
            }
            for request in reservations.devices
        ]
    return config


def _networking(
    project: str,
    service: str,
    spec: ContainerSpec,
    defn: ComposeDefinition,
    host_config: dict[str, Any],
) -> tuple[dict[str, Any] | None, list[NetworkAttachment]]:
    if spec.network_mode is not None:
        host_config["NetworkMode"] = spec.network_mode
        return None, []
    attachments = []
    # Sorted by key, as compose v2 orders networks of equal priority: the first is primary.
    for key, attachment in sorted(service_networks(spec).items()):
        aliases = list(dict.fromkeys([service, *attachment.aliases]))
        attachments.append(
            NetworkAttachment(
                network=network_name(project, key, defn.networks.get(key)),
                aliases=aliases,
                ipv4_address=attachment.ipv4_address,
                ipv6_address=attachment.ipv6_address,
            )
        )
    primary = attachments[0]
    host_config["NetworkMode"] = primary.network
    return {"EndpointsConfig": {primary.network: primary.endpoint_config()}}, attachments[1:]


def _healthcheck(spec: ContainerSpec) -> dict[str, Any] | None:
    check = spec.healthcheck
    if check is None:
        return None
    result: dict[str, Any] = {}
    if check.test is not None:
        result["Test"] = list(check.test)
    for key, value in (
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
        ("StartInterval", check.start_interval),
    ):
        if value is not None:
            result[key] = parse_duration(value)
    if check.retries is not None:
        result["Retries"] = check.retries
    return result or None


def network_create_args(project: str, key: str, spec: NetworkSpec) -> dict[str, Any] | None:
    """Keyword arguments for `APIClient.create_network`; None for an external network."""
    if spec.external:
        return None
    kwargs: dict[str, Any] = {
        "name": network_name(project, key, spec),
        "driver": spec.driver or "bridge",
        "options": dict(spec.driver_opts) or None,
        "labels": {**spec.labels, PROJECT_LABEL: project, NETWORK_LABEL: key},
        "internal": spec.internal,
        "attachable": spec.attachable,
        "enable_ipv6": spec.enable_ipv6,
    }
    if spec.ipam is not None:
        kwargs["ipam"] = {
            "Driver": spec.ipam.driver or "default",
            "Config": [
                {
                    key: value
                    for key, value in (
                        ("Subnet", pool.subnet),
                        ("IPRange", pool.ip_range),
                        ("Gateway", pool.gateway),
                        ("AuxiliaryAddresses", dict(pool.aux_addresses) or None),
                    )
                    if value
                }
                for pool in spec.ipam.config
            ],
            "Options": dict(spec.ipam.options) or None,
        }
    return kwargs


def volume_create_args(project: str, key: str, spec: VolumeSpec) -> dict[str, Any] | None:
    """Keyword arguments for `APIClient.create_volume`; None for an external volume."""
    if spec.external:
        return None
    return {
        "name": volume_name(project, key, spec),
        "driver": spec.driver or "local",
        "driver_opts": dict(spec.driver_opts) or None,
        "labels": {**spec.labels, PROJECT_LABEL: project, VOLUME_LABEL: key},
    }
