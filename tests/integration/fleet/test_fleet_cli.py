"""`dockyard node` and `dockyard container` as a user runs them, against a live server and a
real agent on node3's engine."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import docker

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, clean_environ, dockyard_executable
from tests.integration.fleet.conftest import AgentProcess, FleetServer, new_agent

IMAGE = "dockyard-test/busybox:1"


async def cli(
    config: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI off the event loop (the server under test runs on this loop)."""
    return await asyncio.to_thread(
        subprocess.run,
        [dockyard_executable(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean_environ(DOCKYARD_CONFIG_DIR=str(config)),
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


async def test_node_lifecycle_and_fleet_containers_from_the_cli(
    fleet: FleetServer, agents: list[AgentProcess], node3_host: str, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    ok(
        await cli(
            config,
            "login",
            "--server",
            fleet.url,
            "--email",
            ADMIN_EMAIL,
            "--password-stdin",
            stdin=ADMIN_PASSWORD + "\n",
        )
    )
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = ok(await cli(config, "node", "create", name, "--label", "zone=cli"))
    token = re.search(r"enrollment token \(shown once\): (\S+)", created)
    assert token is not None, created
    assert "dockyard agent --server" in created
    listed = ok(await cli(config, "node", "list"))
    row = next(line for line in listed.splitlines() if line.split()[1:2] == [name])
    assert " waiting " in f" {row} "
    assert "zone=cli" in row

    agent = new_agent(fleet, node3_host, agents)
    agent.start(token.group(1))
    node_id = int(row.split()[0])
    await fleet.wait_online(node_id, timeout_s=30)
    row = next(line for line in ok(await cli(config, "node", "list")).splitlines() if name in line)
    assert " online " in f" {row} ", row

    # A container on node3's engine shows in the fleet table under the new node.
    engine = docker.DockerClient(base_url=node3_host)
    marker = f"dockyard-test-cli-{uuid.uuid4().hex[:6]}"
    container: Any = await asyncio.to_thread(
        engine.containers.run,
        IMAGE,
        ["sleep", "300"],
        name=marker,
        detach=True,
        labels={"io.dockyard.test": "1"},
    )
    try:
        for _ in range(50):
            out = ok(await cli(config, "container", "list", "--node", name, "--search", marker))
            if marker in out:
                break
            await asyncio.sleep(0.2)
        line = next(row for row in out.splitlines() if marker in row)
        assert line.split()[0] == name
        assert "Up" in line
    finally:
        await asyncio.to_thread(container.remove, force=True)
        engine.close()

    # Revoke cuts the agent off at once; then the node can go.
    ok(await cli(config, "node", "revoke", name, "--yes"))
    await fleet.wait_online(node_id, online=False, timeout_s=10)
    shown = ok(await cli(config, "node", "show", name))
    assert '"revoked_at": null' not in shown
    ok(await cli(config, "node", "delete", name, "--yes"))
    missing = await cli(config, "node", "show", name)
    assert missing.returncode == 1
    assert f"No node named {name}" in missing.stderr
