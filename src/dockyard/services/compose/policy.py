"""The container security policy for non-admins: what they may not set, what is forced.

Pure functions, no I/O. The one entry point every path that saves or deploys a definition
for a user calls (service create, update, restore, validate, adopt; later template deploy
and config import):

    enforce_container_policy(definition, context) -> ComposeDefinition

For an admin (`context.is_admin`: the `admin` role or the `services:privileged`
permission) it returns `definition` unchanged. For anyone else it raises
`PolicyViolationError` (403, code `policy_violation`, `details.errors` =
`[{"path", "rule", "message"}]`) naming every refused field, or returns the definition
with the forced settings applied (they are saved in the revision, so they are visible):

- `pids_limit`, `mem_limit` and `cpus` default to the quota's `default_pids`,
  `default_memory` and `default_cpus` when missing (or 0/unlimited); `pids_limit` is capped
  at `default_pids`. Memory and CPUs above the quota are not clamped: the quota check
  (`dockyard.quotas.service.check_quota`) refuses them with a message saying what is over;
- `security_opt` gets `no-new-privileges:true`;
- the label `io.dockyard.owner=<user id>` is set on every service.

Refused for non-admins (rule names in parentheses): `privileged`, `cap_add`, `devices`,
`device_cgroup_rules`, `network_mode`/`pid`/`ipc`/`uts`/`userns_mode` of `host` or
`container:`/`service:` (sharing a namespace), `security_opt` other than
`no-new-privileges`, `sysctls`, `cgroup_parent`, `runtime`, `volumes_from`, bind mounts
outside the allowed roots (`bind_mount`; paths compared by whole components after `..` is
resolved), any path to the Docker socket or a folder holding it (`docker_socket`), named
volumes with `driver_opts` `o=bind` or `device` or another driver than `local`
(`volume_driver`), external or renamed volumes and networks (`volume_external`,
`network_external`: they could reach another tenant's data or the host network), network
drivers other than `bridge` (`network_driver`), log drivers other than `json-file`,
`local` and `none` (`logging_driver`), device requests other than GPUs within the quota
(`gpus`, `device_requests`).

`policy_violations(data, context)` also accepts a raw compose-shaped mapping, so fields the
compose model refuses for everyone (`volumes_from`, `network_mode: service:x`) are caught
too if the model ever accepts them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.kit.errors import DockyardError
from dockyard.services.compose.issues import join_path
from dockyard.services.compose.model import ComposeDefinition, parse_definition

OWNER_LABEL = "io.dockyard.owner"
NO_NEW_PRIVILEGES = "no-new-privileges:true"
ALLOWED_LOG_DRIVERS = frozenset({"json-file", "local", "none"})
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class QuotaLimits:
    """A user's quota; None means no limit on that total."""

    max_services: int | None = 10
    max_containers: int | None = 20
    max_cpus: float | None = 4.0
    max_memory_bytes: int | None = 8 * GIB
    max_gpus: int | None = 0
    default_cpus: float = 1.0
    default_memory: int = 512 * MIB
    default_pids: int = 512


@dataclass(frozen=True)
class PolicyContext:
    """Who the definition is for: an admin, or a user with allowed bind roots and a quota.

    `project_dir` is where relative bind sources (`./data`) resolve; without it they are
    refused for non-admins.
    """

    is_admin: bool
    user_id: int | None = None
    allowed_bind_roots: tuple[str, ...] = ()
    quota: QuotaLimits = field(default_factory=QuotaLimits)
    project_dir: str | None = None
    # False for a tenant: other owners' services are not named to them (port conflicts).
    sees_all: bool = True


@dataclass(frozen=True)
class PolicyViolation:
    path: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "rule": self.rule, "message": self.message}


class PolicyViolationError(DockyardError):
    """403 `policy_violation`; `details.errors` names each refused field and the rule."""

    status_code = 403
    code = "policy_violation"

    def __init__(self, violations: list[PolicyViolation]) -> None:
        self.violations = violations
        first = violations[0]
        more = len(violations) - 1
        message = f"Not allowed for your account: {first.path}: {first.message}"
        if more:
            message += f" (and {more} more)"
        super().__init__(message, details={"errors": [v.as_dict() for v in violations]})


# ---------------------------------------------------------------- paths


def normalize_host_path(source: str, project_dir: str | None) -> str | None:
    """The absolute, `..`-resolved host path of a bind source; None when it cannot be known."""
    if source.startswith("~"):
        return None
    if not source.startswith("/"):
        if project_dir is None:
            return None
        source = posixpath.join(project_dir, source)
    # normpath keeps a leading `//`; collapse it so `//etc` is `/etc`.
    path = posixpath.normpath("/" + source.lstrip("/"))
    return path


