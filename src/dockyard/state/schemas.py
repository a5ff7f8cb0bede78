"""`ContainerState`: what the state cache knows about one container, and how Docker's
list and inspect answers map onto it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

SERVICE_ID_LABEL = "io.dockyard.service-id"
REVISION_LABEL = "io.dockyard.revision"
PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
CONTAINER_NUMBER_LABEL = "com.docker.compose.container-number"
ONEOFF_LABEL = "com.docker.compose.oneoff"

ContainerStatus = Literal[
    "created", "running", "paused", "restarting", "removing", "exited", "dead"
]
Health = Literal["starting", "healthy", "unhealthy"]

_HEALTH_VALUES = ("starting", "healthy", "unhealthy")
# How far an event's time may be from the time inspect reports for the same transition:
# the engine stamps StartedAt/FinishedAt first, and under load `die` follows by up to
# ~650 ms (seen at load average 30 on 2 cores).
CONFIRM_SLACK_S = 1.0
_EXITED = re.compile(r"^(?:Exited|Restarting) \((-?\d+)\)")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def parse_docker_time(value: Any) -> datetime | None:
    """Docker's RFC 3339 times; its zero time (`0001-01-01T00:00:00Z`) means never."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def health_from_status(status: str) -> str | None:
    """The health the list endpoint's status text shows: `Up 5 minutes (healthy)`."""
    if status.endswith("(healthy)"):
        return "healthy"
    if status.endswith("(unhealthy)"):
        return "unhealthy"
    if status.endswith("(health: starting)"):
        return "starting"
    return None


def exit_code_from_status(status: str) -> int | None:
    """The exit code in `Exited (137) 2 seconds ago`."""
    match = _EXITED.match(status)
    return int(match.group(1)) if match else None


def status_text(state: str, exit_code: int | None, health: str | None) -> str:
    """A status line like `docker ps` shows, without the relative time (it would go stale)."""
    if state == "running":
        return f"Up ({health})" if health else "Up"
    if state == "paused":
        return "Up (Paused)"
    if state == "restarting":
        return f"Restarting ({exit_code or 0})"
    if state == "exited":
        return f"Exited ({exit_code or 0})"
    if state == "removing":
        return "Removal In Progress"
    return state.capitalize()


