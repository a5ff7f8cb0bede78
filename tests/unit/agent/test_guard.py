"""The agent's guard: HTTP parsing, the endpoint allowlist, the host policy, hijacks."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.agent.guard import (
    Body,
    End,
    Guard,
    Head,
    HttpParseError,
    Output,
    Policy,
    RequestParser,
)


def req(
    method: str,
    path: str,
    body: bytes | dict | None = None,
    *,
    chunked: bool = False,
    headers: dict[str, str] | None = None,
) -> bytes:
    data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
    lines = [f"{method} {path} HTTP/1.1", "Host: docker"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        mid = len(data) // 2
        parts = [p for p in (data[:mid], data[mid:]) if p]
        encoded = b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in parts)
        encoded += b"0\r\nX-Trailer: y\r\n\r\n"
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + encoded
    if data or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def ok(body: bytes = b"{}", status: str = "200 OK") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def run_client(guard: Guard, *chunks: bytes) -> Output:
    out = Output()
    for chunk in chunks:
        out.extend(guard.client_data(chunk))
    return out


def statuses(data: list[bytes]) -> list[int]:
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", b"".join(data))]


# -- parser ---------------------------------------------------------------------------------------


def parse_all(data: bytes, splits: list[int]) -> list[tuple[str, object]]:
    parser = RequestParser()
    events: list[tuple[str, object]] = []
    body = b""
    cuts = sorted({s for s in splits if 0 < s < len(data)})
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    for piece in pieces:
        parser.feed(piece)
        while (event := parser.next_event()) is not None:
            if isinstance(event, Head):
                events.append(
                    (
                        "head",
                        (
                            event.request.method,
                            event.request.path,
                            event.request.query,
                            event.request.headers,
                        ),
                    )
                )
            elif isinstance(event, Body):
                body += event.data
            else:
                assert isinstance(event, End)
                events.append(("end", body))
                body = b""
    assert parser.idle
    return events


PIPELINE = (
    req("GET", "/v1.43/containers/json?all=1")
    + req("POST", "/v1.43/containers/create?name=x", {"Image": "busybox", "Cmd": ["sh"]})
    + b"\r\n"
    + req("POST", "/images/create?fromImage=busybox", b"")
    + req("PUT", "/containers/abc/archive?path=/tmp", b"\x00" * 700 + b"tar", chunked=True)
    + req("POST", "/v1.43/containers/abc/update", {"Memory": 1 << 20}, chunked=True)
    + req("HEAD", "/_ping")
)


def test_parser_reads_a_pipeline() -> None:
    events = parse_all(PIPELINE, [])
    heads = [e[1] for e in events if e[0] == "head"]
    assert [(h[0], h[1]) for h in heads] == [  # type: ignore[index]
        ("GET", "/containers/json"),
        ("POST", "/containers/create"),
        ("POST", "/images/create"),
        ("PUT", "/containers/abc/archive"),
        ("POST", "/containers/abc/update"),
        ("HEAD", "/_ping"),
    ]
    bodies = [e[1] for e in events if e[0] == "end"]
    assert bodies[3] == b"\x00" * 700 + b"tar"
    assert json.loads(bodies[4]) == {"Memory": 1 << 20}  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(PIPELINE)), max_size=40))
def test_any_byte_split_parses_the_same(splits: list[int]) -> None:
    assert parse_all(PIPELINE, splits) == parse_all(PIPELINE, [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(PIPELINE) * 2), max_size=30))
def test_any_byte_split_guards_the_same(splits: list[int]) -> None:
    data = (
        PIPELINE
        + req("GET", "/swarm")
        + req("POST", "/containers/create", {"HostConfig": {"Privileged": True}})
    )
    whole = Guard(Policy())
    expected = run_client(whole, data)
    guard = Guard(Policy())
    cuts = sorted({s for s in splits if 0 < s < len(data)})
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    out = run_client(guard, *pieces)
    assert b"".join(out.to_engine) == b"".join(expected.to_engine)
    assert guard.decisions == whole.decisions
    assert [d.allowed for d in guard.decisions] == [True] * 6 + [False, False]


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /containers/json\r\n\r\n",
        b"GET /containers/json HTTP/2.0\r\n\r\n",
        b"GET containers HTTP/1.1\r\n\r\n",
        b"GET /containers/json HTTP/1.1\r\n folded\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /images/..%2Fcontainers%2Fabc/json HTTP/1.1\r\n\r\n",
        b"GET /images/%ff/json HTTP/1.1\r\n\r\n",
    ],
)
def test_malformed_requests_raise(raw: bytes) -> None:
    parser = RequestParser()
    parser.feed(raw)

    def drain() -> None:
        while parser.next_event() is not None:
            pass

    with pytest.raises(HttpParseError):
        drain()


def test_huge_head_is_refused() -> None:
    parser = RequestParser()
    parser.feed(b"GET /x HTTP/1.1\r\nX: " + b"a" * 70_000)
    with pytest.raises(HttpParseError, match="too large"):
        parser.next_event()


# -- allowlist ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1.43/containers/json", True),
        ("GET", "/_ping", True),
        ("HEAD", "/_ping", True),
        ("GET", "/version", True),
        ("GET", "/info", True),
        ("GET", "/events?filters=x", True),
        ("GET", "/system/df", True),
        ("POST", "/images/create?fromImage=x", True),
        ("GET", "/images/127.0.0.1:5000/app:1/json", True),
        ("GET", "/distribution/127.0.0.1:5000/app:1/json", True),
        ("POST", "/volumes/prune", True),
        ("GET", "/networks", True),
        ("POST", "/exec/abc/start", True),
        ("POST", "/build/prune", True),
        ("POST", "/auth", True),
        ("POST", "/build?t=x", False),
        ("GET", "/swarm", False),
        ("POST", "/swarm/init", False),
        ("GET", "/nodes", False),
        ("GET", "/v1.43/services", False),
        ("GET", "/tasks", False),
        ("POST", "/secrets/create", False),
        ("GET", "/configs", False),
        ("POST", "/plugins/pull", False),
        ("POST", "/session", False),
        ("POST", "/commit?container=x", False),
        ("DELETE", "/distribution/x/json", False),
        ("GET", "/", False),
    ],
)
def test_endpoint_allowlist(method: str, path: str, allowed: bool) -> None:
    guard = Guard(Policy())
    out = run_client(guard, req(method, path))
    assert guard.decisions[0].allowed is allowed, guard.decisions
    if allowed:
        assert out.to_engine
        assert not out.to_client
    else:
        assert out.to_engine == []
        assert statuses(out.to_client) == [403]
        assert json.loads(out.to_client[0].split(b"\r\n\r\n", 1)[1])["message"]


def test_build_allowed_by_the_host() -> None:
    guard = Guard(Policy(allow_build=True))
    run_client(guard, req("POST", "/build?t=x", b"tar"))
    assert guard.decisions[0].allowed


# -- host policy ----------------------------------------------------------------------------------


def create(host: dict, **extra: object) -> bytes:
    return req(
        "POST", "/v1.43/containers/create?name=t", {"Image": "x", "HostConfig": host, **extra}
    )


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ({"Privileged": True}, "privileged"),
        ({"NetworkMode": "host"}, "host network"),
        ({"PidMode": "host"}, "PID"),
        ({"IpcMode": "host"}, "IPC"),
        ({"UTSMode": "host"}, "UTS"),
        ({"NetworkMode": "container:abc"}, "another container's namespace"),
        ({"PidMode": "container:abc"}, "another container's namespace"),
        ({"VolumesFrom": ["portainer:ro"]}, "volumes from other containers"),
        ({"Devices": [{"PathOnHost": "/dev/sda"}]}, "devices"),
        ({"DeviceCgroupRules": ["c 1:3 mr"]}, "cgroup rules"),
        ({"CapAdd": ["SYS_ADMIN"]}, "capabilities"),
        ({"SecurityOpt": ["seccomp=unconfined"]}, "security option"),
        ({"SecurityOpt": ["apparmor:unconfined"]}, "security option"),
        ({"Binds": ["/var/run/docker.sock:/var/run/docker.sock"]}, "Docker socket"),
        ({"Binds": ["/var/run:/host-run:ro"]}, "Docker socket"),
        ({"Binds": ["/etc:/host-etc"]}, "not allowed"),
        ({"Mounts": [{"Type": "bind", "Source": "/", "Target": "/host"}]}, "Docker socket"),
        ({"Mounts": [{"Type": "bind", "Source": "/srv", "Target": "/h"}]}, "not allowed"),
        ({"Mounts": [{"Type": "npipe", "Source": "x", "Target": "/h"}]}, "mount type"),
        (
            {
                "Mounts": [
                    {
                        "Type": "volume",
                        "Target": "/h",
                        "VolumeOptions": {
                            "DriverConfig": {
                                "Name": "local",
                                "Options": {"type": "none", "o": "bind", "device": "/etc"},
                            }
                        },
                    }
                ]
            },
            "not allowed",
        ),
    ],
)
def test_create_policy_refuses(host: dict, fragment: str) -> None:
    guard = Guard(Policy())
    out = run_client(guard, create(host))
    assert out.to_engine == []
    assert statuses(out.to_client) == [403]
    assert fragment.lower() in guard.decisions[0].reason.lower()  # type: ignore[union-attr]


def test_create_policy_allows_plain_and_named_volumes() -> None:
    guard = Guard(Policy())
    body = create(
        {
            "Binds": ["data:/data", "cache:/cache:ro"],
            "Mounts": [
                {"Type": "volume", "Source": "v", "Target": "/v"},
                {"Type": "tmpfs", "Target": "/t"},
            ],
            "NetworkMode": "bridge",
            "DeviceRequests": [{"Driver": "nvidia", "Count": 1, "Capabilities": [["gpu"]]}],
            "CapDrop": ["ALL"],
        }
    )
    out = run_client(guard, body[:50], body[50:])
    assert b"".join(out.to_engine) == body
    assert out.to_client == []


def test_bind_roots_and_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "apps"
    (root / "one").mkdir(parents=True)
    outside = tmp_path / "secret"
    outside.mkdir()
    os.symlink(outside, root / "escape")
    policy = Policy(allowed_bind_roots=[str(root)])
    allowed = Guard(policy)
    run_client(allowed, create({"Binds": [f"{root}/one:/data", f"{root}:/all:ro"]}))
    assert allowed.decisions[0].allowed
    for source in (f"{root}/escape", f"{root}/../secret", str(tmp_path), f"{root}x"):
        guard = Guard(policy)
        run_client(guard, create({"Binds": [f"{source}:/data"]}))
        assert not guard.decisions[0].allowed, source
    # Even under an allowed root, the engine's socket is never mountable.
    sock_policy = Policy(allowed_bind_roots=[str(tmp_path)], docker_sockets=[str(root / "d.sock")])
    guard = Guard(sock_policy)
    run_client(guard, create({"Binds": [f"{root}:/r"]}))
    assert "Docker socket" in (guard.decisions[0].reason or "")


def test_allow_privileged_host_flag() -> None:
    guard = Guard(Policy(allow_privileged=True))
    run_client(
        guard,
        create(
            {
                "Privileged": True,
                "NetworkMode": "host",
                "CapAdd": ["NET_ADMIN"],
                "Devices": [{"PathOnHost": "/dev/fuse"}],
            }
        ),
    )
    assert guard.decisions[0].allowed
    # Host binds still need a root, and the docker socket never passes.
    guard = Guard(Policy(allow_privileged=True))
    run_client(guard, create({"Binds": ["/var/run/docker.sock:/s"]}))
    assert not guard.decisions[0].allowed


def test_update_and_exec_and_volume_policy() -> None:
    guard = Guard(Policy())
    out = run_client(
        guard,
        req("POST", "/containers/abc/update", {"Memory": 1 << 30}),
        req("POST", "/containers/abc/update", {"Devices": [{"PathOnHost": "/dev/mem"}]}),
        req("POST", "/containers/abc/exec", {"Cmd": ["sh"], "Privileged": True}),
        req("POST", "/containers/abc/exec", {"Cmd": ["sh"]}),
        req("POST", "/volumes/create", {"Name": "v", "DriverOpts": {"o": "bind", "device": "/"}}),
        req("POST", "/volumes/create", {"Name": "v2"}),
        req(
            "POST",
            "/volumes/create",
            {"Name": "v3", "DriverOpts": {"type": "ext4", "device": "/dev/sda1"}},
        ),
        req(
            "POST",
            "/volumes/create",
            {"Name": "v4", "DriverOpts": {"type": "nfs", "device": ":/export"}},
        ),
        req("POST", "/containers/create", b"not json"),
    )
    assert [d.allowed for d in guard.decisions] == [
        True,
        False,
        False,
        True,
        False,
        True,
        False,
        True,
        False,
    ]
    # Refusals wait for the answers the engine still owes (in order).
    assert statuses(out.to_client) == []
    answers = Output()
    for _ in range(4):
        answers.extend(guard.engine_data(ok()))
    assert statuses(answers.to_client) == [200, 403, 403, 200, 403, 200, 403, 200, 403]


def test_chunked_create_is_inspected() -> None:
    guard = Guard(Policy())
    out = run_client(
        guard, req("POST", "/containers/create", {"HostConfig": {"Privileged": True}}, chunked=True)
    )
    assert out.to_engine == []
    assert statuses(out.to_client) == [403]
    guard = Guard(Policy())
    body = req("POST", "/containers/create", {"HostConfig": {}}, chunked=True)
    out = run_client(guard, body)
    assert b"".join(out.to_engine) == body


def test_refused_request_keeps_the_stream_usable() -> None:
    guard = Guard(Policy())
    out = run_client(guard, req("GET", "/swarm"), req("GET", "/containers/json"))
    assert statuses(out.to_client) == [403]
    assert b"".join(out.to_engine) == req("GET", "/containers/json")
    answer = guard.engine_data(ok(b"[]"))
    assert b"".join(answer.to_client) == ok(b"[]")


def test_bad_request_answers_400_and_closes() -> None:
    guard = Guard(Policy())
    out = run_client(guard, b"NOT HTTP AT ALL\r\n\r\n")
    assert statuses(out.to_client) == [400]
    assert out.close
    assert run_client(guard, req("GET", "/containers/json")).to_engine == []


# -- hijack ---------------------------------------------------------------------------------------


def test_upgrade_turns_raw_only_after_101() -> None:
    guard = Guard(Policy())
    start = req(
        "POST",
        "/exec/abc/start",
        {"Detach": False, "Tty": True},
        headers={"Connection": "Upgrade", "Upgrade": "tcp"},
    )
    stdin = req("POST", "/swarm/init", {})  # looks like HTTP, but it is stdin once hijacked
    out = run_client(guard, start + stdin[:10])
    assert b"".join(out.to_engine) == start
    # Held until the engine answers.
    assert run_client(guard, stdin[10:]).to_engine == []
    answer = guard.engine_data(
        b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nout"
    )
    assert (
        b"".join(answer.to_client)
        == b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nout"
    )
    assert b"".join(answer.to_engine) == stdin
    assert guard.mode == "raw"
    assert run_client(guard, b"more").to_engine == [b"more"]
    assert guard.engine_data(b"HTTP/1.1 200 x\r\n").to_client == [b"HTTP/1.1 200 x\r\n"]


def test_docker_raw_stream_200_is_a_hijack_too() -> None:
    guard = Guard(Policy())
    run_client(guard, req("POST", "/containers/abc/attach?stream=1&stdin=1"), b"ls\n")
    answer = guard.engine_data(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"
    )
    assert answer.to_engine == [b"ls\n"]
    assert guard.mode == "raw"


def test_failed_hijack_goes_back_to_parsing() -> None:
    guard = Guard(Policy())
    start = req(
        "POST",
        "/exec/nope/start",
        {"Detach": False},
        headers={"Connection": "Upgrade", "Upgrade": "tcp"},
    )
    sneaky = req("POST", "/containers/create", {"HostConfig": {"Privileged": True}})
    out = run_client(guard, start + sneaky)
    assert b"".join(out.to_engine) == start
    answer = guard.engine_data(ok(b'{"message":"No such exec instance"}', "404 Not Found"))
    # The held bytes were parsed as a request and refused, not piped raw.
    assert answer.to_engine == []
    assert statuses(answer.to_client) == [404, 403]
    assert guard.mode == "requests"


def test_response_framing_chunked_head_and_interim() -> None:
    guard = Guard(Policy())
    run_client(guard, req("GET", "/events"), req("HEAD", "/_ping"), req("GET", "/swarm"))
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\n"
    )
    head_answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    out = Output()
    stream = chunked + head_answer
    for i in range(len(stream)):
        out.extend(guard.engine_data(stream[i : i + 1]))
    assert b"".join(out.to_client).startswith(stream)
    assert statuses(out.to_client) == [200, 200, 403]
