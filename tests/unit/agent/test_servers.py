"""The agent's several server URLs: parsing, storing, and moving on when one goes away."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.agent import protocol as p
from dockyard.agent.client import (
    Agent,
    AgentConfigError,
    AgentOptions,
    StoredCredential,
    split_servers,
)


def test_split_servers_normalizes_and_drops_repeats() -> None:
    urls = split_servers(" http://a:8700/ ,https://b.example/dock/,http://a:8700")
    assert urls == ["http://a:8700", "https://b.example/dock"]
    with pytest.raises(AgentConfigError):
        split_servers(" , ")
    with pytest.raises(AgentConfigError):
        split_servers("http://a:8700,ftp://b")


def test_stored_credential_keeps_every_url(tmp_path: Path) -> None:
    cred = StoredCredential("http://a:1", 4, "dyn_4_x", None, ["http://a:1", "http://b:2"])
    cred.save(tmp_path)
    loaded = StoredCredential.load(tmp_path)
    assert loaded is not None
    assert loaded.urls() == ["http://a:1", "http://b:2"]
    # A file an older agent wrote (one URL) still loads.
    (tmp_path / "agent.json").write_text(
        json.dumps({"server": "http://old:1", "node_id": 4, "credential": "dyn_4_x"})
    )
    old = StoredCredential.load(tmp_path)
    assert old is not None
    assert old.urls() == ["http://old:1"]


async def test_a_restarting_server_is_left_at_once_for_the_next(tmp_path: Path) -> None:
    agent = Agent(AgentOptions(data_dir=tmp_path, docker_host="unix:///run/none.sock"))
    agent.credential = StoredCredential(
        "http://a:1", 1, "dyn_1_x", None, ["http://a:1", "http://b:2"]
    )
    dialled: list[int] = []
    delays: list[float] = []

    async def session() -> None:
        dialled.append(agent.server_index)
        if len(dialled) == 1:
            agent.last_close_code = p.CLOSE_SERVICE_RESTART  # A shutting down
            return
        if len(dialled) == 4:
            agent.stop()
            return
        raise OSError("connection refused")

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    agent._session = session  # type: ignore[method-assign]
    agent._sleep = sleep  # type: ignore[method-assign]
    assert await agent._connect_loop() == 0
    assert dialled == [0, 1, 0, 1]  # each loss moves to the next URL, round and round
    assert delays[0] <= 0.5  # 1012: reconnect now, not after a backoff step
    # Failures back off one step per round of both URLs, not per URL: both failures of
    # the first round wait the first step (0.25-0.5 s).
    assert max(delays[1:3]) <= 0.5, delays


def test_options_accept_several_servers(tmp_path: Path) -> None:
    from dockyard.agent.__main__ import build_parser

    args: Any = build_parser().parse_args(
        ["--server", "http://a:1", "--server", "http://b:2,http://c:3", "--data-dir", str(tmp_path)]
    )
    assert ",".join(args.server) == "http://a:1,http://b:2,http://c:3"