def _ports_from_inspect(raw: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = []
    for key, bindings in (raw or {}).items():
        number, _, protocol = str(key).partition("/")
        container_port = _int(number) or 0
        if not bindings:
            ports.append(
                {
                    "host_ip": None,
                    "host_port": None,
                    "container_port": container_port,
                    "protocol": protocol or "tcp",
                }
            )
            continue
        for binding in bindings:
            ports.append(
                {
                    "host_ip": binding.get("HostIp") or None,
                    "host_port": _int(binding.get("HostPort")),
                    "container_port": container_port,
                    "protocol": protocol or "tcp",
                }
            )
    return _sorted_ports(ports)


def _sorted_ports(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        ports,
        key=lambda p: (
            p["container_port"],
            p["protocol"],
            p["host_ip"] or "",
            p["host_port"] or 0,
        ),
    )


def _close(a: datetime | None, b: datetime | None, slack_s: float) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < slack_s


@dataclass(slots=True)
class ContainerState:
    """One container as the cache sees it. Treat instances as immutable: the cache replaces
    them whole, so a reader holding one never sees it change."""

    id: str
    name: str
    labels: Mapping[str, str]
    image: str
    image_id: str | None
    state: str  # one of `ContainerStatus`
    status: str
    health: str | None  # one of `Health`, or None without a healthcheck
    exit_code: int | None
    restart_count: int
    started_at: datetime | None
    finished_at: datetime | None
    ports: Sequence[Mapping[str, Any]] = field(default_factory=list)
    created: datetime | None = None
    oom_killed: bool = False
    error: str | None = None

    @classmethod
    def from_inspect(cls, data: Mapping[str, Any]) -> ContainerState:
        """Build from `GET /containers/{id}/json`."""
        state = data.get("State") or {}
        config = data.get("Config") or {}
        health_raw = (state.get("Health") or {}).get("Status")
        health = health_raw if health_raw in _HEALTH_VALUES else None
        status = str(state.get("Status") or "created")
        running_like = status in ("running", "paused", "restarting")
        exit_code = _int(state.get("ExitCode"))
        if status in ("created", "running", "paused"):
            exit_code = None  # Docker reports 0 here; "no exit yet" is more honest.
        return cls(
            id=str(data["Id"]),
            name=str(data.get("Name") or "").lstrip("/"),
            labels=dict(config.get("Labels") or {}),
            image=str(config.get("Image") or data.get("Image") or ""),
            image_id=data.get("Image") or None,
            state=status,
            status=status_text(status, exit_code, health if status == "running" else None),
            health=health if running_like else None,
            exit_code=exit_code,
            restart_count=_int(data.get("RestartCount")) or 0,
            started_at=parse_docker_time(state.get("StartedAt")),
            finished_at=parse_docker_time(state.get("FinishedAt")),
            ports=_ports_from_inspect((data.get("NetworkSettings") or {}).get("Ports")),
            created=parse_docker_time(data.get("Created")),
            oom_killed=bool(state.get("OOMKilled")),
            error=state.get("Error") or None,
        )

    @property
    def service_id(self) -> int | None:
        """The Dockyard service this container belongs to (`io.dockyard.service-id`)."""
        return _int(self.labels.get(SERVICE_ID_LABEL))

    @property
    def revision(self) -> int | None:
        """The service revision that created it (`io.dockyard.revision`)."""
        return _int(self.labels.get(REVISION_LABEL))

    @property
    def compose_project(self) -> str | None:
        return self.labels.get(PROJECT_LABEL)

    @property
    def compose_service(self) -> str | None:
        return self.labels.get(COMPOSE_SERVICE_LABEL)

    @property
    def container_number(self) -> int | None:
        return _int(self.labels.get(CONTAINER_NUMBER_LABEL))

    @property
    def is_oneoff(self) -> bool:
        """`docker compose run` containers, which are not part of the service's status."""
        return self.labels.get(ONEOFF_LABEL, "False") == "True"

    def differs_only_in_timing(
        self, other: ContainerState, *, slack_s: float = CONFIRM_SLACK_S
    ) -> bool:
        """Whether `other` is this state with start/finish times moved by under `slack_s`.

        An event gives the engine's event time, the inspect after it the exact time. Only
        for matching an inspect with an event: a whole start/die cycle can be shorter.
        """
        if replace(other, started_at=self.started_at, finished_at=self.finished_at) != self:
            return False
        return _close(self.started_at, other.started_at, slack_s) and _close(
            self.finished_at, other.finished_at, slack_s
        )

    def to_event(self, node_id: int, *, reason: str) -> dict[str, Any]:
        """The `container.state` event payload."""
        return {
            "node_id": node_id,
            "container_id": self.id,
            "name": self.name,
            "service_id": self.service_id,
            "project": self.compose_project,
            "service": self.compose_service,
            "state": self.state,
            "status": self.status,
            "health": self.health,
            "exit_code": self.exit_code,
            "restart_count": self.restart_count,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "removed": False,
            "reason": reason,
        }

    def removed_event(self, node_id: int, *, reason: str) -> dict[str, Any]:
        """The `container.state` payload saying the container is gone (`state: removed`)."""
        payload = self.to_event(node_id, reason=reason)
        payload.update(state="removed", status="Removed", health=None, removed=True)
        return payload


def summary_matches(summary: Mapping[str, Any], cached: ContainerState | None) -> bool:
    """Whether a `GET /containers/json` entry agrees with the cached state.

    The list lacks restart counts and exact times, so a mismatch (or a new container) is
    what decides which containers to inspect; agreement means the cached details stand.
    """
    if cached is None:
        return False
    names = summary.get("Names") or []
    name = str(names[0]).lstrip("/") if names else ""
    status = str(summary.get("Status") or "")
    state = str(summary.get("State") or "")
    if state != cached.state or name != cached.name:
        return False
    if (summary.get("ImageID") or None) != cached.image_id:
        return False
    if state == "running" and health_from_status(status) != cached.health:
        return False
    return not (state == "exited" and exit_code_from_status(status) != cached.exit_code)


def apply_event(
    cached: ContainerState, event: Mapping[str, Any], at: datetime
) -> ContainerState | None:
    """What a container event alone says about the new state (None: nothing certain).

    Used to publish before the confirming inspect returns; `destroy` is handled by the
    caller (it removes).
    """
    action = str(event.get("Action") or event.get("status") or "")
    verb, _, detail = action.partition(":")
    attributes = (event.get("Actor") or {}).get("Attributes") or {}
    if cached.started_at is not None and at < cached.started_at:
        return None  # older than the state we hold (out of order): only inspect knows
    if verb == "die":
        code = _int(attributes.get("exitCode"))
        return replace(
            cached,
            state="exited",
            status=status_text("exited", code, None),
            health=None,
            exit_code=code,
            finished_at=at,
        )
    if verb == "start":
        # The engine emits `start` once the process runs; the exact StartedAt (a little
        # earlier) comes with the inspect. A healthcheck restarts at `starting`.
        health = "starting" if cached.health is not None else None
        return replace(
            cached,
            state="running",
            status=status_text("running", None, health),
            health=health,
            exit_code=None,
            started_at=at,
            oom_killed=False,
            error=None,
        )
    if verb == "health_status":
        health = detail.strip()
        if health not in _HEALTH_VALUES or cached.state != "running":
            return None
        return replace(cached, health=health, status=status_text("running", None, health))
    if verb == "pause" and cached.state == "running":
        return replace(cached, state="paused", status=status_text("paused", None, None))
    if verb == "unpause" and cached.state == "paused":
        return replace(cached, state="running", status=status_text("running", None, cached.health))
    if verb == "rename" and attributes.get("name"):
        return replace(cached, name=str(attributes["name"]).lstrip("/"))
    return None
