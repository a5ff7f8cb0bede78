"""The canonical, normalized compose definition Dockyard stores for a service.

`parse_definition` accepts every compose shape a field allows (short and long syntax,
lists or maps, strings or numbers) and produces ONE canonical form, so two definitions
that mean the same thing compare equal. The canonical JSON (`ComposeDefinition.to_json`)
is itself a valid compose document in long syntax:

- `command`, `entrypoint`, `healthcheck.test`: lists (strings are shell-split);
- `environment`, `labels`, `sysctls`, options: string maps (numbers and booleans become
  strings as compose does; `environment` keeps `null` for "pass through");
- `ports`: one `{target, published, host_ip, protocol}` per container port, ranges expanded;
- `volumes`: long syntax; a short bind implies `bind.create_host_path: true`;
- durations: Go-style strings in a canonical spelling (`90s` -> `1m30s`); sizes: bytes;
- `depends_on`, service `networks`: maps; `ulimits`: `{soft, hard}`;
- `deploy.resources.limits` and `reservations.memory`, `deploy.restart_policy` and `gpus`
  fold into `cpus`, `mem_limit`, `pids_limit`, `mem_reservation`, `restart` and
  `deploy.resources.reservations.devices`; only CPU reservations and device requests
  stay under `deploy`;
- `pull_policy: if_not_present` is `missing`; `healthcheck.disable: true` is `test: [NONE]`.

Unknown fields are errors naming their path; compose features Dockyard does not run
(`build`, `env_file`, `extends`, `include`, `configs`, `secrets`, `profiles`, `links`,
`volumes_from`, sharing another container's namespaces...) are errors that say why.
Top-level `version` and `name` are accepted and not kept (Dockyard names the project);
`x-*` extension fields at the top level, in services, volumes and networks are dropped.
"""

from __future__ import annotations

import ipaddress
import shlex
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic import model_validator as pydantic_model_validator
from pydantic_core import PydanticCustomError

from dockyard.services.compose.issues import (
    ComposeError,
    ComposeIssue,
    issues_from_validation_error,
    join_path,
    raise_issue,
)
from dockyard.services.compose.units import canonical_duration, parse_size

MAX_PORT_RANGE = 1024
"""The most ports one port entry may expand to (`8000-9023:8000-9023`)."""

PROTOCOLS = ("tcp", "udp", "sctp")
Protocol = Literal["tcp", "udp", "sctp"]
DependencyCondition = Literal[
    "service_started", "service_healthy", "service_completed_successfully"
]
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


# ---------------------------------------------------------------- raw shape helpers


def _as_text(value: object, *subpath: object) -> str:
    """A scalar as compose writes it in a string: numbers as-is, booleans lowercase."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise_issue("must be a string, a number or a boolean", *subpath)


def _string_map(value: object, *, none_as: str | None) -> dict[str, str | None]:
    """A `{KEY: value}` map or a `["KEY=value", "KEY"]` list as a string map.

    `none_as` is what a key without a value becomes (None keeps it as null).
    """
    if value is None:
        return {}
    result: dict[str, str | None] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            key = str(key)
            result[key] = none_as if item is None else _as_text(item, key)
        return result
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise_issue("must be a `KEY=value` string", index)
            key, sep, text = str(item).partition("=")
            if key in result:
                raise_issue(f"`{key}` is set twice", index)
            result[key] = text if sep else none_as
        return result
    raise_issue("must be a map or a list of `KEY=value` strings")


def _environment(value: object) -> dict[str, str | None]:
    return _string_map(value, none_as=None)


def _text_map(value: object) -> dict[str, str]:
    return {k: v or "" for k, v in _string_map(value, none_as="").items()}


def _string_list(value: object) -> list[str]:
    """A string or a list of scalars as a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [_as_text(item, index) for index, item in enumerate(value)]
    raise_issue("must be a string or a list of strings")


