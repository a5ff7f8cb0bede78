"""Docker list/inspect answers and events mapped onto `ContainerState`."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dockyard.state.schemas import (
    ContainerState,
    apply_event,
    exit_code_from_status,
    health_from_status,
    parse_docker_time,
    summary_matches,
)

CID = "a" * 64
LABELS = {
    "io.dockyard.service-id": "42",
    "io.dockyard.revision": "3",
    "com.docker.compose.project": "shop",
    "com.docker.compose.service": "web",
    "com.docker.compose.container-number": "2",
    "com.docker.compose.oneoff": "False",
}


def inspect_data(**state: Any) -> dict[str, Any]:
    base_state = {
        "Status": "running",
        "Running": True,
        "ExitCode": 0,
        "OOMKilled": False,
        "Error": "",
        "StartedAt": "2024-05-01T12:00:00.123456789Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
        "Health": {"Status": "healthy", "FailingStreak": 0, "Log": []},
    }
    base_state.update(state)
    return {
        "Id": CID,
        "Name": "/shop-web-2",
        "Created": "2024-05-01T11:59:59.5Z",
        "Image": "sha256:" + "b" * 64,
        "RestartCount": 4,
        "State": base_state,
        "Config": {"Image": "nginx:1.25", "Labels": dict(LABELS)},
        "NetworkSettings": {
            "Ports": {
                "80/tcp": [
                    {"HostIp": "127.0.0.1", "HostPort": "8080"},
                    {"HostIp": "::1", "HostPort": "8080"},
                ],
                "53/udp": None,
            }
        },
    }


def summary(**overrides: Any) -> dict[str, Any]:
    data = {
        "Id": CID,
        "Names": ["/shop-web-2"],
        "Image": "nginx:1.25",
        "ImageID": "sha256:" + "b" * 64,
        "State": "running",
        "Status": "Up 5 minutes (healthy)",
        "Labels": dict(LABELS),
    }
    data.update(overrides)
    return data


def test_running_container_from_inspect() -> None:
    state = ContainerState.from_inspect(inspect_data())
    assert state.id == CID
    assert state.name == "shop-web-2"
    assert state.image == "nginx:1.25"
    assert state.image_id == "sha256:" + "b" * 64
    assert state.state == "running"
    assert state.health == "healthy"
    assert state.status == "Up (healthy)"
    assert state.exit_code is None
    assert state.restart_count == 4
    assert state.started_at == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert state.finished_at is None
    assert state.created == datetime(2024, 5, 1, 11, 59, 59, 500000, tzinfo=UTC)
    assert state.ports == [
        {"host_ip": None, "host_port": None, "container_port": 53, "protocol": "udp"},
        {"host_ip": "127.0.0.1", "host_port": 8080, "container_port": 80, "protocol": "tcp"},
        {"host_ip": "::1", "host_port": 8080, "container_port": 80, "protocol": "tcp"},
    ]
    assert state.service_id == 42
    assert state.revision == 3
    assert state.compose_project == "shop"
    assert state.compose_service == "web"
    assert state.container_number == 2
    assert not state.is_oneoff


def test_exited_container_keeps_its_exit_code_and_drops_health() -> None:
    data = inspect_data(
        Status="exited",
        Running=False,
        ExitCode=137,
        OOMKilled=True,
        FinishedAt="2024-05-01T12:05:00Z",
        Health={"Status": "unhealthy"},
    )
    state = ContainerState.from_inspect(data)
    assert state.state == "exited"
    assert state.exit_code == 137
    assert state.status == "Exited (137)"
    assert state.health is None
    assert state.oom_killed
    assert state.finished_at == datetime(2024, 5, 1, 12, 5, tzinfo=UTC)


def test_no_healthcheck_and_no_labels() -> None:
    data = inspect_data()
    del data["State"]["Health"]
    data["Config"]["Labels"] = None
    state = ContainerState.from_inspect(data)
    assert state.health is None
    assert state.status == "Up"
    assert state.service_id is None
    assert state.compose_project is None


def test_a_non_numeric_service_label_is_no_service() -> None:
    data = inspect_data()
    data["Config"]["Labels"]["io.dockyard.service-id"] = "abc"
    assert ContainerState.from_inspect(data).service_id is None


def test_event_payloads() -> None:
    state = ContainerState.from_inspect(inspect_data())
    payload = state.to_event(1, reason="start")
    assert payload["node_id"] == 1
    assert payload["container_id"] == CID
    assert payload["service_id"] == 42
    assert payload["state"] == "running"
    assert payload["health"] == "healthy"
    assert payload["removed"] is False
    assert payload["started_at"].startswith("2024-05-01T12:00:00")
    gone = state.removed_event(1, reason="destroy")
    assert gone["state"] == "removed"
    assert gone["removed"] is True
    assert gone["service_id"] == 42


@pytest.mark.parametrize(
    ("status", "health"),
    [
        ("Up 5 minutes (healthy)", "healthy"),
        ("Up 2 seconds (health: starting)", "starting"),
        ("Up About a minute (unhealthy)", "unhealthy"),
        ("Up 3 hours", None),
        ("Exited (0) 2 days ago", None),
    ],
)
def test_health_from_status(status: str, health: str | None) -> None:
    assert health_from_status(status) == health


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("Exited (137) 5 seconds ago", 137),
        ("Exited (0) 2 days ago", 0),
        ("Restarting (1) 3 seconds ago", 1),
        ("Up 3 hours", None),
        ("Created", None),
    ],
)
def test_exit_code_from_status(status: str, code: int | None) -> None:
    assert exit_code_from_status(status) == code


def test_docker_zero_time_is_none() -> None:
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("") is None
    assert parse_docker_time(None) is None
    assert parse_docker_time("garbage") is None


def test_summary_matches_only_when_nothing_visible_changed() -> None:
    cached = ContainerState.from_inspect(inspect_data())
    assert summary_matches(summary(), cached)
    # The relative time in the status text changes every minute: not a change.
    assert summary_matches(summary(Status="Up 6 minutes (healthy)"), cached)
    assert not summary_matches(summary(), None)
    assert not summary_matches(summary(State="exited", Status="Exited (1) 1 second ago"), cached)
    assert not summary_matches(summary(Status="Up 6 minutes (unhealthy)"), cached)
    assert not summary_matches(summary(Names=["/renamed"]), cached)
    assert not summary_matches(summary(ImageID="sha256:" + "c" * 64), cached)
    exited = ContainerState.from_inspect(
        inspect_data(Status="exited", Running=False, ExitCode=1, Health=None)
    )
    assert summary_matches(summary(State="exited", Status="Exited (1) 3 hours ago"), exited)
    assert not summary_matches(summary(State="exited", Status="Exited (2) 1 hour ago"), exited)


def event(action: str, **attributes: str) -> dict[str, Any]:
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": CID, "Attributes": {"name": "shop-web-2", **attributes}},
        "timeNano": 1_714_564_800_000_000_000,
    }


AT = datetime(2024, 5, 1, 12, 10, tzinfo=UTC)


def test_die_event_says_exited_with_the_exit_code() -> None:
    cached = ContainerState.from_inspect(inspect_data())
    after = apply_event(cached, event("die", exitCode="137"), AT)
    assert after is not None
    assert (after.state, after.exit_code, after.status, after.health) == (
        "exited",
        137,
        "Exited (137)",
        None,
    )
    assert after.finished_at == AT
    assert cached.state == "running"  # the cached object is never changed in place


def test_health_pause_unpause_and_rename_events() -> None:
    cached = ContainerState.from_inspect(inspect_data())
    unhealthy = apply_event(cached, event("health_status: unhealthy"), AT)
    assert unhealthy is not None
    assert (unhealthy.health, unhealthy.status) == ("unhealthy", "Up (unhealthy)")
    assert apply_event(cached, event("health_status: bogus"), AT) is None

    paused = apply_event(cached, event("pause"), AT)
    assert paused is not None
    assert paused.state == "paused"
    resumed = apply_event(paused, event("unpause"), AT)
    assert resumed is not None
    assert resumed.state == "running"

    renamed = apply_event(cached, event("rename", name="new-name", oldName="/shop-web-2"), AT)
    assert renamed is not None
    assert renamed.name == "new-name"


def test_start_event_says_running_since_the_event() -> None:
    exited = ContainerState.from_inspect(
        inspect_data(
            Status="exited",
            Running=False,
            ExitCode=137,
            OOMKilled=True,
            FinishedAt="2024-05-01T12:05:00Z",
        )
    )
    after = apply_event(exited, event("start"), AT)
    assert after is not None
    assert (after.state, after.status, after.exit_code, after.health, after.oom_killed) == (
        "running",
        "Up",
        None,
        None,
        False,
    )
    assert after.started_at == AT
    assert after.finished_at == exited.finished_at  # inspect keeps the last exit, too
    # A container with a healthcheck starts over at `starting`.
    running = ContainerState.from_inspect(inspect_data())
    restarted = apply_event(running, event("start"), AT)
    assert restarted is not None
    assert (restarted.health, restarted.status) == ("starting", "Up (starting)")


def test_a_short_cycle_is_not_mistaken_for_a_timing_difference() -> None:
    # Bug: a die 1 s after the previous one read as "the same exit" and was dropped.
    first = ContainerState.from_inspect(inspect_data(Status="exited", ExitCode=0))
    started = apply_event(first, event("start"), AT)
    assert started is not None
    died = apply_event(started, event("die", exitCode="0"), AT + timedelta(seconds=1))
    assert died is not None
    assert not dataclasses.replace(first, finished_at=AT).differs_only_in_timing(died)


@pytest.mark.parametrize("action", ["kill", "stop", "create", "exec_start: sh", "oom"])
def test_other_events_wait_for_the_inspect(action: str) -> None:
    cached = ContainerState.from_inspect(copy.deepcopy(inspect_data()))
    assert apply_event(cached, event(action), AT) is None


def test_timing_only_differences() -> None:
    cached = ContainerState.from_inspect(inspect_data(Status="exited", ExitCode=1))
    guessed = dataclasses.replace(cached, finished_at=AT)
    exact = dataclasses.replace(cached, finished_at=AT + timedelta(milliseconds=30))
    assert guessed.differs_only_in_timing(exact)
    assert not guessed.differs_only_in_timing(dataclasses.replace(exact, exit_code=2))
    assert not guessed.differs_only_in_timing(
        dataclasses.replace(exact, finished_at=AT + timedelta(seconds=5))
    )
    assert not guessed.differs_only_in_timing(dataclasses.replace(exact, finished_at=None))


def test_an_event_older_than_the_cached_start_is_not_applied() -> None:
    cached = ContainerState.from_inspect(inspect_data())  # started 12:00:00.123
    before_start = datetime(2024, 5, 1, 11, 59, tzinfo=UTC)
    assert apply_event(cached, event("die", exitCode="1"), before_start) is None
