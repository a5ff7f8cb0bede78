"""Adopting what already runs on a node: compose projects and loose containers.

Listing: every container that does not carry this installation's id, grouped by compose
project (one-off `run` containers left out).

Adopting: a compose definition is rebuilt from `docker inspect` (the image's own defaults
left out), saved as a new service (revision 1, source `adopt`), and a `service.deploy` job
is queued in the same transaction. Docker labels are immutable, so the deploy replaces
each adopted container with one carrying Dockyard's labels, through the deploy's safe
recreate path (stop, rename, create, remove the old one; the old one comes back on
failure). Names, ports and volumes (the SAME Docker volumes, so the data) are kept.

The deploy code finds a service's containers by Dockyard's labels, which adopted
containers lack: `adopted_containers` gives it the ones to replace, from the ids recorded
in the service's first deploy job (so a failed first deploy can simply be run again).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.engine.adapter import DockerEngine
from dockyard.engine.errors import EngineNotFoundError
from dockyard.jobs.models import Job
from dockyard.jobs.schemas import JobOut
from dockyard.kit.db import Database
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.nodes import repository as nodes
from dockyard.nodes.models import Node
from dockyard.services import service as services
from dockyard.services.compose import (
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    WORKING_DIR_LABEL,
    format_duration,
)
from dockyard.services.compose.docker_args import NETWORK_LABEL, VOLUME_LABEL
from dockyard.services.compose.policy import PolicyContext
from dockyard.services.compose.validate import ENVIRONMENT_KEY
from dockyard.services.models import Service
from dockyard.services.schemas import (
    PortOut,
    ServiceCreate,
    ServiceDetail,
    check_service_name,
)
from dockyard.services.status import (
    COMPOSE_NUMBER_LABEL,
    INSTANCE_LABEL,
    REVISION_LABEL,
    SERVICE_ID_LABEL,
)
from dockyard.users.models import User

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
DEPENDS_ON_LABEL = "com.docker.compose.depends_on"
COMPOSE_VERSION_LABEL = "com.docker.compose.version"
_DOCKYARD_LABELS = frozenset({INSTANCE_LABEL, SERVICE_ID_LABEL, REVISION_LABEL})
_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_ANONYMOUS_VOLUME = re.compile(r"^[0-9a-f]{64}$")
_IMAGE_ID = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")
_CONTAINER_REF = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
_DEFAULT_SHM_BYTES = 64 * 1024 * 1024
_BUILTIN_NETWORKS = ("bridge", "host", "none")
_WILDCARD_IPS = ("0.0.0.0", "::")
MAX_CONTAINERS = 100


# ---------------------------------------------------------------- API shapes


class AdoptRequest(BaseModel):
    """Adopt a compose `project`, or loose `container_ids` as one new service `name`."""

    model_config = ConfigDict(extra="forbid")

    node_id: int | None = None
    project: str | None = Field(default=None, min_length=1, max_length=255)
    container_ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_CONTAINERS)
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="The service name; a project keeps its own name by default, which avoids "
        "moving its containers to another compose project.",
    )
    description: str | None = Field(default=None, max_length=2000)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else check_service_name(value)

    @field_validator("container_ids")
    @classmethod
    def _refs(cls, value: list[str] | None) -> list[str] | None:
        for ref in value or []:
            if not _CONTAINER_REF.match(ref):
                raise ValueError(f"`{ref[:80]}` is not a container id or name")
        return None if value is None else list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _one_source(self) -> AdoptRequest:
        if (self.project is None) == (self.container_ids is None):
            raise ValueError("give exactly one of `project` or `container_ids`")
        if self.container_ids is not None and self.name is None:
            raise ValueError("adopting containers needs the `name` of the new service")
        return self


class AdoptResult(ServiceDetail):
    """The new service, the deploy job that takes its containers over, and what was lost."""

    job: JobOut
    warnings: list[str]


class UnmanagedProjectContainer(BaseModel):
    id: str
    name: str
    service: str | None
    image: str
    state: str


class UnmanagedProject(BaseModel):
    name: str
    containers: list[UnmanagedProjectContainer]
    services: list[str]
    working_dir: str | None = None
    config_files: list[str] | None = None


class UnmanagedContainer(BaseModel):
    id: str
    name: str
    image: str
    state: str
    ports: list[PortOut]


class UnmanagedOut(BaseModel):
    """What runs on a node without this Dockyard managing it."""

    projects: list[UnmanagedProject]
    containers: list[UnmanagedContainer]


# ---------------------------------------------------------------- small helpers


def _name(container: Mapping[str, Any]) -> str:
    """A container's name, from a list summary (`Names`) or an inspect (`Name`)."""
    names = container.get("Names")
    raw = names[0] if names else container.get("Name") or str(container.get("Id", ""))[:12]
    return str(raw).lstrip("/")


def _labels(container: Mapping[str, Any]) -> dict[str, str]:
    labels = container.get("Labels")
    if labels is None:
        labels = (container.get("Config") or {}).get("Labels")
    return dict(labels or {})


def _is_oneoff(labels: Mapping[str, str]) -> bool:
    return labels.get(ONEOFF_LABEL, "False") == "True"


def _managed_here(labels: Mapping[str, str], instance_id: str) -> bool:
    return bool(instance_id) and labels.get(INSTANCE_LABEL) == instance_id


def sanitize_key(text: str, fallback: str = "service") -> str:
    """`text` as a compose key (`NAME_PATTERN`): lower case, other characters as `-`."""
    key = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:63].rstrip("-_")
    return key or fallback


