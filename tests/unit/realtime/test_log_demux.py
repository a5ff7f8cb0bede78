"""Docker log stream demultiplexing on crafted bytes."""

from __future__ import annotations

import struct

from dockyard.engine.streams import LogDemuxer, LogLine

TS1 = "2024-05-01T12:00:00.000000001Z"
TS2 = "2024-05-01T12:00:00.000000002Z"


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(payload)) + payload


def test_frames_split_by_stream() -> None:
    demux = LogDemuxer(tty=False, timestamps=False)
    data = frame(1, b"hello\n") + frame(2, b"oops\n") + frame(1, b"bye\n")
    assert demux.feed(data) == [
        LogLine("stdout", None, "hello"),
        LogLine("stderr", None, "oops"),
        LogLine("stdout", None, "bye"),
    ]
    assert demux.flush() == []


def test_frames_cut_anywhere_still_parse() -> None:
    data = frame(1, f"{TS1} first\n".encode()) + frame(2, f"{TS2} second\n".encode())
    for cut in range(1, len(data)):
        demux = LogDemuxer(tty=False, timestamps=True)
        lines = demux.feed(data[:cut]) + demux.feed(data[cut:]) + demux.flush()
        assert lines == [LogLine("stdout", TS1, "first"), LogLine("stderr", TS2, "second")], cut


def test_byte_by_byte() -> None:
    data = frame(1, "grüße\n".encode()) + frame(2, b"x\r\n")
    demux = LogDemuxer(tty=False, timestamps=False)
    lines = []
    for i in range(len(data)):
        lines += demux.feed(data[i : i + 1])
    assert lines == [LogLine("stdout", None, "grüße"), LogLine("stderr", None, "x")]


def test_partial_messages_join_and_keep_the_first_timestamp() -> None:
    # The engine splits lines over 16 KiB into partial messages, each with a timestamp.
    demux = LogDemuxer(tty=False, timestamps=True)
    lines = demux.feed(frame(1, f"{TS1} aaaa".encode()))
    assert lines == []
    lines = demux.feed(frame(2, f"{TS2} err\n".encode()))
    assert lines == [LogLine("stderr", TS2, "err")]
    lines = demux.feed(frame(1, f"{TS2} bbbb\n".encode()))
    assert lines == [LogLine("stdout", TS1, "aaaabbbb")]


def test_stream_types_and_empty_frames() -> None:
    demux = LogDemuxer(tty=False, timestamps=False)
    data = frame(0, b"stdin echo\n") + frame(1, b"") + frame(3, b"engine error\n")
    assert demux.feed(data) == [
        LogLine("stdout", None, "stdin echo"),
        LogLine("stderr", None, "engine error"),
    ]


def test_last_line_without_newline_comes_out_on_flush() -> None:
    demux = LogDemuxer(tty=False, timestamps=True)
    assert demux.feed(frame(1, f"{TS1} no newline".encode())) == []
    assert demux.flush() == [LogLine("stdout", TS1, "no newline")]


def test_a_multi_line_payload_is_several_lines() -> None:
    demux = LogDemuxer(tty=False, timestamps=True)
    assert demux.feed(frame(1, f"{TS1} a\nb\n".encode())) == [
        LogLine("stdout", TS1, "a"),
        LogLine("stdout", TS1, "b"),
    ]


def test_an_endless_line_is_cut() -> None:
    demux = LogDemuxer(tty=False, timestamps=False, max_line_bytes=10)
    lines = demux.feed(frame(1, b"x" * 25))
    assert lines == [LogLine("stdout", None, "x" * 25)]
    assert demux.feed(frame(1, b"yy\n")) == [LogLine("stdout", None, "yy")]

    raw = LogDemuxer(tty=True, timestamps=False, max_line_bytes=10)
    assert raw.feed(b"z" * 11) == [LogLine("stdout", None, "z" * 11)]


def test_tty_is_one_raw_stream() -> None:
    demux = LogDemuxer(tty=True, timestamps=True)
    lines = demux.feed(f"{TS1} one\r\n{TS2} tw".encode())
    assert lines == [LogLine("stdout", TS1, "one")]
    assert demux.feed(b"o\r\n") == [LogLine("stdout", TS2, "two")]
    assert demux.feed(b"tail") == []
    assert demux.flush() == [LogLine("stdout", None, "tail")]


def test_text_that_looks_nothing_like_a_timestamp_is_kept() -> None:
    demux = LogDemuxer(tty=True, timestamps=True)
    assert demux.feed(b"hello world\n") == [LogLine("stdout", None, "hello world")]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    demux = LogDemuxer(tty=False, timestamps=False)
    assert demux.feed(frame(1, b"\xff\xfeok\n")) == [LogLine("stdout", None, "\ufffd\ufffdok")]


def test_backlogs_are_split_into_bounded_frames() -> None:
    from dockyard.realtime.service import MAX_LINES_PER_FRAME, _frames

    many = [LogLine("stdout", None, "x") for _ in range(1201)]
    sizes = [len(chunk) for chunk in _frames(many)]
    assert sizes == [MAX_LINES_PER_FRAME, MAX_LINES_PER_FRAME, 201]
    big = [LogLine("stdout", None, "y" * 60_000) for _ in range(10)]
    chunks = list(_frames(big))
    assert sum(len(c) for c in chunks) == 10
    assert all(sum(len(line.message) for line in c) <= 320_000 for c in chunks)
    assert len(chunks) > 1


def test_many_frames_in_any_blocks_give_the_same_lines() -> None:
    payloads = [
        (1, f"{TS1} one\n".encode()),
        (2, f"{TS1} half".encode()),
        (1, b""),
        (2, f"{TS2} -done\n".encode()),
        (1, f"{TS2} two\nthree\n".encode()),
        (2, f"{TS2} ".encode() + b"e" * 300 + b"\n"),
    ]
    data = b"".join(frame(kind, payload) for kind, payload in payloads)
    expected = [
        LogLine("stdout", TS1, "one"),
        LogLine("stderr", TS1, "half-done"),
        LogLine("stdout", TS2, "two"),
        LogLine("stdout", TS2, "three"),
        LogLine("stderr", TS2, "e" * 300),
    ]
    for block in (1, 7, 64, len(data)):
        demux = LogDemuxer(tty=False, timestamps=True)
        lines = []
        for start in range(0, len(data), block):
            lines += demux.feed(data[start : start + block])
        assert lines + demux.flush() == expected, block