def _command(value: object) -> list[str] | None:
    """A command as an argument list; a string is split like a shell does (as compose)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise_issue(f"cannot split the command into arguments: {exc}")
    if isinstance(value, list):
        return [_as_text(item, index) for index, item in enumerate(value)]
    raise_issue("must be a string or a list of strings")


def _duration(value: object) -> str | None:
    if value is None:
        return None
    try:
        return canonical_duration(value)
    except ValueError as exc:
        raise_issue(str(exc))


def _size(value: object) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise_issue(str(exc))


def _swap_size(value: object) -> int | None:
    """`memswap_limit` is a size, or -1 for unlimited swap."""
    if value in (-1, "-1"):
        return -1
    return _size(value)


def _no_sharing(option: str) -> BeforeValidator:
    """Refuse `service:NAME` / `container:NAME`: Dockyard does not share namespaces."""
    hint = "; put the services on a shared network instead" if option == "network_mode" else ""

    def check(value: object) -> object:
        if isinstance(value, str) and value.startswith(("service:", "container:")):
            raise_issue(
                f"`{option}: {value}` is not supported: Dockyard does not share one "
                f"container's namespaces with another{hint}"
            )
        return value

    return BeforeValidator(check)


Duration = Annotated[str, BeforeValidator(_duration)]
ByteSize = Annotated[int, BeforeValidator(_size)]
StringMap = Annotated[dict[str, str], BeforeValidator(_text_map)]
StringList = Annotated[list[str], BeforeValidator(_string_list)]


class ComposeModel(BaseModel):
    """Strict base: unknown fields are errors; numbers are accepted where text is expected."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


# ---------------------------------------------------------------- ports


class PortSpec(ComposeModel):
    """One published or exposed container port."""

    target: int = Field(ge=1, le=65535)
    published: int | None = Field(default=None, ge=1, le=65535)
    host_ip: str | None = None
    protocol: Protocol = "tcp"
    # `auto:80`: the host port is chosen from the node's range when the service is saved
    # (then `published` holds it and `auto` stays true so later edits keep the same port).
    auto: bool = False


def _port_range(text: str, what: str, index: int) -> range:
    first, dash, last = text.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        raise_issue(f"`{text}` is not a {what} port or range", index)
    start, end = int(first), int(last) if dash else int(first)
    for number in (start, end):
        if not 1 <= number <= 65535:
            raise_issue(f"{what} port {number} is out of range 1-65535", index)
    if end < start:
        raise_issue(f"the {what} port range `{text}` is reversed", index)
    if end - start + 1 > MAX_PORT_RANGE:
        raise_issue(f"the {what} port range `{text}` is larger than {MAX_PORT_RANGE} ports", index)
    return range(start, end + 1)


def _host_ip(text: str, index: int) -> str | None:
    address = text.removeprefix("[").removesuffix("]")
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise_issue(f"`{text}` is not an IP address", index)


def _protocol(text: object, index: int) -> str:
    protocol = str(text).lower()
    if protocol not in PROTOCOLS:
        raise_issue(f"protocol `{text}` is not one of tcp, udp or sctp", index)
    return protocol


def _expand_ports(
    targets: range,
    published: range | None,
    host_ip: str | None,
    protocol: str,
    index: int,
    *,
    auto: bool = False,
) -> list[dict[str, Any]]:
    if published is not None and len(published) != len(targets):
        if len(targets) == 1:
            raise_issue(
                "a range of host ports for one container port is not supported: give one host port",
                index,
            )
        raise_issue("the host and container port ranges have different lengths", index)
    return [
        {
            "target": target,
            "published": published[offset] if published is not None else None,
            "host_ip": host_ip,
            "protocol": protocol,
            **({"auto": True} if auto else {}),
        }
        for offset, target in enumerate(targets)
    ]


def _short_port(text: str, index: int) -> list[dict[str, Any]]:
    """`[host_ip:][published:]target[/protocol]`, either port possibly a range."""
    spec, _, protocol = text.strip().partition("/")
    parts = spec.rsplit(":", 2)
    host_ip: str | None = None
    published_text = ""
    if len(parts) == 3:
        host_ip = _host_ip(parts[0], index)
        published_text, target_text = parts[1], parts[2]
    elif len(parts) == 2:
        published_text, target_text = parts
    else:
        target_text = parts[0]
    targets = _port_range(target_text, "container", index)
    auto = published_text.lower() == "auto"
    published = _port_range(published_text, "host", index) if published_text and not auto else None
    return _expand_ports(
        targets, published, host_ip, _protocol(protocol or "tcp", index), index, auto=auto
    )


_LONG_PORT_KEYS = {"target", "published", "host_ip", "protocol", "mode", "auto"}