def is_within(path: str, root: str) -> bool:
    """Whether `path` is `root` or below it, by whole components (`/a/b2` is not in `/a/b`)."""
    root_norm = posixpath.normpath("/" + root.strip().lstrip("/"))
    if root_norm == "/":
        return True
    return path == root_norm or path.startswith(root_norm + "/")


def names_docker_socket(path: str) -> bool:
    """Any path whose text looks like a Docker socket (`docker.sock`, `docker-x.sock`)."""
    lowered = path.lower().rstrip("/")
    name = posixpath.basename(lowered)
    return "docker.sock" in lowered or (name.startswith("docker") and name.endswith(".sock"))


def touches_docker_socket(path: str) -> bool:
    """For a normalized absolute path: a Docker socket, a folder holding one, or a look-alike."""
    return names_docker_socket(path) or any(is_within(sock, path) for sock in DOCKER_SOCKETS)


# ---------------------------------------------------------------- checks


def _sharing(value: object) -> bool:
    return isinstance(value, str) and (
        value == "host" or value.startswith(("container:", "service:"))
    )


def _is_no_new_privileges(option: str) -> bool:
    text = option.strip().lower().replace("=", ":")
    return text in ("no-new-privileges", "no-new-privileges:true")


def _gpu_count(request: Mapping[str, Any]) -> int | None:
    """GPUs one device request asks for; None for `all` (every GPU of the host)."""
    count = request.get("count")
    ids = request.get("device_ids") or []
    if ids:
        return len(ids)
    if count in (None, "all", -1):
        return None
    return int(count) if isinstance(count, int | str) and str(count).isdigit() else None


def gpus_requested(data: Mapping[str, Any]) -> int | None:
    """Total GPUs a definition reserves; None when one service asks for all of them."""
    total = 0
    for spec in (data.get("services") or {}).values():
        for request in _device_requests(spec):
            if "gpu" in (request.get("capabilities") or []):
                count = _gpu_count(request)
                if count is None:
                    return None
                total += count
    return total


