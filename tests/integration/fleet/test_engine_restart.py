"""Node 3's dockerd restarts while its agent runs: the agent stays online, its engine events
resume, and the `die` of a container stopped by the restart reaches the server.

The test restarts the node3 test engine with its own command line (read from /proc) and,
should it not come back, runs `scripts/test-env.sh up` so the environment is left usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from tests.integration.fleet.conftest import AgentProcess, FleetServer, new_agent

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
NODE3_PIDFILE = Path("/run/dockyard-test/node3.pid")
REPO = Path(__file__).resolve().parents[3]


def _ping(base_url: str) -> bool:
    try:
        client = docker.DockerClient(base_url=base_url, timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _restart_dockerd(base_url: str) -> None:
    pid = int(NODE3_PIDFILE.read_text().strip())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    assert argv[0].endswith(b"dockerd"), argv
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists():
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
        if stat.rsplit(")", 1)[-1].split()[:1] in (["Z"], ["X"]):
            break
        assert time.monotonic() < deadline, "node3 dockerd did not stop"
        time.sleep(0.1)
    log = open("/tmp/dockyard-test-node3-restart.log", "ab")  # noqa: SIM115 - handed over
    subprocess.Popen(
        [a.decode() for a in argv],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 60
    while not _ping(base_url):
        assert time.monotonic() < deadline, "node3 dockerd did not come back"
        time.sleep(0.2)


def _repair(base_url: str) -> None:
    """Leave the shared test environment usable: bring node3 back if it is down."""
    if not _ping(base_url):
        subprocess.run(["bash", str(REPO / "scripts/test-env.sh"), "up"], check=False, timeout=300)


async def test_dockerd_restart_under_a_running_agent(
    fleet: FleetServer, agents: list[AgentProcess], node3_host: str
) -> None:
    if not await asyncio.to_thread(NODE3_PIDFILE.exists):
        pytest.fail(f"{NODE3_PIDFILE} is missing: run scripts/test-env.sh up", pytrace=False)
    node = await fleet.create_node(f"restart-{secrets.token_hex(2)}")
    agent = new_agent(fleet, node3_host, agents)
    agent.start(node["enrollment_token"])
    await fleet.wait_online(node["id"], timeout_s=30)

    client = docker.DockerClient(base_url=node3_host, timeout=30)
    name = f"dy-restart-{secrets.token_hex(3)}"
    seen: list[dict[str, Any]] = []
    try:
        container = await asyncio.to_thread(
            client.containers.run,
            IMAGE,
            ["sleep", "3600"],
            name=name,
            detach=True,
            labels={"io.dockyard.test": "1"},
        )
        watcher = fleet.runtime.state.watcher(node["id"])
        assert watcher is not None
        assert watcher.push
        original = watcher.apply_events

        def spy(events: list[dict[str, Any]]) -> None:
            seen.extend(events)
            original(events)

        watcher.apply_events = spy  # type: ignore[method-assign]
        cache = fleet.runtime.state.cache(node["id"])
        assert cache is not None
        deadline = time.monotonic() + 15
        while (found := cache.get(container.id)) is None or found.state != "running":
            assert time.monotonic() < deadline, "the container never showed running"
            await asyncio.sleep(0.1)

        await asyncio.to_thread(_restart_dockerd, node3_host)
        # The agent never lost the server; the die of the restart arrives as an event.
        assert fleet.runtime.agents.is_online(node["id"]), agent.log()
        deadline = time.monotonic() + 30
        while not any(
            e.get("Action") == "die" and (e.get("Actor") or {}).get("ID") == container.id
            for e in seen
        ):
            assert time.monotonic() < deadline, f"no die event reached the server: {seen}"
            await asyncio.sleep(0.2)
        deadline = time.monotonic() + 15
        while (found := cache.get(container.id)) is None or found.state == "running":
            assert time.monotonic() < deadline, "the container still shows running"
            await asyncio.sleep(0.1)
        # Events keep flowing after the restart: a new container's start arrives too.
        later = await asyncio.to_thread(
            client.containers.run,
            IMAGE,
            ["sleep", "3600"],
            name=f"{name}-2",
            detach=True,
            labels={"io.dockyard.test": "1"},
        )
        deadline = time.monotonic() + 15
        while not any(
            e.get("Action") == "start" and (e.get("Actor") or {}).get("ID") == later.id
            for e in seen
        ):
            assert time.monotonic() < deadline, "events did not resume after the restart"
            await asyncio.sleep(0.2)
    finally:
        await asyncio.to_thread(_repair, node3_host)

        def remove() -> None:
            for suffix in ("", "-2"):
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    client.containers.get(name + suffix).remove(force=True)
            client.close()

        await asyncio.to_thread(remove)
