"""The compose layer: load, interpolate, validate, normalize, export, translate to Docker.

Pure functions, no I/O except `load_compose_file`. The public API (stable):

Loading (`loader.py`)
    load_compose_text(text, *, env_text=None, environ=None) -> dict
        Safe YAML (1.2 core types) within limits (MAX_COMPOSE_BYTES, MAX_DEPTH,
        MAX_ALIASES, MAX_ALIAS_NODES, MAX_NODES), duplicate keys refused, `x-*` dropped,
        `${VAR...}` interpolated from `env_text` (a `.env` file) then `environ`, which wins.
        Never reads the server's environment.
    load_definition(text, *, env_text=None, environ=None) -> ComposeDefinition
    load_compose_file(path, *, environ=None) -> dict   (reads `.env` beside the file)

The definition (`model.py`)
    parse_definition(raw, *, validate=True) -> ComposeDefinition
        Every compose shape to one canonical form; unknown fields, unsupported features and
        (unless validate=False) `validate_definition` issues raise ComposeError.
    ComposeDefinition.to_json() -> dict
        Canonical JSON (itself compose long syntax): `parse_definition(d.to_json()) == d`.
    ComposeDefinition, ContainerSpec, PortSpec, MountSpec, ... (Pydantic, frozen)

Validation (`validate.py`)
    validate_definition(defn) -> list[ComposeIssue]
    validate_project_name(name) -> list[ComposeIssue]
    published_ports(defn) -> list[PublishedPort]  (host_ip | None, port, protocol, service)
    host_ips_overlap(a, b) -> bool
    ComposeIssue(path, message); ComposeError(issues) -- a 422 `DockyardError`

Export (`export.py`)
    export_compose_yaml(defn, *, project_name=None) -> str
        Accepted by docker compose v2 and docker-compose 1.29 (see
        compose_v1_incompatibilities(defn) for the few fields 1.29 lacks).

Docker (`docker_args.py`)
    container_create_args(project, service, spec, *, defn, container_number=1,
                          default_publish_ip, extra_labels, project_dir=None)
        -> ContainerCreateArgs  (.create_container_kwargs(), .container_config())
    config_hash(spec, defn) -> str
    network_name(project, key, spec=None), volume_name(project, key, spec=None),
    container_name(project, service, spec, number=1), service_networks(spec)
    network_create_args(project, key, spec), volume_create_args(project, key, spec)

Policy (`policy.py`)
    enforce_container_policy(defn, context) -> ComposeDefinition
        The container security policy for non-admins: refuses what they may not set
        (403 `policy_violation`, every refused field with its path and rule) and forces
        limits, `no-new-privileges` and the owner label. Every path that saves or deploys
        a definition for a user calls it (with `dockyard.quotas.service.policy_context`).

Units (`units.py`): parse_duration, format_duration, parse_size, format_size.
Names (`names.py`): NAME_PATTERN (projects, services, volumes, networks),
DOCKER_NAME_PATTERN, name_problem, docker_name_problem, image_reference_problem.
"""

from __future__ import annotations

from dockyard.services.compose.docker_args import (
    CONFIG_HASH_LABEL,
    CONTAINER_NUMBER_LABEL,
    DEFAULT_NETWORK,
    NETWORK_LABEL,
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    VOLUME_LABEL,
    WORKING_DIR_LABEL,
    ContainerCreateArgs,
    NetworkAttachment,
    config_hash,
    container_create_args,
    container_name,
    network_create_args,
    network_name,
    service_networks,
    volume_create_args,
    volume_name,
)
from dockyard.services.compose.export import compose_v1_incompatibilities, export_compose_yaml
from dockyard.services.compose.issues import ComposeError, ComposeIssue
from dockyard.services.compose.loader import (
    MAX_ALIAS_NODES,
    MAX_ALIASES,
    MAX_COMPOSE_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    load_compose_file,
    load_compose_text,
    load_definition,
)
from dockyard.services.compose.model import (
    BindOptions,
    ComposeDefinition,
    ContainerSpec,
    DependencySpec,
    DeploySpec,
    DeviceRequestSpec,
    HealthcheckSpec,
    IpamPoolSpec,
    IpamSpec,
    LoggingSpec,
    MountSpec,
    NetworkSpec,
    PortSpec,
    ReservationsSpec,
    ResourcesSpec,
    ServiceNetworkSpec,
    TmpfsOptions,
    UlimitSpec,
    VolumeOptions,
    VolumeSpec,
    parse_definition,
)
from dockyard.services.compose.names import (
    DOCKER_NAME_PATTERN,
    NAME_PATTERN,
    docker_name_problem,
    image_reference_problem,
    name_problem,
)
from dockyard.services.compose.units import (
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)
from dockyard.services.compose.validate import (
    PublishedPort,
    host_ips_overlap,
    published_ports,
    validate_definition,
    validate_project_name,
)

__all__ = [
    "CONFIG_HASH_LABEL",
    "CONTAINER_NUMBER_LABEL",
    "DEFAULT_NETWORK",
    "DOCKER_NAME_PATTERN",
    "MAX_ALIASES",
    "MAX_ALIAS_NODES",
    "MAX_COMPOSE_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "NAME_PATTERN",
    "NETWORK_LABEL",
    "ONEOFF_LABEL",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "VOLUME_LABEL",
    "WORKING_DIR_LABEL",
    "BindOptions",
    "ComposeDefinition",
    "ComposeError",
    "ComposeIssue",
    "ContainerCreateArgs",
    "ContainerSpec",
    "DependencySpec",
    "DeploySpec",
    "DeviceRequestSpec",
    "HealthcheckSpec",
    "IpamPoolSpec",
    "IpamSpec",
    "LoggingSpec",
    "MountSpec",
    "NetworkAttachment",
    "NetworkSpec",
    "PortSpec",
    "PublishedPort",
    "ReservationsSpec",
    "ResourcesSpec",
    "ServiceNetworkSpec",
    "TmpfsOptions",
    "UlimitSpec",
    "VolumeOptions",
    "VolumeSpec",
    "compose_v1_incompatibilities",
    "config_hash",
    "container_create_args",
    "container_name",
    "docker_name_problem",
    "export_compose_yaml",
    "format_duration",
    "format_size",
    "host_ips_overlap",
    "image_reference_problem",
    "load_compose_file",
    "load_compose_text",
    "load_definition",
    "name_problem",
    "network_create_args",
    "network_name",
    "parse_definition",
    "parse_duration",
    "parse_size",
    "published_ports",
    "service_networks",
    "validate_definition",
    "validate_project_name",
    "volume_create_args",
    "volume_name",
]