def _long_port(item: Mapping[str, Any], index: int) -> list[dict[str, Any]]:
    for key in item:
        if key not in _LONG_PORT_KEYS:
            raise_issue(f"unknown field `{key}`", index, key)
    if "target" not in item:
        raise_issue("is required", index, "target")
    mode = item.get("mode")
    # Swarm's routing mesh does not exist on a single engine: both modes publish on the host.
    if mode is not None and mode not in ("ingress", "host"):
        raise_issue("must be `ingress` or `host`", index, "mode")
    target = item["target"]
    if isinstance(target, bool) or not isinstance(target, int | str):
        raise_issue("must be a port number", index, "target")
    targets = _port_range(str(target), "container", index)
    if len(targets) != 1:
        raise_issue("must be one port number", index, "target")
    published_value = item.get("published")
    published = None
    auto = item.get("auto", False)
    if not isinstance(auto, bool):
        raise_issue("must be true or false", index, "auto")
    if isinstance(published_value, str) and published_value.lower() == "auto":
        auto, published_value = True, None
    if published_value not in (None, ""):
        if isinstance(published_value, bool) or not isinstance(published_value, int | str):
            raise_issue("must be a port number or range", index, "published")
        published = _port_range(str(published_value), "host", index)
    host_ip_value = item.get("host_ip")
    host_ip = _host_ip(str(host_ip_value), index) if host_ip_value is not None else None
    return _expand_ports(
        targets,
        published,
        host_ip,
        _protocol(item.get("protocol") or "tcp", index),
        index,
        auto=auto,
    )


def _ports(value: object) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise_issue("must be a list of ports")
    result: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if isinstance(item, bool):
            raise_issue("must be a port", index)
        if isinstance(item, int):
            result.extend(_short_port(str(item), index))
        elif isinstance(item, str):
            result.extend(_short_port(item, index))
        elif isinstance(item, Mapping):
            result.extend(_long_port(item, index))
        else:
            raise_issue("must be a string like `8080:80` or a map with `target`", index)
    return result


def _expose(value: object) -> list[str]:
    """`expose` entries as `PORT/protocol` strings, ranges expanded."""
    result: list[str] = []
    for index, item in enumerate(_string_list(value)):
        port, _, protocol = item.partition("/")
        for number in _port_range(port, "container", index):
            entry = f"{number}/{_protocol(protocol or 'tcp', index)}"
            if entry not in result:
                result.append(entry)
    return result


# ---------------------------------------------------------------- volumes


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class BindOptions(ComposeModel):
    propagation: Literal["private", "rprivate", "shared", "rshared", "slave", "rslave"] | None = (
        None
    )
    create_host_path: bool = False
    selinux: Literal["z", "Z"] | None = None


class VolumeOptions(ComposeModel):
    nocopy: bool = False


class TmpfsOptions(ComposeModel):
    size: ByteSize | None = None


class MountSpec(ComposeModel):
    """A mount in compose long syntax: a named or anonymous volume, a bind, or a tmpfs.

    Options that only hold defaults are None, so `bind: {}` and no `bind` are the same.
    """

    # `type: BIND` means a bind like `type: bind` (compared case-insensitively).
    type: Annotated[Literal["volume", "bind", "tmpfs"], BeforeValidator(_lower)]
    source: str | None = None
    target: str
    read_only: bool = False
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None

    @pydantic_model_validator(mode="after")
    def _canonical(self) -> MountSpec:
        update: dict[str, Any] = {}
        for kind in ("bind", "volume", "tmpfs"):
            options: ComposeModel | None = getattr(self, kind)
            if options is None:
                continue
            if kind != self.type:
                raise_issue(f"`{kind}` options do not apply to a {self.type} mount", kind)
            if options == type(options)():
                update[kind] = None
        if self.type == "bind" and not self.source:
            raise_issue("a bind mount needs a source path", "source")
        if self.type == "tmpfs" and self.source:
            raise_issue("a tmpfs mount has no source", "source")
        if self.source == "":
            update["source"] = None
        return self.model_copy(update=update) if update else self


_SHORT_VOLUME_OPTIONS = {"ro", "rw", "z", "Z", "nocopy", *PROPAGATIONS}


def _short_volume(text: str, index: int) -> dict[str, Any]:
    """`[source:]target[:options]`; a source starting with `/`, `.` or `~` is a host path."""
    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise_issue(f"`{text}` is not `[source:]target[:options]`", index)
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    for option in options:
        if option not in _SHORT_VOLUME_OPTIONS:
            raise_issue(f"unknown volume option `{option}`", index)
    if "ro" in options and "rw" in options:
        raise_issue("a mount cannot be both `ro` and `rw`", index)
    is_bind = source.startswith(("/", ".", "~"))
    propagation = [o for o in options if o in PROPAGATIONS]
    selinux = [o for o in options if o in ("z", "Z")]
    if len(propagation) > 1 or len(selinux) > 1:
        raise_issue("conflicting volume options", index)
    mount: dict[str, Any] = {
        "type": "bind" if is_bind else "volume",
        "source": source,
        "target": target,
        "read_only": "ro" in options,
    }
    if is_bind:
        if "nocopy" in options:
            raise_issue("`nocopy` applies to named volumes, not host paths", index)
        mount["bind"] = {
            # Short syntax has always created a missing host path; long syntax does not.
            "create_host_path": True,
            "propagation": propagation[0] if propagation else None,
            "selinux": selinux[0] if selinux else None,
        }
    else:
        if propagation or selinux:
            raise_issue("propagation and SELinux options apply to host paths only", index)
        mount["volume"] = {"nocopy": "nocopy" in options}
    return mount


