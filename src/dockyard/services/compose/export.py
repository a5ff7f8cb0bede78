"""A definition as a readable compose file that both docker compose v2 and v1.29 accept.

The file has no `version:` and no top-level `name:` (docker-compose 1.29 refuses `name`;
the project name goes in a comment). Ports use the short syntax (1.29's long syntax has no
`host_ip`); bind mounts that create their host path use the short syntax (1.29 has no
`bind.create_host_path`); `gpus` are written as `deploy.resources.reservations.devices`.
Every `$` is written as `$$` so nothing is interpolated when the file is read back.

A few compose-spec fields have no 1.29 spelling; they are written as the spec says and
`compose_v1_incompatibilities` lists them: `healthcheck.start_interval`,
`depends_on.*.restart`, `depends_on.*.required: false`, and `bind.selinux` on a long
syntax bind mount.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from dockyard.services.compose.issues import ComposeIssue, join_path
from dockyard.services.compose.model import ComposeDefinition, ContainerSpec, MountSpec, PortSpec
from dockyard.services.compose.units import format_size

SERVICE_KEY_ORDER = (
    "image",
    "container_name",
    "platform",
    "pull_policy",
    "command",
    "entrypoint",
    "working_dir",
    "user",
    "environment",
    "ports",
    "expose",
    "volumes",
    "tmpfs",
    "networks",
    "network_mode",
    "hostname",
    "domainname",
    "mac_address",
    "dns",
    "dns_search",
    "dns_opt",
    "extra_hosts",
    "depends_on",
    "restart",
    "healthcheck",
    "stop_signal",
    "stop_grace_period",
    "labels",
    "logging",
    "init",
    "tty",
    "stdin_open",
    "read_only",
    "privileged",
    "cap_add",
    "cap_drop",
    "security_opt",
    "devices",
    "group_add",
    "sysctls",
    "ulimits",
    "cpus",
    "cpu_shares",
    "cpuset",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "pids_limit",
    "shm_size",
    "pid",
    "ipc",
    "uts",
    "userns_mode",
    "cgroup_parent",
    "device_cgroup_rules",
    "runtime",
    "deploy",
)
_SIZE_FIELDS = ("mem_limit", "mem_reservation", "memswap_limit", "shm_size")


class _ComposeDumper(yaml.SafeDumper):
    """Block style, indented lists, and quoting safe for YAML 1.1 and 1.2 readers alike."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


# PyYAML quotes a string only if a YAML 1.1 reader would take it for another type; these
# YAML 1.2 spellings (`0o17`, `1e5`) need quotes too, for compose v2 and our own loader.
_ComposeDumper.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?0o[0-7]+$"), list("-+0")
)
_ComposeDumper.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


# Line breaks YAML folds inside plain or single-quoted scalars; double quotes escape them.
_FOLDED_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = None
    if any(c in value for c in _FOLDED_BREAKS):
        style = '"'
    elif "\n" in value:
        style = "|"  # a literal block keeps scripts readable
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ComposeDumper.add_representer(str, _represent_str)


