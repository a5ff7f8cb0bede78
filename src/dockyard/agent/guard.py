"""The agent's guard: every HTTP request the server tunnels is checked before the engine sees it.

Sans-IO. A `Guard` sits on one tunnelled stream: `client_data(bytes)` takes what the
server's Docker client sent, `engine_data(bytes)` what the engine answered; each returns
the bytes to forward to the engine and to the client. In between it parses the requests
(request line, headers, body by Content-Length or chunked), refuses what the allowlist or
the host policy forbids with an HTTP 403 JSON answer (in the right place among the
engine's answers, the stream stays usable) and watches the engine's answers just enough
to know where each ends and whether a hijack (exec/attach: a 101, or docker's raw-stream
200) turned the connection into a raw pipe. Until that answer arrives the bytes after a
hijack request are held back, so nothing can slip past the parser.

The policy is the host's own (`--allowed-bind-root`, `--allow-privileged`); nothing the
server sends can widen it.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

MAX_HEAD_BYTES = 64 * 1024
MAX_INSPECTED_BODY = 2 * 1024 * 1024
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
RAW_CONTENT_TYPES = (
    "application/vnd.docker.raw-stream",
    "application/vnd.docker.multiplexed-stream",
)
_VERSION_PREFIX = re.compile(r"^/v\d+(\.\d+)?(?=/)")
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class HttpParseError(Exception):
    """The bytes are not HTTP/1.1 this parser accepts; the stream is answered 400 and closed."""


# ------------------------------------------------------------------------------------------
# request parsing


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    raw_head: bytes
    path: str = ""  # decoded, version prefix stripped, no query
    query: str = ""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def upgrade(self) -> bool:
        return self.header("upgrade") is not None


@dataclass
class Head:
    request: Request


@dataclass
class Body:
    raw: bytes  # as it came (chunked framing included)
    data: bytes  # decoded


@dataclass
class End:
    pass


Event = Head | Body | End


class RequestParser:
    """Incremental HTTP/1.1 request parser: `feed(data)`, then `next_event()` until None."""

    def __init__(self, max_head: int = MAX_HEAD_BYTES) -> None:
        self.max_head = max_head
        self._buf = bytearray()
        self._state = "head"  # head | length | chunk_size | chunk_data | chunk_crlf | trailers
        self._remaining = 0
        self._scanned = 0  # where to resume looking for the end of a head

    def feed(self, data: bytes) -> None:
        self._buf += data

    def take_buffer(self) -> bytes:
        """Whatever is buffered and not yet parsed (used when the stream turns raw)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    @property
    def idle(self) -> bool:
        """Between requests (nothing half-parsed)."""
        return self._state == "head" and not self._buf.strip(b"\r\n")

    def next_event(self) -> Event | None:
        if self._state == "head":
            return self._parse_head()
        if self._state == "length":
            if not self._buf:
                return None
            n = min(self._remaining, len(self._buf))
            chunk = bytes(self._buf[:n])
            del self._buf[:n]
            self._remaining -= n
            if self._remaining == 0:
                self._state = "end"
            return Body(chunk, chunk)
        if self._state == "end":
            self._state = "head"
            return End()
        return self._parse_chunked()

    def _parse_head(self) -> Event | None:
        # Tolerate empty lines between requests (RFC 9112 2.2).
        while self._buf[:2] == b"\r\n":
            del self._buf[:2]
        end = self._buf.find(b"\r\n\r\n", self._scanned)
        if end < 0:
            if len(self._buf) > self.max_head:
                raise HttpParseError("request head too large")
            self._scanned = max(0, len(self._buf) - 3)  # bytes fed one by one stay linear
            return None
        self._scanned = 0
        if end + 4 > self.max_head:
            raise HttpParseError("request head too large")
        raw = bytes(self._buf[: end + 4])
        del self._buf[: end + 4]
        request = _parse_request_head(raw)
        length = _body_length(request)
        if length == -1:
            self._state = "chunk_size"
        elif length > 0:
            self._state = "length"
            self._remaining = length
        else:
            self._state = "end"
        return Head(request)

    def _parse_chunked(self) -> Event | None:
        if self._state == "chunk_size":
            eol = self._buf.find(b"\r\n")
            if eol < 0:
                if len(self._buf) > 1024:
                    raise HttpParseError("chunk size line too long")
                return None
            line = bytes(self._buf[:eol])
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or not re.fullmatch(rb"[0-9A-Fa-f]{1,15}", size_text):
                raise HttpParseError("invalid chunk size")
            size = int(size_text, 16)
            del self._buf[: eol + 2]
            raw = line + b"\r\n"
            if size == 0:
                self._state = "trailers"
                return Body(raw, b"")
            self._remaining = size
            self._state = "chunk_data"
            return Body(raw, b"")
        if self._state == "chunk_data":
            if not self._buf:
                return None
            n = min(self._remaining, len(self._buf))
            chunk = bytes(self._buf[:n])
            del self._buf[:n]
            self._remaining -= n
            if self._remaining == 0:
                self._state = "chunk_crlf"
            return Body(chunk, chunk)
        if self._state == "chunk_crlf":
            if len(self._buf) < 2:
                return None
            if self._buf[:2] != b"\r\n":
                raise HttpParseError("chunk not followed by CRLF")
            del self._buf[:2]
            self._state = "chunk_size"
            return Body(b"\r\n", b"")
        if self._state == "trailers":
            eol = self._buf.find(b"\r\n")
            if eol < 0:
                if len(self._buf) > 8192:
                    raise HttpParseError("trailer line too long")
                return None
            line = bytes(self._buf[: eol + 2])
            del self._buf[: eol + 2]
            if eol == 0:
                self._state = "end"
            return Body(line, b"")
        raise AssertionError(self._state)  # pragma: no cover