def _volumes(value: object) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise_issue("must be a list of mounts")
    return [
        _short_volume(item, index) if isinstance(item, str) else item
        for index, item in enumerate(value)
    ]


# ---------------------------------------------------------------- other service parts


class ServiceNetworkSpec(ComposeModel):
    """How a service joins one network."""

    aliases: StringList = []
    ipv4_address: str | None = None
    ipv6_address: str | None = None


def _name_map(value: object, what: str) -> dict[str, Any]:
    """A list of names or a map of name -> options (None meaning no options)."""
    if value is None:
        return {}
    if isinstance(value, list):
        result: dict[str, Any] = {}
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise_issue(f"must be a {what} name", index)
            if item in result:
                raise_issue(f"`{item}` is listed twice", index)
            result[item] = {}
        return result
    if isinstance(value, Mapping):
        return {str(k): {} if v is None else v for k, v in value.items()}
    raise_issue(f"must be a list of {what} names or a map")


def _network_map(value: object) -> dict[str, Any]:
    return _name_map(value, "network")


def _dependency_map(value: object) -> dict[str, Any]:
    return _name_map(value, "service")


class DependencySpec(ComposeModel):
    """One `depends_on` entry."""

    condition: DependencyCondition = "service_started"
    restart: bool = False
    required: bool = True


def _healthcheck(value: object) -> object:
    if not isinstance(value, Mapping):
        return value
    data = dict(value)
    test = data.get("test")
    if isinstance(test, str):
        data["test"] = ["CMD-SHELL", test]
    disable = data.pop("disable", None)
    if disable is True:
        if data.get("test") not in (None, ["NONE"]):
            raise_issue("`disable: true` and a `test` cannot both be set", "disable")
        data["test"] = ["NONE"]
    elif disable not in (None, False):
        raise_issue("must be true or false", "disable")
    return data


class HealthcheckSpec(ComposeModel):
    """A container health check; `test` None keeps the image's own check."""

    test: list[str] | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    start_period: Duration | None = None
    start_interval: Duration | None = None
    retries: int | None = None


class UlimitSpec(ComposeModel):
    soft: int
    hard: int


def _ulimits(value: object) -> object:
    if not isinstance(value, Mapping):
        return value
    return {
        str(name): {"soft": limit, "hard": limit}
        if isinstance(limit, int | str) and not isinstance(limit, bool)
        else limit
        for name, limit in value.items()
    }


class LoggingSpec(ComposeModel):
    driver: str | None = None
    options: StringMap = {}