def _unique(key: str, taken: Mapping[str, object] | set[str]) -> str:
    if key not in taken:
        return key
    number = 2
    while True:
        suffix = f"-{number}"
        candidate = key[: 63 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        number += 1


def parse_depends_on(value: str) -> dict[str, dict[str, Any]]:
    """Compose v2's `com.docker.compose.depends_on` label (`db:service_healthy:false,...`)."""
    result: dict[str, dict[str, Any]] = {}
    for entry in value.split(","):
        parts = entry.strip().split(":")
        if not parts[0]:
            continue
        dependency: dict[str, Any] = {}
        if len(parts) > 1 and parts[1] in _CONDITIONS and parts[1] != "service_started":
            dependency["condition"] = parts[1]
        if len(parts) > 2 and parts[2].lower() == "true":
            dependency["restart"] = True
        result[parts[0]] = dependency
    return result


def _ns_duration(value: object) -> str | None:
    return format_duration(value) if isinstance(value, int) and value > 0 else None


# ---------------------------------------------------------------- inspect -> definition


@dataclass
class AdoptionDraft:
    """A definition rebuilt from running containers, and which containers it replaces."""

    definition: dict[str, Any]
    containers: dict[str, list[str]]  # compose service key -> container ids to replace
    warnings: list[str]


@dataclass
class _Builder:
    project: str | None
    name: str
    images: Mapping[str, Mapping[str, Any]]
    volume_info: Mapping[str, Mapping[str, Any]]
    network_info: Mapping[str, Mapping[str, Any]]
    default_log_driver: str
    warnings: list[str] = field(default_factory=list)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volume_keys: dict[str, str] = field(default_factory=dict)  # Docker name -> key
    network_keys: dict[str, str] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # ---- volumes and networks: the project's own keep their Docker names

    def _own_key(self, docker_name: str, info: Mapping[str, Any] | None, label: str) -> str | None:
        """The compose key of one of the project's own volumes or networks, else None."""
        if self.project is None:
            return None
        if info is not None:
            labels = info.get("Labels") or {}
            if labels.get(PROJECT_LABEL) == self.project and labels.get(label):
                return str(labels[label])
            return None
        prefix = f"{self.project}_"
        return docker_name[len(prefix) :] if docker_name.startswith(prefix) else None

    def _user_labels(self, info: Mapping[str, Any]) -> dict[str, str]:
        labels = info.get("Labels") or {}
        return {
            k: str(v)
            for k, v in labels.items()
            if not k.startswith("com.docker.compose.") and k not in _DOCKYARD_LABELS
        }

    def volume_key(self, docker_name: str, target: str, container: str) -> str:
        if docker_name in self.volume_keys:
            return self.volume_keys[docker_name]
        info = self.volume_info.get(docker_name) or {}
        own = self._own_key(docker_name, self.volume_info.get(docker_name), VOLUME_LABEL)
        spec: dict[str, Any]
        if own is not None:
            key = _unique(sanitize_key(own, "data"), self.volumes)
            spec = {}
            # `volume_name(service, key)` must give this very volume, or the deploy would
            # create an empty one next to it.
            if docker_name != f"{self.name}_{key}":
                spec["name"] = docker_name
            if info.get("Driver") not in (None, "", "local"):
                spec["driver"] = info["Driver"]
            if info.get("Options"):
                spec["driver_opts"] = dict(info["Options"])
            if self._user_labels(info):
                spec["labels"] = self._user_labels(info)
        else:
            if _ANONYMOUS_VOLUME.match(docker_name):
                key = _unique(f"anon-{docker_name[:12]}", self.volumes)
                self.warn(
                    f"{container}: the anonymous volume at {target} is kept as external "
                    f"volume `{key}` so its data survives the recreate"
                )
            else:
                key = _unique(sanitize_key(docker_name, "volume"), self.volumes)
            spec = {"external": True}
            if key != docker_name:
                spec["name"] = docker_name
        self.volumes[key] = spec
        self.volume_keys[docker_name] = key
        return key

    def network_key(self, docker_name: str) -> str:
        if docker_name in self.network_keys:
            return self.network_keys[docker_name]
        info = self.network_info.get(docker_name) or {}
        own = self._own_key(docker_name, self.network_info.get(docker_name), NETWORK_LABEL)
        spec: dict[str, Any] | None
        if own is not None:
            key = "default" if own == "default" else sanitize_key(own, "net")
            if key != "default":
                key = _unique(key, self.networks)
            spec = {}
            if docker_name != f"{self.name}_{key}":
                spec["name"] = docker_name
            driver = info.get("Driver")
            if driver not in (None, "", "bridge"):
                spec["driver"] = driver
            if info.get("Options"):
                spec["driver_opts"] = dict(info["Options"])
            if info.get("Internal"):
                spec["internal"] = True
            if info.get("EnableIPv6"):
                spec["enable_ipv6"] = True
            # compose 1.x marks its bridge networks attachable, which only overlays use.
            if driver == "overlay" and info.get("Attachable"):
                spec["attachable"] = True
            if self._user_labels(info):
                spec["labels"] = self._user_labels(info)
            if key == "default" and not spec:
                spec = None  # the implicit `{service}_default`
        else:
            key = _unique(sanitize_key(docker_name, "net"), self.networks)
            if key == "default":
                key = _unique("default-net", self.networks)
            spec = {"external": True}
            if key != docker_name:
                spec["name"] = docker_name
        if spec is not None:
            self.networks[key] = spec
        self.network_keys[docker_name] = key
        return key

    # ---- one service

    def service(self, c: Mapping[str, Any], key: str) -> dict[str, Any]:
        config: Mapping[str, Any] = c.get("Config") or {}
        host: Mapping[str, Any] = c.get("HostConfig") or {}
        cname = _name(c)
        image_info = self.images.get(str(c.get("Image", "")))
        image_config: Mapping[str, Any] = (image_info or {}).get("Config") or {}
        spec: dict[str, Any] = {"image": self._image(c, image_info)}
        if image_info is None:
            self.warn(f"{cname}: its image could not be inspected, so image defaults are kept")

        entrypoint = config.get("Entrypoint")
        command = config.get("Cmd")
        if (entrypoint or None) != (image_config.get("Entrypoint") or None):
            spec["entrypoint"] = list(entrypoint or [""])
            # A new entrypoint drops the image's command, so the command is always given.
            if command:
                spec["command"] = list(command)
        elif command and list(command) != list(image_config.get("Cmd") or []):
            spec["command"] = list(command)

        image_env = set(image_config.get("Env") or [])
        environment: dict[str, str] = {}
        for entry in config.get("Env") or []:
            if entry in image_env:
                continue
            var, _, value = str(entry).partition("=")
            if ENVIRONMENT_KEY.match(var):
                environment[var] = value
            else:
                self.warn(f"{cname}: environment variable `{var}` has an unusable name: dropped")
        if environment:
            spec["environment"] = environment

        for field_name, attribute in (
            ("working_dir", "WorkingDir"),
            ("user", "User"),
            ("stop_signal", "StopSignal"),
            ("domainname", "Domainname"),
        ):
            setting = config.get(attribute)
            if setting and setting != image_config.get(attribute):
                spec[field_name] = setting
        hostname = config.get("Hostname")
        # Docker names a container's host after its short id unless told otherwise.
        if hostname and hostname != str(c.get("Id", ""))[:12]:
            spec["hostname"] = hostname
        if isinstance(config.get("StopTimeout"), int) and config["StopTimeout"] >= 0:
            spec["stop_grace_period"] = format_duration(config["StopTimeout"] * 1_000_000_000)
        if config.get("Tty"):
            spec["tty"] = True
        if config.get("OpenStdin"):
            spec["stdin_open"] = True
        if config.get("MacAddress"):
            spec["mac_address"] = config["MacAddress"]

        labels = {
            k: str(v)
            for k, v in (config.get("Labels") or {}).items()
            if not k.startswith("com.docker.compose.")
            and k not in _DOCKYARD_LABELS
            and (image_config.get("Labels") or {}).get(k) != v
        }
        bad_labels = [k for k in labels if not k or any(ch.isspace() for ch in k)]
        for k in bad_labels:
            del labels[k]
            self.warn(f"{cname}: label `{k}` has an unusable key: dropped")
        if labels:
            spec["labels"] = labels

        healthcheck = self._healthcheck(config.get("Healthcheck"), image_config.get("Healthcheck"))
        if healthcheck is not None:
            spec["healthcheck"] = healthcheck

        self._ports(c, config, host, image_config, spec)
        self._mounts(c, host, spec)
        self._networking(c, host, key, spec)
        self._host_options(cname, host, spec)
        return spec

    def _image(self, c: Mapping[str, Any], image_info: Mapping[str, Any] | None) -> str:
        cname = _name(c)
        reference = str((c.get("Config") or {}).get("Image") or "")
        image_id = str(c.get("Image", ""))
        if not reference or _IMAGE_ID.match(reference):
            # Created from an image id: fall back to a name the image is known by.
            tags = list((image_info or {}).get("RepoTags") or [])
            digests = list((image_info or {}).get("RepoDigests") or [])
            if tags or digests:
                reference = (tags or digests)[0]
                self.warn(f"{cname}: created from an image id; it runs `{reference}` from now on")
            else:
                raise ValidationFailedError(
                    f"{cname} was created from image {image_id[:19]}, which has no name: "
                    "tag the image, then adopt again.",
                    code="image_not_named",
                    details={"errors": [{"path": "image", "message": "the image has no name"}]},
                )
        current = self.images.get(reference)
        if current is not None and image_info is not None and current.get("Id") != image_id:
            self.warn(
                f"{cname}: `{reference}` now names a newer image than the one it runs; "
                "the deploy starts the newer one"
            )
        return reference

    def _healthcheck(self, check: object, image_check: object) -> dict[str, Any] | None:
        if not isinstance(check, Mapping) or check == image_check:
            return None
        result: dict[str, Any] = {}
        if check.get("Test"):
            result["test"] = list(check["Test"])
        for name, attribute in (
            ("interval", "Interval"),
            ("timeout", "Timeout"),
            ("start_period", "StartPeriod"),
            ("start_interval", "StartInterval"),
        ):
            duration = _ns_duration(check.get(attribute))
            if duration is not None:
                result[name] = duration
        if check.get("Retries"):
            result["retries"] = int(check["Retries"])
        return result or None

    def _ports(
        self,
        c: Mapping[str, Any],
        config: Mapping[str, Any],
        host: Mapping[str, Any],
        image_config: Mapping[str, Any],
        spec: dict[str, Any],
    ) -> None:
        cname = _name(c)
        actual = (c.get("NetworkSettings") or {}).get("Ports") or {}
        ports: list[dict[str, Any]] = []
        bindings: Mapping[str, Any] = host.get("PortBindings") or {}
        exposed = list((config.get("ExposedPorts") or {}).keys())
        if host.get("PublishAllPorts"):
            # `-P`: every exposed port on a random host port, which compose spells this way.
            bindings = {**{p: [{"HostIp": "", "HostPort": ""}] for p in exposed}, **bindings}
        seen: set[tuple[int, str, int | None]] = set()
        for port_key in sorted(bindings, key=_port_sort):
            target, _, protocol = port_key.partition("/")
            for index, binding in enumerate(bindings[port_key] or []):
                host_port = str(binding.get("HostPort") or "")
                if not host_port:
                    # A random host port (`-p ::80`, `-P`): keep the one it has now, so
                    # whatever reaches the service today still does after adoption.
                    bound = actual.get(port_key) or []
                    chosen = bound[index] if index < len(bound) else {}
                    host_port = str(chosen.get("HostPort") or "")
                    if host_port:
                        self.warn(
                            f"{cname}: container port {port_key} had a random host port; "
                            f"it keeps host port {host_port} from now on"
                        )
                if "-" in host_port:
                    bound = actual.get(port_key) or []
                    chosen = bound[index] if index < len(bound) else {}
                    host_port = str(chosen.get("HostPort") or host_port.split("-")[0])
                    self.warn(
                        f"{cname}: container port {port_key} was published on a range of host "
                        f"ports; it keeps host port {host_port}"
                    )
                published = int(host_port) if host_port.isdigit() else None
                # No address means every address; kept explicit, not the node's default.
                host_ip = str(binding.get("HostIp") or "") or "0.0.0.0"
                if host_ip in _WILDCARD_IPS:
                    # Validation sees `0.0.0.0` and `::` as one address, as Docker binds both.
                    wildcard = (int(target), protocol or "tcp", published)
                    if wildcard in seen:
                        continue
                    seen.add(wildcard)
                entry: dict[str, Any] = {"target": int(target), "host_ip": host_ip}
                if published is not None:
                    entry["published"] = published
                if protocol and protocol != "tcp":
                    entry["protocol"] = protocol
                ports.append(entry)
        if ports:
            spec["ports"] = ports
        image_exposed = set((image_config.get("ExposedPorts") or {}).keys())
        expose = [
            p
            for p in sorted(exposed, key=_port_sort)
            if p not in image_exposed and p not in bindings
        ]
        if expose:
            spec["expose"] = expose

    def _mounts(self, c: Mapping[str, Any], host: Mapping[str, Any], spec: dict[str, Any]) -> None:
        cname = _name(c)
        bind_targets = {
            parts[1]
            for parts in (str(b).split(":") for b in host.get("Binds") or [])
            if len(parts) > 1
        }
        mount_options = {
            str(m.get("Target")): m for m in host.get("Mounts") or [] if isinstance(m, Mapping)
        }
        mounts: list[dict[str, Any]] = []
        for m in sorted(c.get("Mounts") or [], key=lambda m: str(m.get("Destination", ""))):
            kind = m.get("Type")
            target = str(m.get("Destination") or "")
            mode = str(m.get("Mode") or "").split(",")
            entry: dict[str, Any] = {"type": kind, "target": target}
            if not m.get("RW", True):
                entry["read_only"] = True
            if kind == "bind":
                entry["source"] = m.get("Source")
                options: dict[str, Any] = {}
                propagation = m.get("Propagation")
                if propagation and propagation != "rprivate":
                    options["propagation"] = propagation
                if target in bind_targets:  # `-v` binds create a missing host path
                    options["create_host_path"] = True
                selinux = [o for o in mode if o in ("z", "Z")]
                if selinux:
                    options["selinux"] = selinux[0]
                if options:
                    entry["bind"] = options
            elif kind == "volume":
                entry["source"] = self.volume_key(str(m.get("Name")), target, cname)
                if "nocopy" in mode or (
                    (mount_options.get(target) or {}).get("VolumeOptions") or {}
                ).get("NoCopy"):
                    entry["volume"] = {"nocopy": True}
            elif kind == "tmpfs":
                size = ((mount_options.get(target) or {}).get("TmpfsOptions") or {}).get(
                    "SizeBytes"
                )
                if size:
                    entry["tmpfs"] = {"size": int(size)}
            else:
                self.warn(f"{cname}: the {kind} mount at {target} cannot be adopted: dropped")
                continue
            mounts.append(entry)
        if mounts:
            spec["volumes"] = mounts
        tmpfs = host.get("Tmpfs") or {}
        if tmpfs:
            spec["tmpfs"] = [f"{p}:{o}" if o else p for p, o in sorted(tmpfs.items())]

    def _networking(
        self, c: Mapping[str, Any], host: Mapping[str, Any], key: str, spec: dict[str, Any]
    ) -> None:
        cname = _name(c)
        mode = str(host.get("NetworkMode") or "default")
        attached: Mapping[str, Any] = (c.get("NetworkSettings") or {}).get("Networks") or {}
        if mode in ("host", "none"):
            spec["network_mode"] = mode
            return
        if mode.startswith("container:"):
            self.warn(
                f"{cname}: it shares another container's network ({mode}), which Dockyard "
                "does not do: it gets its own network"
            )
            return
        user_networks = {n: a for n, a in attached.items() if n not in _BUILTIN_NETWORKS}
        if not user_networks:
            if mode in ("default", "bridge") and "bridge" in attached:
                spec["network_mode"] = "bridge"
            return
        if "bridge" in attached:
            self.warn(f"{cname}: it is also on Docker's default bridge, which is dropped")
        own_names = {cname, str(c.get("Id", ""))[:12], key, _labels(c).get(SERVICE_LABEL, "")}
        networks: dict[str, dict[str, Any]] = {}
        for docker_name, attachment in sorted(user_networks.items()):
            network = self.network_key(docker_name)
            options: dict[str, Any] = {}
            aliases = [a for a in (attachment or {}).get("Aliases") or [] if a not in own_names]
            if aliases:
                options["aliases"] = list(dict.fromkeys(aliases))
            ipam = (attachment or {}).get("IPAMConfig") or {}
            if ipam.get("IPv4Address"):
                options["ipv4_address"] = ipam["IPv4Address"]
            if ipam.get("IPv6Address"):
                options["ipv6_address"] = ipam["IPv6Address"]
            networks[network] = options
        if set(networks) != {"default"} or networks["default"]:
            spec["networks"] = networks

    def _host_options(self, cname: str, host: Mapping[str, Any], spec: dict[str, Any]) -> None:
        policy = host.get("RestartPolicy") or {}
        restart = policy.get("Name") or "no"
        if restart == "on-failure" and policy.get("MaximumRetryCount"):
            restart = f"on-failure:{policy['MaximumRetryCount']}"
        if restart != "no":
            spec["restart"] = restart

        if host.get("NanoCpus"):
            spec["cpus"] = host["NanoCpus"] / 1_000_000_000
        memory = host.get("Memory") or 0
        simple = {
            "cpu_shares": host.get("CpuShares"),
            "cpuset": host.get("CpusetCpus"),
            "mem_limit": memory,
            "mem_reservation": host.get("MemoryReservation"),
            "pids_limit": host.get("PidsLimit") if (host.get("PidsLimit") or 0) > 0 else None,
        }
        spec.update({k: v for k, v in simple.items() if v})
        swap = host.get("MemorySwap") or 0
        # Docker reports twice the memory limit as the swap limit when none was given.
        if swap == -1 or (swap and memory and swap != 2 * memory):
            spec["memswap_limit"] = swap
        if host.get("ShmSize") and host["ShmSize"] != _DEFAULT_SHM_BYTES:
            spec["shm_size"] = host["ShmSize"]
        if host.get("Init"):
            spec["init"] = True

        for field_name, attribute in (
            ("cap_add", "CapAdd"),
            ("cap_drop", "CapDrop"),
            ("security_opt", "SecurityOpt"),
            ("extra_hosts", "ExtraHosts"),
            ("dns", "Dns"),
            ("dns_search", "DnsSearch"),
            ("dns_opt", "DnsOptions"),
            ("group_add", "GroupAdd"),
        ):
            if host.get(attribute):
                spec[field_name] = list(host[attribute])
        if host.get("Privileged"):
            spec["privileged"] = True
        if host.get("ReadonlyRootfs"):
            spec["read_only"] = True
        if host.get("Sysctls"):
            spec["sysctls"] = dict(host["Sysctls"])
        if host.get("Ulimits"):
            spec["ulimits"] = {
                u["Name"]: {"soft": u["Soft"], "hard": u["Hard"]} for u in host["Ulimits"]
            }
        if host.get("Devices"):
            spec["devices"] = [
                f"{d['PathOnHost']}:{d['PathInContainer']}:{d.get('CgroupPermissions') or 'rwm'}"
                for d in host["Devices"]
            ]
        if host.get("DeviceRequests"):
            spec["deploy"] = {
                "resources": {
                    "reservations": {
                        "devices": [_device_request(r) for r in host["DeviceRequests"]]
                    }
                }
            }
        log_config = host.get("LogConfig") or {}
        driver = log_config.get("Type") or self.default_log_driver
        if driver != self.default_log_driver or log_config.get("Config"):
            spec["logging"] = {"driver": driver, "options": dict(log_config.get("Config") or {})}

        pid = str(host.get("PidMode") or "")
        if pid == "host":
            spec["pid"] = "host"
        elif pid:
            self.warn(f"{cname}: pid mode `{pid}` cannot be adopted: dropped")
        ipc = str(host.get("IpcMode") or "")
        if ipc in ("host", "none", "shareable"):
            spec["ipc"] = ipc
        elif ipc not in ("", "private"):
            self.warn(f"{cname}: ipc mode `{ipc}` cannot be adopted: dropped")

        unsupported = {
            "AutoRemove": "it is removed when it stops (`--rm`)",
            "Links": "links",
            "VolumesFrom": "volumes from other containers",
            "CpuPeriod": "a CPU period",
            "CpuQuota": "a CPU quota",
            "CpuRealtimePeriod": "a realtime CPU period",
            "CpuRealtimeRuntime": "a realtime CPU runtime",
            "BlkioWeight": "a block IO weight",
            "BlkioWeightDevice": "block IO weights",
            "BlkioDeviceReadBps": "block IO limits",
            "BlkioDeviceWriteBps": "block IO limits",
            "BlkioDeviceReadIOps": "block IO limits",
            "BlkioDeviceWriteIOps": "block IO limits",
            "OomKillDisable": "the OOM killer disabled",
            "OomScoreAdj": "an OOM score adjustment",
            "CgroupParent": "a cgroup parent",
            "UsernsMode": "a user namespace mode",
            "UTSMode": "a UTS mode",
            "Isolation": "an isolation mode",
            "StorageOpt": "storage options",
            "DeviceCgroupRules": "device cgroup rules",
            "VolumeDriver": "a volume driver",
            "CpuCount": "a CPU count",
            "CpuPercent": "a CPU percentage",
        }
        for attribute, what in unsupported.items():
            if host.get(attribute):
                self.warn(f"{cname}: it has {what}, which Dockyard does not set: dropped")
        if host.get("MemorySwappiness") not in (None, -1):
            self.warn(f"{cname}: it has a memory swappiness, which Dockyard does not set: dropped")
        if host.get("Runtime") not in (None, "", "runc"):
            self.warn(
                f"{cname}: it runs with runtime `{host['Runtime']}`: Dockyard uses the default"
            )


def _port_sort(port_key: str) -> tuple[int, str]:
    number, _, protocol = port_key.partition("/")
    return (int(number) if number.isdigit() else 0, protocol)


def _device_request(request: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "capabilities": [c for group in request.get("Capabilities") or [] for c in group] or ["gpu"]
    }
    if request.get("Driver"):
        result["driver"] = request["Driver"]
    if request.get("DeviceIDs"):
        result["device_ids"] = list(request["DeviceIDs"])
    else:
        count = request.get("Count")
        result["count"] = "all" if count in (None, -1) else int(count)
    if request.get("Options"):
        result["options"] = dict(request["Options"])
    return result


def _template_first(c: Mapping[str, Any]) -> tuple[bool, int, str]:
    """Running containers first, then by container number: the first is the template."""
    number = _labels(c).get(COMPOSE_NUMBER_LABEL, "")
    running = bool((c.get("State") or {}).get("Running"))
    return (not running, int(number) if number.isdigit() else 0, _name(c))


def _compose_default_name(container: str, project: str, service: str) -> bool:
    for prefix in (f"{project}_{service}_", f"{project}-{service}-"):
        if container.startswith(prefix) and container[len(prefix) :].isdigit():
            return True
    return False


def draft_from_inspect(
    inspects: Sequence[Mapping[str, Any]],
    *,
    project: str | None = None,
    name: str | None = None,
    images: Mapping[str, Mapping[str, Any]] | None = None,
    volumes: Mapping[str, Mapping[str, Any]] | None = None,
    networks: Mapping[str, Mapping[str, Any]] | None = None,
    default_log_driver: str = "json-file",
) -> AdoptionDraft:
    """Rebuild a compose definition from containers' `docker inspect` output.

    `project` is the compose project the containers come from (None for loose ones: each
    becomes a service named after its container, keeping that container name). `name` is
    the Dockyard service name (default: the project). `images` holds image inspects by id
    and by reference, `volumes` and `networks` inspects by name; without them image
    defaults are kept and volumes/networks named `{project}_*` count as the project's.
    What cannot be expressed goes to the draft's warnings.
    """
    service_name = name or project or "adopted"
    builder = _Builder(
        project=project,
        name=service_name,
        images=images or {},
        volume_info=volumes or {},
        network_info=networks or {},
        default_log_driver=default_log_driver,
    )
    groups: dict[str, list[Mapping[str, Any]]] = {}
    keys: dict[str, str] = {}  # compose service name (or container name) -> key
    for c in inspects:
        source = (_labels(c).get(SERVICE_LABEL) if project is not None else None) or _name(c)
        if source not in keys:
            keys[source] = _unique(sanitize_key(source), groups)
            if project is not None and keys[source] != source:
                builder.warn(f"compose service `{source}` is named `{keys[source]}` in Dockyard")
            groups[keys[source]] = []
        groups[keys[source]].append(c)

    services: dict[str, dict[str, Any]] = {}
    containers: dict[str, list[str]] = {}
    for source, key in keys.items():
        members = sorted(groups[key], key=_template_first)
        template = members[0]
        spec = builder.service(template, key)
        cname = _name(template)
        if len(members) > 1:
            extra = ", ".join(_name(c) for c in members[1:])
            builder.warn(
                f"{key} has {len(members)} containers; Dockyard runs one per service, so the "
                f"deploy removes {extra}"
            )
        # Compose's own names (`p_web_1`, `p-web-1`) give way to Dockyard's; others are kept.
        if project is None or not _compose_default_name(cname, project, source):
            spec["container_name"] = cname
        state = (template.get("State") or {}).get("Status")
        if state not in ("running", "restarting", "paused"):
            builder.warn(f"{cname} is {state or 'not running'}; the deploy starts it")
        services[key] = spec
        containers[key] = [str(c["Id"]) for c in members]

    # Dependencies, as compose v2 records them (compose 1.x does not).
    for key, members in groups.items():
        label = _labels(members[0]).get(DEPENDS_ON_LABEL) if project is not None else None
        if not label:
            continue
        depends_on: dict[str, Any] = {}
        for dependency, options in parse_depends_on(label).items():
            if dependency in keys:
                depends_on[keys[dependency]] = options
            else:
                builder.warn(f"{key} depends on `{dependency}`, which is not adopted: dropped")
        if depends_on:
            services[key]["depends_on"] = depends_on
    versions = {_labels(c).get(COMPOSE_VERSION_LABEL, "") for c in inspects}
    if project is not None and len(services) > 1 and any(v.startswith("1.") for v in versions):
        builder.warn(
            "docker-compose 1.x does not record `depends_on`: add it to the definition if "
            "the start order matters"
        )
    if project is not None and service_name != project:
        builder.warn(
            f"adopted as `{service_name}`: the containers move from compose project "
            f"`{project}` to `{service_name}` (volumes and networks keep their names)"
        )

    definition: dict[str, Any] = {"services": services}
    if builder.volumes:
        definition["volumes"] = builder.volumes
    if builder.networks:
        definition["networks"] = builder.networks
    return AdoptionDraft(definition=definition, containers=containers, warnings=builder.warnings)


def definition_from_inspect(
    inspects: Sequence[Mapping[str, Any]], **options: Any
) -> dict[str, Any]:
    """The compose-shaped definition of `draft_from_inspect` (same options)."""
    return draft_from_inspect(inspects, **options).definition


# ---------------------------------------------------------------- listing


def _container_ports(summary: Mapping[str, Any]) -> list[PortOut]:
    ports = [
        PortOut(
            host_ip=p.get("IP"),
            host_port=p.get("PublicPort"),
            container_port=int(p.get("PrivatePort") or 0),
            protocol=str(p.get("Type") or "tcp"),
        )
        for p in summary.get("Ports") or []
    ]
    return sorted(
        ports, key=lambda p: (p.container_port, p.protocol, p.host_ip or "", p.host_port or 0)
    )


async def list_unmanaged(engine: DockerEngine, instance_id: str) -> UnmanagedOut:
    """Compose projects and loose containers this installation does not manage."""
    projects: dict[str, list[Mapping[str, Any]]] = {}
    loose: list[UnmanagedContainer] = []
    for c in await engine.list_containers(all=True):
        labels = _labels(c)
        if _managed_here(labels, instance_id) or _is_oneoff(labels):
            continue
        project = labels.get(PROJECT_LABEL)
        if project:
            projects.setdefault(project, []).append(c)
        else:
            loose.append(
                UnmanagedContainer(
                    id=c["Id"],
                    name=_name(c),
                    image=str(c.get("Image", "")),
                    state=str(c.get("State", "")),
                    ports=_container_ports(c),
                )
            )
    out: list[UnmanagedProject] = []
    for project, members in sorted(projects.items()):
        first = _labels(members[0])
        files = first.get(CONFIG_FILES_LABEL)
        out.append(
            UnmanagedProject(
                name=project,
                containers=[
                    UnmanagedProjectContainer(
                        id=c["Id"],
                        name=_name(c),
                        service=_labels(c).get(SERVICE_LABEL),
                        image=str(c.get("Image", "")),
                        state=str(c.get("State", "")),
                    )
                    for c in sorted(members, key=_name)
                ],
                services=sorted({s for c in members if (s := _labels(c).get(SERVICE_LABEL))}),
                working_dir=first.get(WORKING_DIR_LABEL),
                config_files=[f for f in files.split(",") if f] if files else None,
            )
        )
    return UnmanagedOut(projects=out, containers=sorted(loose, key=lambda c: c.name))


# ---------------------------------------------------------------- adopting


@dataclass
class Adopted:
    service: Service
    job: Job
    warnings: list[str]


async def node_or_404(session: AsyncSession, node_id: int | None) -> Node:
    """The node (the local one when None)."""
    node = await (nodes.get_local(session) if node_id is None else nodes.get(session, node_id))
    if node is None:
        what = "There is no local node." if node_id is None else f"Node {node_id} does not exist."
        raise NotFoundError(what, code="node_not_found")
    return node


async def _inspect_or_none(engine: DockerEngine, ref: str) -> dict[str, Any] | None:
    try:
        return await engine.inspect_container(ref)
    except EngineNotFoundError:
        return None


async def _project_inspects(
    engine: DockerEngine, project: str, instance_id: str
) -> list[dict[str, Any]]:
    summaries = [
        c
        for c in await engine.list_containers(
            all=True, filters={"label": f"{PROJECT_LABEL}={project}"}
        )
        if not _is_oneoff(_labels(c))
    ]
    if not summaries:
        raise NotFoundError(
            f"No compose project named {project} runs on this node.",
            code="project_not_found",
            details={"errors": [{"path": "body.project", "message": "no such project"}]},
        )
    unmanaged = [c for c in summaries if not _managed_here(_labels(c), instance_id)]
    if not unmanaged:
        raise ConflictError(
            f"Compose project {project} is already managed by Dockyard.",
            code="already_managed",
            details={"errors": [{"path": "body.project", "message": "already managed"}]},
        )
    inspects = await asyncio.gather(*(_inspect_or_none(engine, c["Id"]) for c in unmanaged))
    return [i for i in inspects if i is not None]


async def _container_inspects(
    engine: DockerEngine, refs: Sequence[str], instance_id: str
) -> list[dict[str, Any]]:
    inspects = await asyncio.gather(*(_inspect_or_none(engine, ref) for ref in refs))
    result: dict[str, dict[str, Any]] = {}
    for index, (ref, inspect) in enumerate(zip(refs, inspects, strict=True)):
        path = f"body.container_ids.{index}"
        if inspect is None:
            raise NotFoundError(
                f"Container {ref} does not exist on this node.",
                code="container_not_found",
                details={"errors": [{"path": path, "message": "no such container"}]},
            )
        if _managed_here(_labels(inspect), instance_id):
            raise ConflictError(
                f"Container {_name(inspect)} is already managed by Dockyard.",
                code="already_managed",
                details={"errors": [{"path": path, "message": "already managed"}]},
            )
        result.setdefault(str(inspect["Id"]), inspect)
    return list(result.values())


async def _refuse_claimed(session: AsyncSession, node_id: int, ids: Sequence[str]) -> None:
    """409 when another adoption, not deployed yet, already takes one of these containers."""
    rows = await session.execute(
        select(Service.name, Job.params)
        .join(Job, Job.service_id == Service.id)
        .where(
            Service.node_id == node_id,
            Service.origin == "adopt",
            Service.deployed_revision.is_(None),
            Job.kind == "service.deploy",
        )
    )
    wanted = set(ids)
    for service_name, params in rows:
        planned = (params or {}).get("adopt") or {}
        if wanted & {cid for cids in planned.values() for cid in cids}:
            raise ConflictError(
                f"Service {service_name} is already adopting these containers: deploy it "
                "again, or delete it first.",
                code="adoption_pending",
            )


async def _resources(
    engine: DockerEngine, inspects: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]:
    """Image (by id and reference), volume and network inspects; the default log driver."""
    image_refs = sorted(
        {str(c.get("Image", "")) for c in inspects}
        | {str((c.get("Config") or {}).get("Image") or "") for c in inspects} - {""}
    )
    volume_names = sorted(
        {
            str(m["Name"])
            for c in inspects
            for m in c.get("Mounts") or []
            if m.get("Type") == "volume" and m.get("Name")
        }
    )
    network_names = sorted(
        {
            n
            for c in inspects
            for n in ((c.get("NetworkSettings") or {}).get("Networks") or {})
            if n not in _BUILTIN_NETWORKS
        }
    )
    image_list, volume_list, network_list, info = await asyncio.gather(
        asyncio.gather(*(engine.inspect_image(r) for r in image_refs)),
        asyncio.gather(*(engine.inspect_volume(v) for v in volume_names)),
        asyncio.gather(*(engine.inspect_network(n) for n in network_names)),
        engine.info(),
    )
    images = {r: i for r, i in zip(image_refs, image_list, strict=True) if i is not None}
    volumes = {v: i for v, i in zip(volume_names, volume_list, strict=True) if i is not None}
    networks = {n: i for n, i in zip(network_names, network_list, strict=True) if i is not None}
    return images, volumes, networks, str(info.get("LoggingDriver") or "json-file")


async def adopt(
    session: AsyncSession,
    runtime: Runtime,
    body: AdoptRequest,
    *,
    user: User | None,
    actor: Actor,
    meta: RequestMeta | None = None,
    policy: PolicyContext | None = None,
) -> Adopted:
    """Create a service from what runs and queue the deploy that takes it over (caller commits).

    `policy` (a non-admin's) applies the container security policy and quota to the draft.
    """
    node = await node_or_404(session, body.node_id)
    engine = runtime.nodes.engine_for(node)
    name = body.name
    if body.project is not None:
        inspects = await _project_inspects(engine, body.project, runtime.instance_id)
        if name is None:
            try:
                name = check_service_name(body.project)
            except ValueError as exc:
                raise ValidationFailedError(
                    f"Project {body.project} is not a valid service name: give a `name`.",
                    details={"errors": [{"path": "body.name", "message": str(exc)}]},
                ) from None
        source: dict[str, Any] = {"project": body.project}
    else:
        inspects = await _container_inspects(engine, body.container_ids or [], runtime.instance_id)
        source = {"containers": [str(c["Id"]) for c in inspects]}
    assert name is not None  # the request model requires it for containers
    await _refuse_claimed(session, node.id, [str(c["Id"]) for c in inspects])
    images, volumes, networks, log_driver = await _resources(engine, inspects)
    draft = draft_from_inspect(
        inspects,
        project=body.project,
        name=name,
        images=images,
        volumes=volumes,
        networks=networks,
        default_log_driver=log_driver,
    )
    what = (
        f"compose project {body.project}"
        if body.project
        else "containers " + ", ".join(_name(c) for c in inspects)
    )
    service = await services.create_service(
        session,
        ServiceCreate(
            name=name,
            description=body.description if body.description is not None else f"Adopted {what}",
            node_id=node.id,
            definition=draft.definition,
            comment=f"Adopted {what}"[:500],
            source="adopt",
        ),
        user=user,
        actor=actor,
        meta=meta,
        origin="adopt",
        policy=policy,
    )
    await record(
        session,
        action="service.adopted",
        actor=actor,
        target_type="service",
        target_id=service.id,
        details={
            "name": service.name,
            "node_id": node.id,
            "source": source,
            "containers": draft.containers,
            "warnings": len(draft.warnings),
        },
        meta=meta,
    )
    job = await services.request_action(
        session, service, "deploy", actor=actor, params={"adopt": draft.containers}
    )
    return Adopted(service=service, job=job, warnings=draft.warnings)


async def adopted_containers(
    db: Database, engine: DockerEngine, service: Service
) -> dict[str, list[dict[str, Any]]]:
    """Containers an adoption still has to replace, by compose service (list summaries).

    Only for an adopted service that was never deployed; the ids come from its first
    deploy job. Containers already replaced are gone, so running it again is safe.
    """
    if service.origin != "adopt" or service.deployed_revision is not None:
        return {}
    async with db.read_session() as session:
        params = (
            await session.execute(
                select(Job.params)
                .where(Job.service_id == service.id, Job.kind == "service.deploy")
                .order_by(Job.created_at)
                .limit(1)
            )
        ).scalar_one_or_none()
    planned: Mapping[str, Sequence[str]] = (params or {}).get("adopt") or {}
    wanted = {str(cid) for ids in planned.values() for cid in ids}
    if not wanted:
        return {}
    found = {
        c["Id"]: c
        for c in await engine.list_containers(all=True, filters={"id": sorted(wanted)})
        if c["Id"] in wanted  # the id filter matches prefixes
    }
    return {
        key: [found[cid] for cid in ids if cid in found]
        for key, ids in planned.items()
        if any(cid in found for cid in ids)
    }
