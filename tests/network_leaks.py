"""Fail the run when tests leave Docker networks behind on the test engines.

Every bridge network takes an address pool from the same host (the second and third
engines share the host's network namespace), and Docker has about 30 of them by default.
Networks that tests leave behind therefore make an unrelated later deploy fail with
"could not find an available, non-overlapping IPv4 address pool". This plugin notes the
networks of each test engine when the run starts and, at the end, names every network
created during the run that still exists, and fails the run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

ENGINE_VARIABLES = (
    "DOCKYARD_TEST_DOCKER_HOST",
    "DOCKYARD_TEST_NODE2_DOCKER_HOST",
    "DOCKYARD_TEST_NODE3_DOCKER_HOST",
)
# An engine restarted by a test (the fleet tests restart node 2's and node 3's) makes its
# predefined networks again, with new ids.
PREDEFINED = frozenset({"bridge", "host", "none"})
_BEFORE = pytest.StashKey[dict[str, set[str]]]()
_LEAKED = pytest.StashKey[list[str]]()


def _networks(host: str) -> dict[str, str] | None:
    """Network id → name on the engine at `host`, or None when it does not answer."""
    import docker

    try:
        client: Any = docker.DockerClient(base_url=host, version="auto", timeout=10)
    except docker.errors.DockerException:
        return None
    try:
        return {n["Id"]: n["Name"] for n in client.api.networks()}
    except docker.errors.DockerException:
        return None
    finally:
        client.close()


def _engines() -> list[str]:
    return sorted({os.environ[v] for v in ENGINE_VARIABLES if os.environ.get(v)})


def pytest_sessionstart(session: pytest.Session) -> None:
    before: dict[str, set[str]] = {}
    for host in _engines():
        networks = _networks(host)
        if networks is not None:
            before[host] = set(networks)
    session.stash[_BEFORE] = before


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.stash.get(_BEFORE, {})
    leaked: list[str] = []
    for host, ids in before.items():
        networks = _networks(host) or {}
        leaked += [
            f"{name} on {host}"
            for nid, name in networks.items()
            if nid not in ids and name not in PREDEFINED
        ]
    session.config.stash[_LEAKED] = sorted(leaked)
    if leaked and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    leaked = config.stash.get(_LEAKED, [])
    if leaked:
        terminalreporter.section("Docker networks left behind", red=True)
        terminalreporter.write_line(
            "Created by this run and still there (see docs/testing.md): " + ", ".join(leaked),
            red=True,
        )