def _extra_hosts(value: object) -> list[str]:
    """`["host:ip", "host=ip"]` or `{host: ip}` as `host:ip` entries."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        entries: list[str] = []
        for host, address in value.items():
            addresses = address if isinstance(address, list) else [address]
            entries.extend(f"{host}:{_as_text(a, host)}" for a in addresses)
        return entries
    result = []
    for index, entry in enumerate(_string_list(value)):
        colon, equals = entry.find(":"), entry.find("=")
        if equals >= 0 and (colon < 0 or equals < colon):
            entry = f"{entry[:equals]}:{entry[equals + 1 :]}"
        elif colon < 0:
            raise_issue("must be `host:ip`", index)
        result.append(entry)
    return result


class DeviceRequestSpec(ComposeModel):
    """A device reservation (`deploy.resources.reservations.devices`, e.g. GPUs)."""

    capabilities: list[str] = Field(min_length=1)
    driver: str | None = None
    count: int | Literal["all"] | None = None
    device_ids: list[str] = []
    options: StringMap = {}

    @pydantic_model_validator(mode="before")
    @classmethod
    def _count(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        count = data.get("count")
        if isinstance(count, str) and count != "all":
            if not count.isdigit():
                raise_issue("must be a number or `all`", "count")
            data["count"] = int(count)
        if count is not None and data.get("device_ids"):
            raise_issue("`count` and `device_ids` cannot both be set", "count")
        if count is None and not data.get("device_ids"):
            data["count"] = "all"  # compose: no count and no ids reserves every device
        return data


class ReservationsSpec(ComposeModel):
    cpus: float | None = None
    devices: list[DeviceRequestSpec] = []


class ResourcesSpec(ComposeModel):
    reservations: ReservationsSpec | None = None


class DeploySpec(ComposeModel):
    """What stays of `deploy` once limits fold into the service: CPU and device reservations."""

    resources: ResourcesSpec | None = None


_RESTART_CONDITIONS = {"none": "no", "on-failure": "on-failure", "any": "always"}


def _restart(value: object) -> str:
    if value is None:
        return "no"
    if isinstance(value, str):
        name, colon, count = value.partition(":")
        if name in ("no", "always", "unless-stopped") and not colon:
            return name
        if name == "on-failure" and (not colon or count.isdigit()):
            return "on-failure" if not colon or int(count) == 0 else f"on-failure:{int(count)}"
    raise_issue("must be `no`, `always`, `on-failure`, `on-failure:N` or `unless-stopped`")


def _pull_policy(value: object) -> object:
    if value is None or value == "if_not_present":
        return "missing"
    if value == "build":
        raise_issue("`build` is not supported: Dockyard does not build images")
    return value


def _fold_deploy(data: dict[str, Any]) -> None:
    """Move what `deploy` and `gpus` say about one container onto the service's own fields."""
    devices: list[Any] = []
    gpus = data.pop("gpus", None)
    if gpus is not None:
        if gpus == "all" or (isinstance(gpus, int) and not isinstance(gpus, bool)):
            devices.append({"capabilities": ["gpu"], "count": gpus})
        elif isinstance(gpus, list):
            for item in gpus:
                if isinstance(item, Mapping):
                    devices.append({"capabilities": ["gpu"], **item})
                else:
                    raise_issue("must be a map of device request options", "gpus")
        else:
            raise_issue("must be `all`, a number of GPUs or a list of device requests", "gpus")
    deploy = data.get("deploy")
    if deploy is None:
        if devices:
            data["deploy"] = {"resources": {"reservations": {"devices": devices}}}
        return
    if not isinstance(deploy, Mapping):
        return  # Pydantic reports the type.
    deploy = dict(deploy)
    policy = deploy.pop("restart_policy", None)
    if policy is not None:
        _fold_restart_policy(data, policy)
    resources = deploy.get("resources")
    if isinstance(resources, Mapping):
        resources = dict(resources)
        limits = resources.pop("limits", None)
        if limits is not None:
            _fold_limits(data, limits)
        reservations = resources.get("reservations")
        if isinstance(reservations, Mapping):
            reservations = dict(reservations)
            memory = reservations.pop("memory", None)
            if memory is not None:
                _fold_value(
                    data,
                    "mem_reservation",
                    memory,
                    _size,
                    ("deploy", "resources", "reservations", "memory"),
                )
            if devices:
                reservations["devices"] = [*(reservations.get("devices") or []), *devices]
            resources["reservations"] = reservations
        elif devices:
            resources["reservations"] = {"devices": devices}
        deploy["resources"] = resources
    elif devices and resources is None:
        deploy["resources"] = {"reservations": {"devices": devices}}
    data["deploy"] = deploy


def _fold_value(
    data: dict[str, Any],
    field: str,
    value: object,
    parse: Callable[[object], object],
    subpath: tuple[str, ...],
) -> None:
    try:
        parsed = parse(value)
    except PydanticCustomError as exc:
        # Report at the deploy path the value was written at, not at `field`.
        raise_issue(str((exc.context or {}).get("message", exc.message())), *subpath)
    except ValueError as exc:
        raise_issue(str(exc), *subpath)
    if data.get(field) is not None:
        try:
            current = parse(data[field])
        except ValueError:
            current = None  # `field` reports its own error
        if current is not None and current != parsed:
            raise_issue(f"conflicts with `{field}`: set only one of them", *subpath)
    data[field] = parsed


