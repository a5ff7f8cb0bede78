"""The streaming multipart parser, SSH templates, host field rules, file-name safety."""

from __future__ import annotations

import os

import pytest

from dockyard.artifacts.multipart import (
    MultipartError,
    MultipartParser,
    Part,
    PartEnd,
    boundary_of,
)
from dockyard.artifacts.storage import content_disposition, safe_filename
from dockyard.hosts import ssh, validation

BOUNDARY = b"xYzZY"


def events(body: bytes, chunk: int) -> list[object]:
    parser = MultipartParser(BOUNDARY)
    out: list[object] = []
    for start in range(0, len(body), chunk):
        out.extend(parser.feed(body[start : start + chunk]))
    parser.close()
    merged: list[object] = []
    for event in out:  # join consecutive data pieces
        if isinstance(event, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] = merged[-1] + event
        else:
            merged.append(event)
    return merged


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 100_000])
def test_parser_any_chunking(chunk: int) -> None:
    data = os.urandom(3000) + b"\r\n--xYzZ" + b"\r\n--" + os.urandom(50)
    body = (
        b"preamble\r\n--xYzZY\r\n"
        b'Content-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
        b"--xYzZY\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a b.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + data + b"\r\n--xYzZY--\r\nepilogue"
    )
    got = events(body, chunk)
    assert got == [
        Part("note", None, None),
        b"hello",
        PartEnd(),
        Part("file", "a b.txt", "text/plain"),
        data,
        PartEnd(),
    ]


def test_parser_refuses_truncated_and_garbage() -> None:
    parser = MultipartParser(BOUNDARY)
    list(parser.feed(b"--xYzZY\r\nContent-Disposition: form-data; name=file\r\n\r\nabc"))
    with pytest.raises(MultipartError):
        parser.close()
    with pytest.raises(MultipartError):
        list(MultipartParser(BOUNDARY).feed(b"x" * 100_000))
    with pytest.raises(MultipartError):
        list(MultipartParser(BOUNDARY).feed(b"--xYzZY\r\n" + b"H" * 20_000))


def test_boundary_of() -> None:
    assert boundary_of('multipart/form-data; boundary="a b"') == b"a b"
    for bad in (None, "text/plain", "multipart/form-data", "multipart/form-data; boundary="):
        with pytest.raises(MultipartError):
            boundary_of(bad)


def test_filenames() -> None:
    assert safe_filename("../../x/../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\file.txt") == "file.txt"
    assert safe_filename("a\x00b\nc\u200bd.txt") == "abcd.txt"
    assert safe_filename("...") == "artifact"
    long = safe_filename("é" * 300 + ".tar.gz")
    assert len(long.encode()) <= 200
    assert long.endswith(".gz")
    header = content_disposition('quo"te; ü.txt')
    assert (
        header
        == "attachment; filename=\"quo_te_ _.txt\"; filename*=UTF-8''quo%22te%3B%20%C3%BC.txt"
    )


def test_ssh_templates() -> None:
    values = {"user": "root", "host": "10.0.0.1", "port": "22", "bastion": None}
    assert ssh.render(ssh.DEFAULT_TEMPLATE, values) == "ssh -p 22 root@10.0.0.1"
    evil = {**values, "user": "x; rm -rf /", "bastion": "j$(id)"}
    assert ssh.render(ssh.DEFAULT_TEMPLATE, evil) == "ssh -J 'j$(id)' -p 22 'x; rm -rf /'@10.0.0.1"
    for bad in ("ssh {{hostname}}", "ssh {{#user}}x", "ssh {{/user}}", "ssh {{ host", "", "a\nb"):
        with pytest.raises(ValueError, match=r"."):
            ssh.parse(bad)


@pytest.mark.parametrize(
    ("rule", "value", "ok"),
    [
        (validation.hostname, "Web-1.Example.COM", "web-1.example.com"),
        (validation.hostname, "a" * 63, "a" * 63),
        (validation.hostname, "a" * 64, None),
        (validation.hostname, "x..y", None),
        (validation.hostname, "-x", None),
        (validation.address, "10.0.0.1", "10.0.0.1"),
        (validation.address, "[2001:DB8::1]", "2001:db8::1"),
        (validation.address, "10.0.0.256", None),
        (validation.address, "db.internal", "db.internal"),
        (validation.ssh_port, "", 22),
        (validation.ssh_port, "0", None),
        (validation.ssh_port, "22x", None),
        (validation.bastion, "ops@jump:2222", "ops@jump:2222"),
        (validation.bastion, "[2001:db8::1]:22", "[2001:db8::1]:22"),
        (validation.bastion, "jump:0", None),
        (validation.bastion, "-oProxyCommand=x", None),
        (validation.split_tags, "a; b|c;;", ["a", "b", "c"]),
        (validation.split_tags, "a b", None),
    ],
)
def test_field_rules(rule: object, value: str, ok: object) -> None:
    assert callable(rule)
    if ok is None:
        with pytest.raises(ValueError, match=r"."):
            rule(value)
    else:
        assert rule(value) == ok