def _parse_request_head(raw: bytes) -> Request:
    lines = raw[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
        raise HttpParseError("invalid request line")
    method, target, version = (p.decode("latin-1") for p in parts)
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpParseError("unsupported HTTP version")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line or line[:1] in (b" ", b"\t"):
            raise HttpParseError("invalid header line")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise HttpParseError("invalid header line")
        headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    request = Request(method, target, version, headers, raw)
    request.path, request.query = _split_target(target)
    return request


def _split_target(target: str) -> tuple[str, str]:
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        path, query = parts.path or "/", parts.query
    elif target.startswith("/"):
        path, _, query = target.partition("?")
    else:
        raise HttpParseError("invalid request target")
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError as exc:
        raise HttpParseError("invalid request path") from exc
    if "\x00" in decoded or any(seg in (".", "..") for seg in decoded.split("/")):
        raise HttpParseError("invalid request path")
    decoded = _VERSION_PREFIX.sub("", decoded, count=1)
    return decoded, query


def _body_length(request: Request) -> int:
    """-1 for chunked, else the Content-Length (0 without one)."""
    te = [v for k, v in request.headers if k.lower() == "transfer-encoding"]
    cl = [v for k, v in request.headers if k.lower() == "content-length"]
    if te:
        if cl:
            raise HttpParseError("both Transfer-Encoding and Content-Length")
        codings = [c.strip().lower() for v in te for c in v.split(",") if c.strip()]
        if codings != ["chunked"]:
            raise HttpParseError("unsupported Transfer-Encoding")
        return -1
    if cl:
        values = {v.strip() for v in cl}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise HttpParseError("invalid Content-Length")
        return int(next(iter(values)))
    return 0


# ------------------------------------------------------------------------------------------
# the policy


@dataclass
class Policy:
    """What the host allows through its agent (set on the host, never by the server)."""

    allowed_bind_roots: list[str] = field(default_factory=list)
    allow_privileged: bool = False
    allow_build: bool = False
    docker_sockets: list[str] = field(default_factory=lambda: list(DOCKER_SOCKETS))

    def __post_init__(self) -> None:
        self.allowed_bind_roots = [_norm(p) for p in self.allowed_bind_roots]
        self.docker_sockets = [_norm(p) for p in self.docker_sockets]

    # -- endpoints -----------------------------------------------------------------------------

    def check_endpoint(self, request: Request) -> str | None:
        """None when the endpoint is allowed, else why not."""
        path, method = request.path, request.method.upper()
        first = path.split("/", 2)[1] if path.count("/") >= 1 else ""
        if first in _DENIED_AREAS:
            return f"{method} {path} is not allowed through the agent ({first} is disabled)"
        if first == "build":
            if path == "/build/prune" or self.allow_build:
                return None
            return "image builds are disabled on this host (agent flag --allow-build)"
        if path in ("/_ping", "/version", "/info", "/events", "/system/df", "/auth"):
            return None
        if first in ("containers", "images", "volumes", "networks", "exec"):
            return None
        if first == "distribution" and method in ("GET", "HEAD") and path.endswith("/json"):
            return None
        return f"{method} {path} is not allowed through the agent"

    def needs_body(self, request: Request) -> bool:
        """Requests whose body the host policy inspects."""
        if request.method.upper() != "POST":
            return False
        p = request.path
        return (
            p == "/containers/create"
            or p == "/volumes/create"
            or bool(re.fullmatch(r"/containers/[^/]+/(update|exec)", p))
        )

    # -- bodies --------------------------------------------------------------------------------

    def check_body(self, request: Request, body: bytes) -> str | None:
        try:
            doc = json.loads(body) if body.strip() else {}
        except ValueError:
            return "the request body is not valid JSON"
        if not isinstance(doc, dict):
            return "the request body must be a JSON object"
        p = request.path
        if p == "/containers/create":
            host = doc.get("HostConfig") or {}
            if not isinstance(host, dict):
                return "HostConfig must be an object"
            return self._check_host_config(host)
        if p == "/volumes/create":
            return self._check_volume_options(doc.get("DriverOpts"))
        if p.endswith("/update"):
            return self._check_resources(doc)
        if p.endswith("/exec") and doc.get("Privileged") and not self.allow_privileged:
            return f"privileged exec is not allowed on this host {_FLAG}"
        return None

    def _check_host_config(self, host: dict[str, Any]) -> str | None:
        if not self.allow_privileged:
            if host.get("Privileged"):
                return f"privileged containers are not allowed on this host {_FLAG}"
            for key, label in (
                ("NetworkMode", "host network"),
                ("PidMode", "host PID namespace"),
                ("IpcMode", "host IPC namespace"),
                ("UTSMode", "host UTS namespace"),
                ("UsernsMode", "host user namespace"),
                ("CgroupnsMode", "host cgroup namespace"),
            ):
                mode = str(host.get(key) or "").lower()
                if mode == "host":
                    return f"{label} is not allowed on this host {_FLAG}"
                if mode.startswith("container:"):
                    # Another container's namespace may be the host's (or hold its socket).
                    return f"sharing another container's namespace ({key}) is not allowed {_FLAG}"
            if host.get("VolumesFrom"):
                # Another container's mounts may include host paths or the Docker socket.
                return f"volumes from other containers are not allowed on this host {_FLAG}"
            if host.get("CapAdd"):
                return f"adding capabilities is not allowed on this host {_FLAG}"
            for opt in host.get("SecurityOpt") or []:
                text = str(opt).replace(":", "=").lower()
                if text in _UNCONFINED or text.startswith("systempaths=unconfined"):
                    return f"security option {opt!r} is not allowed on this host"
        problem = self._check_resources(host)
        if problem:
            return problem
        for bind in host.get("Binds") or []:
            source = str(bind).split(":", 1)[0]
            if source.startswith("/"):
                problem = self._check_host_path(source)
                if problem:
                    return problem
        for mount in host.get("Mounts") or []:
            if not isinstance(mount, dict):
                return "Mounts entries must be objects"
            kind = str(mount.get("Type") or "volume").lower()
            if kind == "bind":
                problem = self._check_host_path(str(mount.get("Source") or ""))
            elif kind == "volume":
                options = (mount.get("VolumeOptions") or {}).get("DriverConfig") or {}
                problem = self._check_volume_options(options.get("Options"))
            elif kind in ("tmpfs",):
                problem = None
            else:
                problem = f"mount type {kind!r} is not allowed on this host"
            if problem:
                return problem
        return None

    def _check_resources(self, doc: dict[str, Any]) -> str | None:
        if self.allow_privileged:
            return None
        if doc.get("Devices"):
            return f"host devices are not allowed on this host {_FLAG}"
        if doc.get("DeviceCgroupRules"):
            return f"device cgroup rules are not allowed on this host {_FLAG}"
        return None

    def _check_volume_options(self, options: Any) -> str | None:
        """A local volume with `device=/path` is a host bind (or host disk) in disguise."""
        if not options:
            return None
        if not isinstance(options, dict):
            return "volume driver options must be an object"
        device = str(options.get("device") or "")
        if device.startswith("/"):
            # A bind of a host directory, or a host block device mounted as a file system.
            return self._check_host_path(device)
        return None

    def _check_host_path(self, source: str) -> str | None:
        if not source.startswith("/"):
            return f"host path {source!r} must be absolute"
        real = _norm(source)
        for sock in self.docker_sockets:
            if real == sock or _within(sock, real):
                return f"mounting the Docker socket ({source}) is never allowed"
        if not self.allowed_bind_roots:
            return (
                f"host bind mounts are not allowed on this host ({source}); use a named volume "
                "or start the agent with --allowed-bind-root"
            )
        if any(_within(real, root) for root in self.allowed_bind_roots):
            return None
        roots = ", ".join(self.allowed_bind_roots)
        return f"host path {source} is outside the allowed bind roots ({roots})"


_FLAG = "(agent flag --allow-privileged)"
_DENIED_AREAS = frozenset(
    {"swarm", "nodes", "services", "tasks", "secrets", "configs", "plugins", "session", "grpc"}
)
_UNCONFINED = frozenset(
    {"seccomp=unconfined", "apparmor=unconfined", "label=disable", "label=disabled"}
)


def _norm(path: str) -> str:
    # realpath resolves symlinks of the parts that exist, so a link cannot escape a root.
    return os.path.realpath(posixpath.normpath(path))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def is_hijack_endpoint(request: Request) -> bool:
    """Docker hijacks attach and exec start (raw stream) with or without `Upgrade:`."""
    return request.upgrade or bool(
        re.fullmatch(r"/(containers/[^/]+/attach|exec/[^/]+/start)", request.path)
    )


def http_response(status: int, message: str, *, close: bool = False) -> bytes:
    reason = {100: "Continue", 400: "Bad Request", 403: "Forbidden", 413: "Payload Too Large"}
    body = json.dumps({"message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    )
    return head.encode() + body


# ------------------------------------------------------------------------------------------
# the engine's answers


@dataclass
class _Expect:
    """One answer the client is owed, in order: the engine's or one the guard wrote."""

    method: str = ""
    hijack: bool = False
    local: bytes | None = None


# ------------------------------------------------------------------------------------------
# the guard


@dataclass
class Output:
    to_engine: list[bytes] = field(default_factory=list)
    to_client: list[bytes] = field(default_factory=list)
    close: bool = False  # close the stream once these are sent

    def extend(self, other: Output) -> None:
        self.to_engine += other.to_engine
        self.to_client += other.to_client
        self.close = self.close or other.close


@dataclass
class Decision:
    """One request the guard judged (for logs and tests)."""

    method: str
    path: str
    allowed: bool
    reason: str | None = None


class Guard:
    """Guards one tunnelled stream."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.parser = RequestParser()
        self.mode = "requests"  # requests | hold | raw | broken
        self.decisions: list[Decision] = []
        self._expect: deque[_Expect] = deque()
        self._held = bytearray()
        # current request
        self._request: Request | None = None
        self._action = "forward"  # forward | collect | discard
        self._collected_raw = bytearray()
        self._collected = bytearray()
        # engine answers
        self._rbuf = bytearray()
        self._rstate = "head"
        self._rremaining = 0

    # -- client -> engine ------------------------------------------------------------------

    def client_data(self, data: bytes) -> Output:
        out = Output()
        if self.mode == "raw":
            out.to_engine.append(data)
            return out
        if self.mode == "hold":
            self._held += data
            return out
        if self.mode == "broken":
            return out
        self.parser.feed(data)
        self._run_parser(out)
        return out

    def _run_parser(self, out: Output) -> None:
        while self.mode == "requests":
            try:
                event = self.parser.next_event()
            except HttpParseError as exc:
                self.mode = "broken"
                self.decisions.append(Decision("?", "?", False, str(exc)))
                self._expect.append(_Expect(local=http_response(400, str(exc), close=True)))
                self._flush_locals(out)
                return
            if event is None:
                return
            if isinstance(event, Head):
                self._on_head(event.request, out)
            elif isinstance(event, Body):
                self._on_body(event, out)
            else:
                self._on_end(out)

    def _on_head(self, request: Request, out: Output) -> None:
        self._request = request
        problem = self.policy.check_endpoint(request)
        if problem:
            self._refuse(request, problem, out)
            self._action = "discard"
            return
        if self.policy.needs_body(request):
            self._action = "collect"
            self._collected_raw = bytearray(_strip_expect(request))
            self._collected = bytearray()
            if (request.header("expect") or "").lower() == "100-continue":
                self._expect.append(_Expect(local=b"HTTP/1.1 100 Continue\r\n\r\n"))
                self._flush_locals(out)
            return
        self._action = "forward"
        self.decisions.append(Decision(request.method, request.path, True))
        self._expect.append(
            _Expect(method=request.method.upper(), hijack=is_hijack_endpoint(request))
        )
        out.to_engine.append(request.raw_head)

    def _on_body(self, body: Body, out: Output) -> None:
        if self._action == "forward":
            if body.raw:
                out.to_engine.append(body.raw)
        elif self._action == "collect":
            self._collected_raw += body.raw
            self._collected += body.data
            if len(self._collected_raw) > MAX_INSPECTED_BODY:
                assert self._request is not None
                self._refuse(self._request, "the request body is too large to inspect", out)
                self._action = "discard"

    def _on_end(self, out: Output) -> None:
        request = self._request
        assert request is not None
        self._request = None
        if self._action == "collect":
            problem = self.policy.check_body(request, bytes(self._collected))
            if problem:
                self._refuse(request, problem, out)
            else:
                self.decisions.append(Decision(request.method, request.path, True))
                self._expect.append(_Expect(method=request.method.upper()))
                out.to_engine.append(bytes(self._collected_raw))
            self._collected_raw = bytearray()
            self._collected = bytearray()
        elif self._action == "forward" and is_hijack_endpoint(request):
            # Hold whatever follows until the engine says whether it hijacked.
            self.mode = "hold"
            self._held += self.parser.take_buffer()
        self._action = "forward"

    def _refuse(self, request: Request, message: str, out: Output) -> None:
        self.decisions.append(Decision(request.method, request.path, False, message))
        self._expect.append(_Expect(local=http_response(403, message)))
        self._flush_locals(out)

    def _flush_locals(self, out: Output) -> None:
        while self._expect and self._expect[0].local is not None:
            local = self._expect.popleft().local
            assert local is not None
            out.to_client.append(local)
        if self.mode == "broken" and not self._expect:
            out.close = True  # the 400 went out after every earlier answer: hang up

    # -- engine -> client ------------------------------------------------------------------

    def engine_data(self, data: bytes) -> Output:
        out = Output()
        if self.mode == "raw" or self._rstate in ("raw", "until_close"):
            out.to_client.append(data)
            return out
        self._rbuf += data
        while self._rbuf:
            if self._rstate == "head":
                if not self._response_head(out):
                    break
            elif self._rstate == "length":
                n = min(self._rremaining, len(self._rbuf))
                out.to_client.append(bytes(self._rbuf[:n]))
                del self._rbuf[:n]
                self._rremaining -= n
                if self._rremaining == 0:
                    self._response_done(out)
            elif self._rstate.startswith("chunk"):
                if not self._response_chunk(out):
                    break
            else:  # raw / until_close: everything else is the body
                out.to_client.append(bytes(self._rbuf))
                self._rbuf.clear()
        return out

    def _response_head(self, out: Output) -> bool:
        end = self._rbuf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._rbuf) > MAX_HEAD_BYTES:
                self._go_opaque(out)
            return False
        raw = bytes(self._rbuf[: end + 4])
        del self._rbuf[: end + 4]
        out.to_client.append(raw)
        lines = raw[:-4].split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            self._go_opaque(out)
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = self._expect[0] if self._expect and self._expect[0].local is None else None
        if expected is None:
            # An answer nobody asked for: stop tracking, pass everything through; nothing
            # more from the client reaches the engine unchecked (hold stays hold).
            self._rstate = "until_close"
            out.to_client.append(bytes(self._rbuf))
            self._rbuf.clear()
            return False
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if status == 101 or (
            expected.hijack and status == 200 and content_type in RAW_CONTENT_TYPES
        ):
            self._expect.popleft()
            self._go_raw(out)
            return False
        if 100 <= status < 200:
            return True  # interim; the final answer follows
        if expected.method == "HEAD" or status in (204, 304):
            self._response_done(out)
            return True
        te = headers.get("transfer-encoding", "").lower()
        if "chunked" in te:
            self._rstate = "chunk_size"
            return True
        cl = headers.get("content-length")
        if cl is not None and cl.isdigit():
            self._rremaining = int(cl)
            if self._rremaining == 0:
                self._response_done(out)
            else:
                self._rstate = "length"
            return True
        # Body until the engine closes: nothing can follow on this connection.
        self._rstate = "until_close"
        out.to_client.append(bytes(self._rbuf))
        self._rbuf.clear()
        return False

    def _response_chunk(self, out: Output) -> bool:
        if self._rstate == "chunk_size":
            eol = self._rbuf.find(b"\r\n")
            if eol < 0:
                return False
            line = bytes(self._rbuf[: eol + 2])
            del self._rbuf[: eol + 2]
            out.to_client.append(line)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            except ValueError:
                self._go_opaque(out)
                return False
            if size == 0:
                self._rstate = "chunk_trailers"
            else:
                self._rremaining = size + 2  # data + CRLF
                self._rstate = "chunk_data"
            return True
        if self._rstate == "chunk_data":
            n = min(self._rremaining, len(self._rbuf))
            out.to_client.append(bytes(self._rbuf[:n]))
            del self._rbuf[:n]
            self._rremaining -= n
            if self._rremaining == 0:
                self._rstate = "chunk_size"
            return True
        # trailers
        eol = self._rbuf.find(b"\r\n")
        if eol < 0:
            return False
        out.to_client.append(bytes(self._rbuf[: eol + 2]))
        del self._rbuf[: eol + 2]
        if eol == 0:
            self._response_done(out)
        return True

    def _response_done(self, out: Output) -> None:
        self._rstate = "head"
        finished = self._expect.popleft() if self._expect else None
        self._flush_locals(out)
        if finished is not None and finished.hijack and self.mode == "hold":
            # The engine did not hijack: parse what the client sent meanwhile.
            self.mode = "requests"
            held, self._held = bytes(self._held), bytearray()
            self.parser.feed(held)
            self._run_parser(out)

    def _go_raw(self, out: Output) -> None:
        self.mode = "raw"
        self._rstate = "raw"
        if self._rbuf:
            out.to_client.append(bytes(self._rbuf))
            self._rbuf.clear()
        held = bytes(self._held) + self.parser.take_buffer()
        self._held = bytearray()
        if held:
            out.to_engine.append(held)

    def _go_opaque(self, out: Output) -> None:
        # The engine's answer cannot be followed: pass it on, accept nothing more.
        self._rstate = "until_close"
        out.to_client.append(bytes(self._rbuf))
        self._rbuf.clear()
        if self.mode != "raw":
            self.mode = "broken"
            out.close = True


def _strip_expect(request: Request) -> bytes:
    if request.header("expect") is None:
        return request.raw_head
    lines = request.raw_head[:-4].split(b"\r\n")
    kept = [lines[0]] + [ln for ln in lines[1:] if not ln.lower().startswith(b"expect:")]
    return b"\r\n".join(kept) + b"\r\n\r\n"