def _parse_cpus(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number of CPUs like 0.5")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError("must be a number of CPUs like 0.5") from None


def _parse_pids(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a whole number")
    try:
        return int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _fold_limits(data: dict[str, Any], limits: object) -> None:
    path = ("deploy", "resources", "limits")
    if not isinstance(limits, Mapping):
        raise_issue("must be a map", *path)
        return
    for key, value in limits.items():
        if key == "cpus":
            _fold_value(data, "cpus", value, _parse_cpus, (*path, key))
        elif key == "memory":
            _fold_value(data, "mem_limit", value, _size, (*path, key))
        elif key == "pids":
            _fold_value(data, "pids_limit", value, _parse_pids, (*path, key))
        elif not str(key).startswith("x-"):
            raise_issue(f"unknown field `{key}`", *path, key)


def _fold_restart_policy(data: dict[str, Any], policy: object) -> None:
    path = ("deploy", "restart_policy")
    if not isinstance(policy, Mapping):
        raise_issue("must be a map", *path)
        return
    for key in policy:
        if key not in ("condition", "max_attempts"):
            raise_issue(
                f"`{key}` is not supported: containers restart with Docker's restart policy",
                *path,
                key,
            )
    condition = policy.get("condition", "any")
    if condition not in _RESTART_CONDITIONS:
        raise_issue("must be `none`, `on-failure` or `any`", *path, "condition")
    restart = _RESTART_CONDITIONS[condition]
    attempts = policy.get("max_attempts")
    if attempts is not None:
        if restart != "on-failure" or isinstance(attempts, bool) or not isinstance(attempts, int):
            raise_issue("needs `condition: on-failure` and a whole number", *path, "max_attempts")
        restart = f"on-failure:{attempts}"
    _fold_value(data, "restart", restart, _restart, path)


# ---------------------------------------------------------------- the service


class ContainerSpec(ComposeModel):
    """One compose service: everything needed to create its container."""

    image: str
    container_name: str | None = None
    command: Annotated[list[str] | None, BeforeValidator(_command)] = None
    entrypoint: Annotated[list[str] | None, BeforeValidator(_command)] = None
    working_dir: str | None = None
    user: str | None = None
    environment: Annotated[dict[str, str | None], BeforeValidator(_environment)] = {}
    ports: Annotated[list[PortSpec], BeforeValidator(_ports)] = []
    expose: Annotated[list[str], BeforeValidator(_expose)] = []
    volumes: Annotated[list[MountSpec], BeforeValidator(_volumes)] = []
    tmpfs: StringList = []
    networks: Annotated[dict[str, ServiceNetworkSpec], BeforeValidator(_network_map)] = {}
    network_mode: Annotated[
        Literal["bridge", "host", "none"] | None, _no_sharing("network_mode")
    ] = None
    hostname: str | None = None
    domainname: str | None = None
    mac_address: str | None = None
    dns: StringList = []
    dns_search: StringList = []
    dns_opt: StringList = []
    extra_hosts: Annotated[list[str], BeforeValidator(_extra_hosts)] = []
    depends_on: Annotated[dict[str, DependencySpec], BeforeValidator(_dependency_map)] = {}
    restart: Annotated[str, BeforeValidator(_restart)] = "no"
    healthcheck: Annotated[HealthcheckSpec | None, BeforeValidator(_healthcheck)] = None
    labels: StringMap = {}
    stop_signal: str | None = None
    stop_grace_period: Duration | None = None
    init: bool | None = None
    tty: bool = False
    stdin_open: bool = False
    read_only: bool = False
    privileged: bool = False
    cap_add: StringList = []
    cap_drop: StringList = []
    security_opt: StringList = []
    devices: StringList = []
    sysctls: StringMap = {}
    ulimits: Annotated[dict[str, UlimitSpec], BeforeValidator(_ulimits)] = {}
    logging: LoggingSpec | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    cpuset: str | None = None
    mem_limit: ByteSize | None = None
    mem_reservation: ByteSize | None = None
    memswap_limit: Annotated[int | None, BeforeValidator(_swap_size)] = None
    pids_limit: int | None = None
    shm_size: ByteSize | None = None
    deploy: DeploySpec | None = None
    pid: Annotated[Literal["host"] | None, _no_sharing("pid")] = None
    ipc: Annotated[Literal["host", "private", "shareable", "none"] | None, _no_sharing("ipc")] = (
        None
    )
    uts: Literal["host"] | None = None
    userns_mode: Literal["host"] | None = None
    cgroup_parent: str | None = None
    device_cgroup_rules: StringList = []
    runtime: str | None = None
    group_add: StringList = []
    platform: str | None = None
    pull_policy: Annotated[Literal["always", "missing", "never"], BeforeValidator(_pull_policy)] = (
        "missing"
    )

    @pydantic_model_validator(mode="before")
    @classmethod
    def _fold(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        folded = {k: v for k, v in data.items() if not str(k).startswith("x-")}
        _fold_deploy(folded)
        return folded

    @pydantic_model_validator(mode="after")
    def _drop_empty(self) -> ContainerSpec:
        # An empty `deploy`, `logging` or reservation means the same as none at all.
        reservations = None
        if self.deploy is not None and self.deploy.resources is not None:
            reservations = self.deploy.resources.reservations
        if reservations == ReservationsSpec():
            reservations = None
        deploy = (
            None
            if reservations is None
            else DeploySpec(resources=ResourcesSpec(reservations=reservations))
        )
        logging = None if self.logging == LoggingSpec() else self.logging
        if deploy == self.deploy and logging == self.logging:
            return self
        return self.model_copy(update={"deploy": deploy, "logging": logging})

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON of this service (defaults left out)."""
        return self.model_dump(mode="json", exclude_defaults=True)


# ---------------------------------------------------------------- top level


def _external(data: object) -> object:
    """`external: {name: x}` (the old spelling) is `external: true` with `name: x`."""
    if not isinstance(data, Mapping):
        return {} if data is None else data
    result = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    external = result.get("external")
    if isinstance(external, Mapping):
        name = external.get("name")
        if set(external) - {"name"}:
            raise_issue("only `name` may be set under `external`", "external")
        if name is not None and result.get("name") not in (None, name):
            raise_issue("conflicts with `name`", "external", "name")
        result["external"] = True
        if name is not None:
            result["name"] = name
    return result


class VolumeSpec(ComposeModel):
    """A top-level named volume."""

    driver: str | None = None
    driver_opts: StringMap = {}
    labels: StringMap = {}
    external: bool = False
    name: str | None = None

    @pydantic_model_validator(mode="before")
    @classmethod
    def _fold_external(cls, data: object) -> object:
        return _external(data)


class IpamPoolSpec(ComposeModel):
    subnet: str | None = None
    ip_range: str | None = None
    gateway: str | None = None
    aux_addresses: StringMap = {}


class IpamSpec(ComposeModel):
    driver: str | None = None
    config: list[IpamPoolSpec] = []
    options: StringMap = {}


class NetworkSpec(ComposeModel):
    """A top-level network."""

    driver: str | None = None
    driver_opts: StringMap = {}
    labels: StringMap = {}
    external: bool = False
    name: str | None = None
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    ipam: IpamSpec | None = None

    @pydantic_model_validator(mode="before")
    @classmethod
    def _fold_external(cls, data: object) -> object:
        return _external(data)

    @pydantic_model_validator(mode="after")
    def _drop_empty_ipam(self) -> NetworkSpec:
        return self.model_copy(update={"ipam": None}) if self.ipam == IpamSpec() else self


class ComposeDefinition(ComposeModel):
    """A whole compose project: its services, named volumes and networks."""

    services: dict[str, ContainerSpec]
    volumes: dict[str, VolumeSpec] = {}
    networks: dict[str, NetworkSpec] = {}

    @pydantic_model_validator(mode="before")
    @classmethod
    def _top_level(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        result = {
            k: v
            for k, v in data.items()
            if k not in ("version", "name") and not str(k).startswith("x-")
        }
        for section in ("volumes", "networks"):
            if isinstance(result.get(section), Mapping):
                result[section] = {k: {} if v is None else v for k, v in result[section].items()}
        if "services" in result and not result["services"]:
            raise_issue("a definition needs at least one service", "services")
        return result

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form: store it, diff it; `parse_definition` reads it back equal."""
        return self.model_dump(mode="json", exclude_defaults=True)


# ---------------------------------------------------------------- unsupported features

_SERVICE_UNSUPPORTED = {
    "build": "building images is not supported: build and push the image, then set `image`",
    "env_file": (
        "`env_file` is not supported: set `environment` (values may use ${VAR} from the .env text)"
    ),
    "extends": "`extends` is not supported: share settings with YAML anchors and `<<` merges",
    "configs": "`configs` are not supported: mount files with a bind volume instead",
    "secrets": "`secrets` are not supported: mount files with a bind volume instead",
    "profiles": (
        "`profiles` are not supported: Dockyard deploys every service, so remove the "
        "service or the key"
    ),
    "links": (
        "`links` are not supported: services on a shared network reach each other by "
        "service name (add network `aliases` for other names)"
    ),
    "external_links": "`external_links` are not supported: attach to an external network",
    "volumes_from": "`volumes_from` is not supported: mount the same named volume in both",
    "scale": "`scale` is not supported: Dockyard runs one container per service",
}
_SERVICE_UNSUPPORTED_GENERIC = (
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "credential_spec",
    "develop",
    "isolation",
    "label_file",
    "mem_swappiness",
    "models",
    "oom_kill_disable",
    "oom_score_adj",
    "post_start",
    "pre_stop",
    "provider",
    "storage_opt",
    "use_api_socket",
)
_TOP_UNSUPPORTED = {
    "include": "`include` is not supported: put every service in one definition",
    "configs": "`configs` are not supported: mount files with a bind volume instead",
    "secrets": "`secrets` are not supported: mount files with a bind volume instead",
    "models": "`models` are not supported",
}
_DEPLOY_SWARM_ONLY = (
    "endpoint_mode",
    "labels",
    "mode",
    "placement",
    "replicas",
    "rollback_config",
    "update_config",
)


def unsupported_feature_issues(raw: Mapping[str, Any]) -> list[ComposeIssue]:
    """Issues for compose features Dockyard refuses, each naming its path and why."""
    issues = [ComposeIssue(key, message) for key, message in _TOP_UNSUPPORTED.items() if key in raw]
    services = raw.get("services")
    if not isinstance(services, Mapping):
        return issues
    for name, service in services.items():
        if not isinstance(service, Mapping):
            continue
        for key in service:
            path = join_path("services", name, key)
            if key in _SERVICE_UNSUPPORTED:
                issues.append(ComposeIssue(path, _SERVICE_UNSUPPORTED[key]))
            elif key in _SERVICE_UNSUPPORTED_GENERIC:
                issues.append(ComposeIssue(path, f"`{key}` is not supported by Dockyard"))
        deploy = service.get("deploy")
        if isinstance(deploy, Mapping):
            for key in deploy:
                if key in _DEPLOY_SWARM_ONLY:
                    issues.append(
                        ComposeIssue(
                            join_path("services", name, "deploy", key),
                            f"`deploy.{key}` is for Docker Swarm and is not supported",
                        )
                    )
    return issues


def _without_unsupported(raw: Mapping[str, Any]) -> dict[str, Any]:
    """`raw` minus the keys `unsupported_feature_issues` reported, so the rest is checked too."""
    result = {k: v for k, v in raw.items() if k not in _TOP_UNSUPPORTED}
    services = result.get("services")
    if isinstance(services, Mapping):
        cleaned: dict[str, Any] = {}
        for name, service in services.items():
            if isinstance(service, Mapping):
                service = {
                    k: v
                    for k, v in service.items()
                    if k not in _SERVICE_UNSUPPORTED and k not in _SERVICE_UNSUPPORTED_GENERIC
                }
                if isinstance(service.get("deploy"), Mapping):
                    service["deploy"] = {
                        k: v for k, v in service["deploy"].items() if k not in _DEPLOY_SWARM_ONLY
                    }
            cleaned[name] = service
        result["services"] = cleaned
    return result


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model class inside a field's type, and whether a dict key or list index comes first."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    for argument in typing.get_args(annotation):
        model, nested = _model_in(argument)
        if model is not None:
            return model, nested or origin in (dict, list)
    return None, False


def field_names_at(loc: Sequence[object]) -> list[str]:
    """The field names allowed where an unknown field sits (`loc` ends with that field)."""
    model: type[BaseModel] | None = ComposeDefinition
    position, parents = 0, list(loc[:-1])
    while model is not None and position < len(parents):
        field = model.model_fields.get(str(parents[position]))
        if field is None:
            return []
        model, nested = _model_in(field.annotation)
        position += 2 if nested else 1
    return list(model.model_fields) if model is not None else []


def parse_definition(raw: Mapping[str, Any], *, validate: bool = True) -> ComposeDefinition:
    """The canonical `ComposeDefinition` for a compose-shaped mapping.

    Raises `ComposeError` with every problem found: unsupported features, unknown fields,
    bad values and, unless `validate=False`, the cross-checks of `validate_definition`.
    """
    from dockyard.services.compose.validate import validate_definition

    if not isinstance(raw, Mapping):
        raise ComposeError([ComposeIssue("", "a compose definition must be a mapping")])
    issues = unsupported_feature_issues(raw)
    try:
        definition = ComposeDefinition.model_validate(_without_unsupported(raw))
    except ValidationError as exc:
        issues.extend(issues_from_validation_error(exc, suggestions=field_names_at))
        raise ComposeError(issues) from None
    if validate:
        issues.extend(validate_definition(definition))
    if issues:
        raise ComposeError(issues)
    return definition
