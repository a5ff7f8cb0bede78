"""`agent://node-<id>` addresses resolve to this process's own tunnel socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.engine import addresses


def test_agent_addresses_resolve_to_the_newest_hub_socket(tmp_path: Path) -> None:
    first, second = tmp_path / "1.0", tmp_path / "1.1"
    assert addresses.agent_host(7) == "agent://node-7"
    assert addresses.agent_node_id("agent://node-7") == 7
    assert addresses.agent_node_id("unix:///var/run/docker.sock") is None
    assert addresses.agent_node_id("agent://node-7x") is None
    assert addresses.resolve("tcp://10.0.0.2:2375") == "tcp://10.0.0.2:2375"
    addresses.add_agent_socket_dir(first)
    addresses.add_agent_socket_dir(second)
    try:
        assert addresses.resolve("agent://node-7") == f"unix://{second}/node-7.sock"
        addresses.remove_agent_socket_dir(second)
        assert addresses.resolve("agent://node-7") == f"unix://{first}/node-7.sock"
        assert addresses.agent_socket_path(3, second) == second / "node-3.sock"
    finally:
        addresses.remove_agent_socket_dir(first)
        addresses.remove_agent_socket_dir(second)


def test_an_agent_address_without_tunnels_says_so() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        addresses.resolve("agent://node-1")
