"""`verify_container`: the rules that decide whether an updated container is good."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.updates import flow
from dockyard.updates.flow import VerifyConfig, verify_container


class FakeEngine:
    """Returns the given inspect states in turn (the last one forever)."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states
        self.calls = 0

    async def inspect_container(self, container: str) -> dict[str, Any]:
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return state


def running(restarts: int = 0, started: str = "t0", health: dict[str, Any] | None = None) -> Any:
    state: dict[str, Any] = {"Status": "running", "StartedAt": started, "ExitCode": 0}
    if health is not None:
        state["Health"] = health
    return {"State": state, "RestartCount": restarts}


@pytest.fixture(autouse=True)
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flow, "POLL_S", 0.01)


async def test_without_healthcheck_running_for_the_settle_period_is_good() -> None:
    engine = FakeEngine([running()])
    assert await verify_container(engine, "c", "web", VerifyConfig(settle_s=0)) is None  # type: ignore[arg-type]


async def test_a_restart_or_an_exit_during_the_settle_period_fails() -> None:
    cfg = VerifyConfig(settle_s=5)
    engine = FakeEngine([running(), running(restarts=1, started="t1")])
    reason = await verify_container(engine, "c", "web", cfg)  # type: ignore[arg-type]
    assert reason == "web: restarted within the 5 s settle period"
    exited = {"State": {"Status": "exited", "ExitCode": 2, "StartedAt": "t0"}, "RestartCount": 0}
    engine = FakeEngine([running(), exited])
    reason = await verify_container(engine, "c", "web", cfg)  # type: ignore[arg-type]
    assert reason is not None
    assert reason.startswith("web: exited with code 2 within")


async def test_healthcheck_healthy_unhealthy_and_timeout() -> None:
    cfg = VerifyConfig(timeout_s=1)
    starting = running(health={"Status": "starting", "Log": []})
    healthy = running(health={"Status": "healthy", "Log": []})
    engine = FakeEngine([starting, starting, healthy])
    assert await verify_container(engine, "c", "web", cfg) is None  # type: ignore[arg-type]

    log = [{"ExitCode": 1, "Output": "connection\n refused\n"}]
    engine = FakeEngine([starting, running(health={"Status": "unhealthy", "Log": log})])
    reason = await verify_container(engine, "c", "web", cfg)  # type: ignore[arg-type]
    assert reason == (
        "web: healthcheck reported unhealthy (last: unhealthy: exit 1, connection refused)"
    )

    stuck = running(health={"Status": "starting", "Log": [{"ExitCode": 1, "Output": "no"}]})
    engine = FakeEngine([stuck])
    reason = await verify_container(engine, "c", "api", cfg)  # type: ignore[arg-type]
    assert reason == (
        "api: healthcheck did not become healthy within 1 s (last: starting: exit 1, no)"
    )