def _device_requests(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    deploy = spec.get("deploy") or {}
    resources = deploy.get("resources") or {} if isinstance(deploy, Mapping) else {}
    reservations = resources.get("reservations") or {} if isinstance(resources, Mapping) else {}
    devices = reservations.get("devices") or [] if isinstance(reservations, Mapping) else []
    return [d for d in devices if isinstance(d, Mapping)]


def _mounts(spec: Mapping[str, Any]) -> Iterable[tuple[int, str | None, str | None]]:
    """(index, type, source) of each mount, short strings read like compose does."""
    for index, mount in enumerate(spec.get("volumes") or []):
        if isinstance(mount, str):
            parts = mount.split(":")
            if len(parts) == 1:
                yield index, "volume", None
            else:
                source = parts[0]
                kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
                yield index, kind, source
        elif isinstance(mount, Mapping):
            raw_kind = mount.get("type")
            yield (
                index,
                raw_kind.lower() if isinstance(raw_kind, str) else None,
                mount.get("source") if isinstance(mount.get("source"), str) else None,
            )


def _service_violations(
    name: str, spec: Mapping[str, Any], context: PolicyContext, add: Any
) -> None:
    def at(*parts: object) -> str:
        return join_path("services", name, *parts)

    if spec.get("privileged"):
        add(at("privileged"), "privileged", "privileged containers are for admins only")
    if spec.get("cap_add"):
        add(at("cap_add"), "cap_add", "adding Linux capabilities is for admins only")
    if spec.get("devices"):
        add(at("devices"), "devices", "host devices are for admins only")
    if spec.get("device_cgroup_rules"):
        add(
            at("device_cgroup_rules"),
            "device_cgroup_rules",
            "device cgroup rules are for admins only",
        )
    for key in ("network_mode", "pid", "ipc", "uts", "userns_mode"):
        value = spec.get(key)
        if _sharing(value):
            add(
                at(key),
                key,
                f"`{key}: {value}` shares a namespace with the host or another container; "
                "only admins may do that",
            )
    for index, option in enumerate(spec.get("security_opt") or []):
        if not _is_no_new_privileges(str(option)):
            add(
                at("security_opt", index),
                "security_opt",
                "only `no-new-privileges:true` may be set in `security_opt`; other security "
                "options are for admins only",
            )
    if spec.get("sysctls"):
        add(at("sysctls"), "sysctls", "kernel parameters (sysctls) are for admins only")
    if spec.get("cgroup_parent"):
        add(at("cgroup_parent"), "cgroup_parent", "a cgroup parent is for admins only")
    if spec.get("runtime"):
        add(at("runtime"), "runtime", "choosing a container runtime is for admins only")
    if spec.get("volumes_from"):
        add(
            at("volumes_from"),
            "volumes_from",
            "mounting another container's volumes is for admins only",
        )
    for index, kind, source in _mounts(spec):
        if kind != "bind":
            continue
        path_at = at("volumes", index, "source")
        resolved = normalize_host_path(source or "", context.project_dir)
        socket = names_docker_socket(source or "") or (
            resolved is not None and touches_docker_socket(resolved)
        )
        if socket:
            add(path_at, "docker_socket", "mounting the Docker socket is never allowed")
        elif resolved is None or not any(
            is_within(resolved, r) for r in context.allowed_bind_roots
        ):
            roots = ", ".join(context.allowed_bind_roots)
            allowed = f"only paths under {roots} may be mounted" if roots else "none is allowed"
            add(
                path_at,
                "bind_mount",
                f"host path `{source}` is outside the allowed bind roots ({allowed})",
            )
    logging = spec.get("logging") or {}
    driver = logging.get("driver") if isinstance(logging, Mapping) else None
    if driver is not None and driver not in ALLOWED_LOG_DRIVERS:
        add(
            at("logging", "driver"),
            "logging_driver",
            f"log driver `{driver}` sends logs off the host; use json-file, local or none",
        )
    for index, request in enumerate(_device_requests(spec)):
        request_at = at("deploy", "resources", "reservations", "devices", index)
        if "gpu" not in (request.get("capabilities") or []):
            add(request_at, "device_requests", "device requests other than GPUs are for admins")
        elif _gpu_count(request) is None:
            add(request_at, "gpus", "ask for a number of GPUs, not all of the host's")


def policy_violations(
    definition: ComposeDefinition | Mapping[str, Any], context: PolicyContext
) -> list[PolicyViolation]:
    """Every setting `context` may not use (none for an admin)."""
    if context.is_admin:
        return []
    data = definition.to_json() if isinstance(definition, ComposeDefinition) else definition
    found: list[PolicyViolation] = []

    def add(path: str, rule: str, message: str) -> None:
        found.append(PolicyViolation(path, rule, message))

    for name, spec in (data.get("services") or {}).items():
        if isinstance(spec, Mapping):
            _service_violations(str(name), spec, context, add)
    for key, volume in (data.get("volumes") or {}).items():
        volume = volume or {}
        at = join_path("volumes", key)
        opts = {str(k).lower(): str(v) for k, v in (volume.get("driver_opts") or {}).items()}
        options = {o.strip().lower() for o in opts.get("o", "").replace(" ", ",").split(",")}
        if "device" in opts or options & {"bind", "rbind"}:
            add(
                join_path(at, "driver_opts"),
                "volume_driver",
                "a volume bound to a host path or device is for admins only",
            )
        if volume.get("driver") not in (None, "local"):
            add(join_path(at, "driver"), "volume_driver", "volume drivers are for admins only")
        if volume.get("external") or volume.get("name"):
            add(
                at,
                "volume_external",
                "external or explicitly named volumes could hold someone else's data; "
                "they are for admins only",
            )
    for key, network in (data.get("networks") or {}).items():
        network = network or {}
        at = join_path("networks", key)
        if network.get("external") or network.get("name"):
            add(at, "network_external", "external or explicitly named networks are for admins")
        if network.get("driver") not in (None, "bridge"):
            add(join_path(at, "driver"), "network_driver", "only bridge networks are allowed")
    return found


# ---------------------------------------------------------------- forced settings


def apply_forced_settings(
    definition: ComposeDefinition, context: PolicyContext
) -> ComposeDefinition:
    """`definition` with the quota's limits, `no-new-privileges` and the owner label forced."""
    if context.is_admin:
        return definition
    quota = context.quota
    data = definition.to_json()
    for spec in data["services"].values():
        memory = spec.get("mem_limit")
        if memory is None or memory <= 0:
            memory = quota.default_memory
        spec["mem_limit"] = memory
        cpus = spec.get("cpus")
        if cpus is None or cpus <= 0:
            cpus = quota.default_cpus
        spec["cpus"] = cpus
        pids = spec.get("pids_limit")
        if pids is None or pids <= 0 or pids > quota.default_pids:
            pids = quota.default_pids
        spec["pids_limit"] = pids
        options = [o for o in spec.get("security_opt") or [] if not _is_no_new_privileges(o)]
        spec["security_opt"] = [*options, NO_NEW_PRIVILEGES]
        if context.user_id is not None:
            spec["labels"] = {**(spec.get("labels") or {}), OWNER_LABEL: str(context.user_id)}
    return parse_definition(data, validate=False)


def enforce_container_policy(
    definition: ComposeDefinition, context: PolicyContext
) -> ComposeDefinition:
    """Refuse what `context` may not set (`PolicyViolationError`), else force the rest."""
    violations = policy_violations(definition, context)
    if violations:
        raise PolicyViolationError(violations)
    return apply_forced_settings(definition, context)
