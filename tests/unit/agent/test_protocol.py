"""Agent protocol v1 messages: parsing, encoding, data frames."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dockyard.agent import protocol as p
from dockyard.metrics.samples import HostSample, MetricsSample


def _sample() -> MetricsSample:
    host = HostSample(
        cpu_percent=1.5,
        cpu_count=2,
        memory_used_bytes=1,
        memory_total_bytes=2,
        disk_used_bytes=3,
        disk_total_bytes=4,
        net_rx_bytes=5,
        net_tx_bytes=6,
        load_1=0.1,
        load_5=0.2,
        load_15=0.3,
    )
    return MetricsSample(taken_at=datetime(2026, 1, 1, tzinfo=UTC), host=host)


ALL = [
    p.Hello(credential="dyn_1_x", agent_version="1.0", docker_host="unix:///d.sock", hostname="h"),
    p.Welcome(node_id=3, heartbeat_s=5, metrics_interval_s=10, max_frame_bytes=1 << 20),
    p.Heartbeat(sent_at=datetime(2026, 1, 1, tzinfo=UTC)),
    p.StreamOpen(id=1, op="0b8e6a5e-9a47-4a41-9a3f-5b1e1f0f2a11"),
    p.StreamOpened(id=1),
    p.StreamError(id=1, message="engine down"),
    p.StreamCredit(id=1, bytes=65536),
    p.StreamClose(id=1, reason=None),
    p.Events(items=[p.EventItem(seq=1, event={"Type": "container", "Action": "start"})]),
    p.Ack(seq=1),
    p.State(containers=[{"Id": "abc", "State": "running"}]),
    p.Metrics(sample=_sample()),
    p.Rotate(request_id="r1", credential="dyn_1_y"),
    p.Rotated(request_id="r1"),
]


@pytest.mark.parametrize("msg", ALL, ids=lambda m: m.type)
def test_every_message_round_trips(msg: p._Msg) -> None:
    text = p.encode(msg)
    assert '"v":1' in text
    assert p.parse_message(text) == msg


def test_direction_specific_parsers() -> None:
    hello = p.encode(ALL[0])
    welcome = p.encode(ALL[1])
    assert isinstance(p.parse_agent_message(hello), p.Hello)
    assert isinstance(p.parse_server_message(welcome), p.Welcome)
    with pytest.raises(p.ProtocolError, match="unknown message type"):
        p.parse_server_message(hello)
    with pytest.raises(p.ProtocolError, match="unknown message type"):
        p.parse_agent_message(welcome)
    # Both directions share the stream messages.
    for text in (p.encode(p.StreamError(id=3, message="x")), p.encode(p.StreamClose(id=3))):
        assert p.parse_agent_message(text) == p.parse_server_message(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"v": 1}', "without a type"),
        ('{"v": 2, "type": "ack", "seq": 1}', "unsupported protocol version"),
        ('{"v": 1, "type": "launch_missiles"}', "unknown message type"),
        ('{"v": 1, "type": "ack", "seq": -1}', "invalid ack message: seq"),
        ('{"v": 1, "type": "ack"}', "invalid ack message: seq"),
        ('{"v": 1, "type": "stream_open", "id": 0, "op": "k"}', "stream_open message: id"),
        ('{"v": 1, "type": "stream_credit", "id": 1, "bytes": 0}', "bytes"),
        ('{"v": 1, "type": "hello", "credential": ""}', "invalid hello message"),
    ],
)
def test_bad_messages_raise_protocol_error(text: str | bytes, match: str) -> None:
    with pytest.raises(p.ProtocolError, match=match) as info:
        p.parse_message(text)
    assert info.value.close_code == p.CLOSE_PROTOCOL_ERROR


def test_events_are_batched_at_most_200() -> None:
    items = [{"seq": i, "event": {}} for i in range(1, 202)]
    import json

    with pytest.raises(p.ProtocolError):
        p.parse_message(json.dumps({"v": 1, "type": "events", "items": items}))


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    msg = p.parse_message('{"v": 1, "type": "ack", "seq": 4, "later": true}')
    assert msg == p.Ack(seq=4)


def test_data_frames() -> None:
    frame = p.pack_data(0x01020304, b"payload")
    assert frame[:4] == b"\x01\x02\x03\x04"
    assert p.unpack_data(frame) == (0x01020304, b"payload")
    assert p.unpack_data(p.pack_data(5, b"")) == (5, b"")
    big = b"x" * p.MAX_CHUNK
    assert p.unpack_data(p.pack_data(1, big)) == (1, big)
    with pytest.raises(ValueError, match="exceeds"):
        p.pack_data(1, big + b"x")
    with pytest.raises(ValueError, match="out of range"):
        p.pack_data(0, b"")
    with pytest.raises(p.ProtocolError):
        p.unpack_data(b"\x00\x00\x01")
    with pytest.raises(p.ProtocolError):
        p.unpack_data(b"\x00\x00\x00\x00data")
    with pytest.raises(p.ProtocolError):
        p.unpack_data(b"\x00\x00\x00\x01" + big + b"x")


def test_protocol_module_stays_lean() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dockyard.agent.protocol, dockyard.agent.mux;"
        "bad = [m for m in ('fastapi', 'sqlalchemy', 'alembic', 'starlette', 'docker')"
        " if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