def _escape_dollars(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: _escape_dollars(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape_dollars(item) for item in value]
    return value


def _port(port: PortSpec) -> str:
    text = str(port.target)
    if port.host_ip is not None:
        host = f"[{port.host_ip}]" if ":" in port.host_ip else port.host_ip
        text = f"{host}:{port.published or ''}:{text}"
    elif port.published is not None:
        text = f"{port.published}:{text}"
    return text if port.protocol == "tcp" else f"{text}/{port.protocol}"


def _mount(mount: MountSpec) -> str | dict[str, Any]:
    """Short syntax when it says exactly the same; long syntax otherwise."""
    options = ["ro"] if mount.read_only else []
    if mount.type == "volume" and mount.source is not None:
        if mount.volume is not None and mount.volume.nocopy:
            options.append("nocopy")
        return ":".join([mount.source, mount.target, *([",".join(options)] if options else [])])
    if mount.type == "volume" and mount.volume is None and not mount.read_only:
        return mount.target
    bind = mount.bind
    if mount.type == "bind" and bind is not None and bind.create_host_path and mount.source:
        options += [o for o in (bind.propagation, bind.selinux) if o]
        return ":".join([mount.source, mount.target, *([",".join(options)] if options else [])])
    long_form = mount.model_dump(mode="json", exclude_defaults=True)
    return {"type": long_form.pop("type"), **long_form}


def _service(spec: ContainerSpec) -> dict[str, Any]:
    data = spec.to_json()
    if spec.ports:
        data["ports"] = [_port(p) for p in spec.ports]
    if spec.expose:
        data["expose"] = [e.removesuffix("/tcp") for e in spec.expose]
    if spec.volumes:
        data["volumes"] = [_mount(m) for m in spec.volumes]
    if spec.networks and all(not n for n in data["networks"].values()):
        data["networks"] = list(spec.networks)
    if spec.depends_on:
        if all(not d for d in data["depends_on"].values()):
            data["depends_on"] = list(spec.depends_on)
        else:
            # 1.29 needs `condition` in the map form; it is a default the dump left out.
            data["depends_on"] = {
                name: {"condition": dependency.condition, **data["depends_on"][name]}
                for name, dependency in spec.depends_on.items()
            }
    if spec.ulimits:
        data["ulimits"] = {
            name: limit.soft
            if limit.soft == limit.hard
            else {"soft": limit.soft, "hard": limit.hard}
            for name, limit in spec.ulimits.items()
        }
    for key in _SIZE_FIELDS:
        value = data.get(key)
        if isinstance(value, int) and value > 0:
            data[key] = format_size(value)
    return {key: data[key] for key in SERVICE_KEY_ORDER if key in data}


def export_compose_yaml(defn: ComposeDefinition, *, project_name: str | None = None) -> str:
    """The definition as compose YAML; loading and parsing it gives back an equal definition."""
    document: dict[str, Any] = {
        "services": {name: _service(spec) for name, spec in defn.services.items()}
    }
    for section, entries in (("networks", defn.networks), ("volumes", defn.volumes)):
        if entries:
            document[section] = {
                key: entry.model_dump(mode="json", exclude_defaults=True)
                for key, entry in entries.items()
            }
    header = "# Compose file exported by Dockyard.\n"
    if project_name:
        header = (
            f"# Compose file of the Dockyard service {project_name!r}: the project name is\n"
            f"# `{project_name}` (docker compose -p {project_name} ...).\n"
        )
    body = yaml.dump(
        _escape_dollars(document),
        Dumper=_ComposeDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
    )
    return header + body


def compose_v1_incompatibilities(defn: ComposeDefinition) -> list[ComposeIssue]:
    """Fields whose exported spelling docker-compose v1.29 refuses (compose v2 accepts them)."""
    issues: list[ComposeIssue] = []
    for name, spec in defn.services.items():
        base = ("services", name)
        if spec.healthcheck is not None and spec.healthcheck.start_interval is not None:
            issues.append(
                ComposeIssue(
                    join_path(*base, "healthcheck", "start_interval"),
                    "docker-compose 1.29 does not know `start_interval`",
                )
            )
        for target, dependency in spec.depends_on.items():
            for field, default in (("restart", False), ("required", True)):
                if getattr(dependency, field) != default:
                    issues.append(
                        ComposeIssue(
                            join_path(*base, "depends_on", target, field),
                            f"docker-compose 1.29 does not know `depends_on.{field}`",
                        )
                    )
        for index, mount in enumerate(spec.volumes):
            exported = _mount(mount)
            if isinstance(exported, dict) and (exported.get("bind") or {}).get("selinux"):
                issues.append(
                    ComposeIssue(
                        join_path(*base, "volumes", index, "bind", "selinux"),
                        "docker-compose 1.29 does not know `bind.selinux`",
                    )
                )
    return issues
