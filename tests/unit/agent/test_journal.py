"""The agent's events journal and the small agent helpers around it."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from dockyard.agent.client import (
    Agent,
    AgentConfigError,
    AgentOptions,
    AgentRejectedError,
    StoredCredential,
    _backoff,
    check_pin,
    split_token,
    ws_url,
)
from dockyard.agent.journal import EventJournal


def ev(n: int) -> dict[str, object]:
    return {"Type": "container", "Action": "start", "id": f"c{n}", "timeNano": n}


def test_seqs_are_monotonic_and_acks_drop_events(tmp_path: Path) -> None:
    journal = EventJournal(tmp_path / "events.json")
    items = [journal.add(ev(i)) for i in range(5)]
    assert [i.seq for i in items] == [1, 2, 3, 4, 5]
    assert [i.seq for i in journal.after(0)] == [1, 2, 3, 4, 5]
    assert [i.seq for i in journal.after(2, limit=2)] == [3, 4]
    journal.ack(3)
    assert [i.seq for i in journal.after(0)] == [4, 5]
    assert journal.acked_seq == 3
    journal.ack(2)  # an old ack changes nothing
    assert journal.acked_seq == 3
    journal.ack(99)  # never beyond what exists
    assert journal.acked_seq == 5
    assert len(journal) == 0


def test_restart_never_reuses_a_seq(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    first = EventJournal(path, seq_block=10, save_interval_s=0)
    for i in range(25):
        first.add(ev(i))
    first.ack(4)
    stored = json.loads(path.read_text())
    assert stored["acked_seq"] == 4
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The process dies without writing again: the next one starts above every seq handed out.
    second = EventJournal(path, seq_block=10)
    assert second.acked_seq == 4
    assert second.add(ev(99)).seq > 25
    # Unacked events of a dead process are gone (the fresh `state` covers them).
    assert [i.event["id"] for i in second.after(0)] == ["c99"]


def test_ack_writes_are_throttled_and_flushed(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    journal = EventJournal(path, save_interval_s=3600)
    for i in range(3):
        journal.add(ev(i))
    journal.ack(1)
    journal.ack(2)  # within the interval: memory only
    assert json.loads(path.read_text())["acked_seq"] in (0, 1)
    assert journal.acked_seq == 2
    journal.flush()
    assert json.loads(path.read_text())["acked_seq"] == 2


def test_resume_from_the_servers_ack(tmp_path: Path) -> None:
    journal = EventJournal(None)
    for i in range(6):
        journal.add(ev(i))
    journal.resume_from(4)
    assert [i.seq for i in journal.after(journal.acked_seq)] == [5, 6]
    # A server that knows higher seqs (data dir wiped): new events continue above them.
    wiped = EventJournal(tmp_path / "e.json")
    wiped.resume_from(500)
    assert wiped.add(ev(1)).seq == 501


def test_buffer_is_bounded() -> None:
    journal = EventJournal(None, max_unacked=100)
    for i in range(250):
        journal.add(ev(i))
    assert len(journal) == 100
    assert journal.dropped == 150
    assert journal.after(0)[0].seq == 151


def test_tokens_and_urls() -> None:
    fp = "ab" * 32
    assert split_token(f"dye_secret.{fp}") == (f"dye_secret.{fp}", fp)
    assert split_token(" dye_secret ") == ("dye_secret", None)
    with pytest.raises(AgentConfigError):
        split_token("dyn_1_x")
    with pytest.raises(AgentConfigError):
        split_token("dye_x.nothex")
    assert ws_url("https://fleet.example/base") == "wss://fleet.example/base/api/v1/agent/ws"
    assert ws_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/api/v1/agent/ws"


def test_pin_check() -> None:
    der = b"certificate bytes"
    fp = hashlib.sha256(der).hexdigest()

    class Peer:
        def getpeercert(self, binary_form: bool = False) -> bytes:
            assert binary_form
            return der

    check_pin(Peer(), fp)
    check_pin(None, None)  # nothing pinned
    with pytest.raises(AgentRejectedError, match="does not match"):
        check_pin(Peer(), "0" * 64)
    with pytest.raises(AgentRejectedError, match="no certificate"):
        check_pin(None, fp)


def test_credential_file_round_trip(tmp_path: Path) -> None:
    cred = StoredCredential("https://s", 3, "dyn_3_secret", "ab" * 32)
    cred.save(tmp_path)
    assert stat.S_IMODE((tmp_path / "agent.json").stat().st_mode) == 0o600
    assert StoredCredential.load(tmp_path) == StoredCredential(
        "https://s", 3, "dyn_3_secret", "ab" * 32, servers=["https://s"]
    )
    assert StoredCredential.load(tmp_path / "none") is None
    (tmp_path / "agent.json").write_text("{}")
    with pytest.raises(AgentConfigError):
        StoredCredential.load(tmp_path)


def test_op_keys_are_remembered_and_bounded(tmp_path: Path) -> None:
    agent = Agent(AgentOptions(data_dir=tmp_path, docker_host="unix:///run/x.sock"))
    assert agent.remember_op("a")
    assert not agent.remember_op("a")
    for i in range(10_000):
        agent.remember_op(f"k{i}")
    assert agent.remember_op("a")  # the oldest was forgotten after 10,000 newer ones
    assert not agent.remember_op("k9999")
    # The engine's own socket is never mountable.
    assert "/run/x.sock" in agent.policy.docker_sockets


def test_backoff_doubles_to_30s_with_jitter() -> None:
    for attempt, step in [(0, 0.5), (1, 1.0), (3, 4.0), (6, 30.0), (50, 30.0)]:
        values = [_backoff(attempt) for _ in range(50)]
        assert all(step * 0.5 <= v <= step for v in values)
        assert len(set(values)) > 1
