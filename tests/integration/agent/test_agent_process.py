"""The real `dockyard agent` process against node3's real engine and a tiny in-test server.

The server here is a few lines of Starlette speaking protocol v1 (enroll, hello/welcome,
acks, streams through the shared `Mux`), so these tests pin the agent's side of the
protocol without the real hub: enrollment and the 0600 credential file, heartbeats, a
tunnelled `GET /containers/json` answered by node3, a privileged create refused by the
agent's guard (the stream stays usable), a repeated op refused, engine events numbered
and resent after a reconnect, and 1008 as a final exit with code 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import stat
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from dockyard.agent import protocol as p
from dockyard.agent.mux import Mux, Stream, StreamOpenError
from tests.conftest import clean_environ, dockyard_executable, require_env

TEST_LABEL = "io.dockyard.test"
NODE_ID = 7


@dataclass
class Session:
    ws: WebSocket
    hello: p.Hello
    mux: Mux
    messages: asyncio.Queue[p._Msg] = field(default_factory=asyncio.Queue)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def next(self, kind: type[Any], timeout_s: float = 15.0) -> Any:
        """The next message of that type (others are skipped)."""
        async with asyncio.timeout(timeout_s):
            while True:
                msg = await self.messages.get()
                if isinstance(msg, kind):
                    return msg

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)


@dataclass
class FakeServer:
    scheme: str = "http"
    port: int = 0
    token: str = field(default_factory=lambda: "dye_" + secrets.token_urlsafe(24))
    credential: str = field(default_factory=lambda: f"dyn_{NODE_ID}_" + secrets.token_hex(20))
    acked_seq: int = 0
    auto_ack: bool = True
    heartbeat_s: float = 0.5
    metrics_interval_s: float = 1.0
    reject_with: tuple[int, str] | None = None
    enrollments: list[dict[str, Any]] = field(default_factory=list)
    sessions: asyncio.Queue[Session] = field(default_factory=asyncio.Queue)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def enroll(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.enrollments.append(body)
        # As the real server: the ".<fingerprint>" suffix is not part of the secret.
        if str(body.get("token")).split(".")[0] != self.token:
            return JSONResponse(
                {"error": {"code": "invalid_enrollment_token", "message": "invalid token"}}, 401
            )
        self.token = "spent"
        return JSONResponse(
            {"node_id": NODE_ID, "credential": self.credential, "server_fingerprint": None}
        )

    async def agent_ws(self, ws: WebSocket) -> None:
        await ws.accept()
        hello = p.parse_agent_message(await ws.receive_text())
        assert isinstance(hello, p.Hello)
        if hello.credential != self.credential:
            await ws.close(p.CLOSE_POLICY_VIOLATION, p.REASON_INVALID_CREDENTIAL)
            return
        if self.reject_with is not None:
            await ws.close(*self.reject_with)
            return
        await ws.send_text(
            p.encode(
                p.Welcome(
                    node_id=NODE_ID,
                    heartbeat_s=self.heartbeat_s,
                    metrics_interval_s=self.metrics_interval_s,
                    max_frame_bytes=p.MAX_FRAME_BYTES,
                    acked_seq=self.acked_seq,
                )
            )
        )
        session = Session(ws, hello, Mux(ws.send_text, ws.send_bytes))
        await self.sessions.put(session)
        try:
            while True:
                frame = await ws.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                if frame.get("bytes") is not None:
                    await session.mux.feed_bytes(frame["bytes"])
                    continue
                msg = p.parse_agent_message(frame["text"])
                if isinstance(msg, p.STREAM_MESSAGE_TYPES):
                    await session.mux.feed_text(msg)
                    continue
                if isinstance(msg, p.Events) and self.auto_ack and msg.items:
                    self.acked_seq = msg.items[-1].seq
                    await ws.send_text(p.encode(p.Ack(seq=self.acked_seq)))
                await session.messages.put(msg)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            await session.mux.close_all("socket closed")
            session.closed.set()

    async def next_session(self, timeout_s: float = 30.0, agent: Any = None) -> Session:
        try:
            return await asyncio.wait_for(self.sessions.get(), timeout_s)
        except TimeoutError:
            log = agent.log() if agent is not None else ""
            pytest.fail(f"the agent did not connect in {timeout_s} s\n{log}", pytrace=False)


@contextlib.asynccontextmanager
async def serve_fake(tls: tuple[Path, Path] | None = None) -> AsyncIterator[FakeServer]:
    server = FakeServer(scheme="https" if tls else "http")
    app = Starlette(
        routes=[
            Route(p.ENROLL_PATH, server.enroll, methods=["POST"]),
            WebSocketRoute(p.WS_PATH, server.agent_ws),
        ]
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server.port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=1 << 20,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    for _ in range(500):
        if uv.started or task.done():
            break
        await asyncio.sleep(0.02)
    assert uv.started, "the fake server did not start"
    try:
        yield server
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeServer]:
    async with serve_fake() as server:
        yield server


def self_signed(directory: Path) -> tuple[Path, Path, str]:
    """A certificate for 127.0.0.1: (cert, key, sha256 of its DER)."""
    import datetime as dt
    import hashlib
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return cert_path, key_path, fingerprint


@dataclass
class AgentProcess:
    proc: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
async def start_agent(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Any]]:
    procs: list[AgentProcess] = []
    node3 = require_env("DOCKYARD_TEST_NODE3_DOCKER_HOST")

    async def start(server: FakeServer, *extra: str, token: bool = True) -> AgentProcess:
        args = [
            dockyard_executable(),
            "agent",
            "--server",
            server.url,
            "--docker-host",
            node3,
            "--data-dir",
            str(tmp_path / "agent-data"),
            *extra,
        ]
        if token:
            args += ["--token", server.token]
        log_path = tmp_path / f"agent-{len(procs)}.log"
        handle = log_path.open("wb")
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=handle, stderr=subprocess.STDOUT, env=clean_environ()
        )
        handle.close()
        agent = AgentProcess(proc, log_path)
        procs.append(agent)
        return agent

    yield start
    for agent in procs:
        if agent.proc.returncode is None:
            agent.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(agent.proc.wait(), 10)
            except TimeoutError:
                agent.proc.kill()
                await agent.proc.wait()


@pytest.fixture
def node3() -> Any:
    client = docker.DockerClient(base_url=require_env("DOCKYARD_TEST_NODE3_DOCKER_HOST"))
    created: list[str] = []
    yield client, created
    for name in created:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True, v=True)
    client.close()


async def http_exchange(stream: Stream, request: bytes) -> tuple[int, bytes]:
    """Send one request over the tunnel and read one Content-Length/chunked answer."""
    await stream.write(request)
    buf = b""
    async with asyncio.timeout(15):
        while b"\r\n\r\n" not in buf:
            chunk = await stream.read()
            assert chunk is not None, f"stream closed early: {buf!r}"
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        headers = head.decode().lower()
        if "transfer-encoding: chunked" in headers:
            while not body.endswith(b"0\r\n\r\n"):
                chunk = await stream.read()
                assert chunk is not None
                body += chunk
            out, rest = b"", body
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                if size == 0:
                    break
                out += rest[:size]
                rest = rest[size + 2 :]
            return status, out
        length = int(re.search(r"content-length: (\d+)", headers).group(1))  # type: ignore[union-attr]
        while len(body) < length:
            chunk = await stream.read()
            assert chunk is not None
            body += chunk
        return status, body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode()


def post_json(path: str, doc: dict[str, Any]) -> bytes:
    body = json.dumps(doc).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def test_enroll_hello_heartbeats_state_and_a_guarded_stream(
    fake_server: FakeServer, start_agent: Callable[..., Any], node3: Any, tmp_path: Path
) -> None:
    client, created = node3
    image = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
    marker = f"dy-agent-state-{secrets.token_hex(4)}"
    created.append(marker)
    existing = await asyncio.to_thread(
        client.containers.create, image, ["true"], name=marker, labels={TEST_LABEL: "1"}
    )
    agent = await start_agent(fake_server)
    session = await fake_server.next_session()

    # Enrollment: the token went once, the credential is stored 0600, the hello carries it.
    assert len(fake_server.enrollments) == 1
    assert fake_server.enrollments[0]["docker_host"].endswith("node3.sock")
    cred_file = tmp_path / "agent-data" / "agent.json"
    assert stat.S_IMODE(cred_file.stat().st_mode) == 0o600
    assert json.loads(cred_file.read_text())["credential"] == fake_server.credential
    assert session.hello.credential == fake_server.credential
    assert session.hello.protocol == p.PROTOCOL_VERSION

    # A fresh state after connecting (node3's own containers), then heartbeats.
    state = await session.next(p.State)
    assert any(c["Id"] == existing.id and c["State"] == "created" for c in state.containers)
    beats = [await session.next(p.Heartbeat, 5) for _ in range(2)]
    assert beats[1].sent_at > beats[0].sent_at
    # Metrics at welcome.metrics_interval_s (1 s here).
    metrics = await session.next(p.Metrics, 10)
    assert metrics.sample.host.cpu_count >= 1

    # A tunnelled request, answered by node3 itself.
    stream = await session.mux.open_stream()
    status, body = await http_exchange(stream, get("/v1.41/containers/json?all=1"))
    assert status == 200
    assert existing.id in {c["Id"] for c in json.loads(body)}

    # A privileged create is refused by the agent: 403 JSON, nothing created, stream usable.
    name = f"dy-agent-priv-{secrets.token_hex(4)}"
    created.append(name)
    status, body = await http_exchange(
        stream,
        post_json(
            f"/v1.41/containers/create?name={name}",
            {
                "Image": image,
                "Labels": {TEST_LABEL: "1"},
                "HostConfig": {"Privileged": True},
            },
        ),
    )
    assert status == 403
    assert "privileged" in json.loads(body)["message"]
    assert not client.containers.list(all=True, filters={"name": name})
    status, body = await http_exchange(stream, get("/_ping"))
    assert (status, body) == (200, b"OK")
    # Swarm is off limits whatever the request.
    status, body = await http_exchange(stream, get("/v1.41/swarm"))
    assert status == 403
    await stream.close()

    # The same op key twice: the agent refuses the second.
    op = "3f1c0d8e-4b1a-4c51-9d0e-6a9b7a5e2f10"
    first = await session.mux.open_stream(op=op)
    await first.close()
    with pytest.raises(StreamOpenError, match="operation already ran"):
        await session.mux.open_stream(op=op)
    assert agent.proc.returncode is None, agent.log()


async def test_events_are_numbered_and_resent_after_a_reconnect(
    fake_server: FakeServer, start_agent: Callable[..., Any], node3: Any
) -> None:
    client, created = node3
    image = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
    agent = await start_agent(fake_server)
    session = await fake_server.next_session()
    await session.next(p.State)

    fake_server.auto_ack = False  # nothing acknowledged from here on
    name = f"dy-agent-ev-{secrets.token_hex(4)}"
    created.append(name)
    container = await asyncio.to_thread(
        client.containers.run,
        image,
        ["sleep", "300"],
        name=name,
        labels={TEST_LABEL: "1"},
        detach=True,
    )
    await asyncio.to_thread(container.kill)

    seen: list[p.EventItem] = []
    async with asyncio.timeout(20):
        while not any(
            i.event.get("Action") == "die" and i.event.get("id") == container.id for i in seen
        ):
            seen += (await session.next(p.Events)).items
    ours = [i for i in seen if i.event.get("id") == container.id]
    actions = [i.event["Action"] for i in ours]
    assert actions[:3] == ["create", "start", "kill"], actions
    assert "die" in actions
    seqs = [i.seq for i in seen]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)

    # The server acknowledged only up to the first of them, then the socket dies.
    fake_server.acked_seq = ours[0].seq
    await session.close(p.CLOSE_GOING_AWAY, "server restarting")
    again = await fake_server.next_session()
    assert again.hello.last_acked_seq < ours[0].seq  # nothing of ours was acked
    state = await again.next(p.State)
    assert any(c["Id"] == container.id and c["State"] == "exited" for c in state.containers)
    resent: list[p.EventItem] = []
    async with asyncio.timeout(15):
        while not resent or resent[-1].seq < seen[-1].seq:
            resent += (await again.next(p.Events)).items
    expected = [i for i in seen if i.seq > ours[0].seq]
    assert [(i.seq, i.event) for i in resent[: len(expected)]] == [
        (i.seq, i.event) for i in expected
    ]

    # Acknowledge everything: a later reconnect resends nothing.
    fake_server.auto_ack = True
    await again.ws.send_text(p.encode(p.Ack(seq=resent[-1].seq)))
    fake_server.acked_seq = resent[-1].seq
    await asyncio.sleep(0.3)
    await again.close(p.CLOSE_GOING_AWAY, "again")
    third = await fake_server.next_session()
    assert third.hello.last_acked_seq == resent[-1].seq
    await third.next(p.State)
    later: list[p.EventItem] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.5):
            while True:
                later += (await third.next(p.Events)).items
    # Only events newer than the acknowledged ones (other tests may use node3 meanwhile).
    assert all(i.seq > resent[-1].seq for i in later), later
    assert agent.proc.returncode is None, agent.log()


async def test_revoked_credential_is_final(
    fake_server: FakeServer, start_agent: Callable[..., Any]
) -> None:
    agent = await start_agent(fake_server)
    session = await fake_server.next_session()
    await session.next(p.State)
    await session.close(p.CLOSE_POLICY_VIOLATION, p.REASON_REVOKED)
    code = await asyncio.wait_for(agent.proc.wait(), 20)
    assert code == 3, agent.log()
    assert "credential revoked" in agent.log()
    assert fake_server.sessions.empty()  # it did not try again

    # A later run without a token uses the stored credential; a refused one exits 3 too.
    fake_server.reject_with = (p.CLOSE_POLICY_VIOLATION, p.REASON_INVALID_CREDENTIAL)
    second = await start_agent(fake_server, token=False)
    code = await asyncio.wait_for(second.proc.wait(), 20)
    assert code == 3, second.log()
    assert "invalid credential" in second.log()
    assert len(fake_server.enrollments) == 1


async def test_bad_enrollment_token_exits_3(
    fake_server: FakeServer, start_agent: Callable[..., Any], tmp_path: Path
) -> None:
    fake_server.token = "dye_" + secrets.token_urlsafe(24)  # not the one the agent gets
    agent = await start_agent(fake_server, "--token", "dye_" + "x" * 30, token=False)
    code = await asyncio.wait_for(agent.proc.wait(), 20)
    assert code == 3, agent.log()
    assert "invalid token" in agent.log()
    assert not (tmp_path / "agent-data" / "agent.json").exists()


async def test_exec_hijack_through_the_tunnel(
    fake_server: FakeServer, start_agent: Callable[..., Any], node3: Any
) -> None:
    client, created = node3
    image = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
    name = f"dy-agent-exec-{secrets.token_hex(4)}"
    created.append(name)
    container = await asyncio.to_thread(
        client.containers.run,
        image,
        ["sleep", "300"],
        name=name,
        labels={TEST_LABEL: "1"},
        detach=True,
    )
    await start_agent(fake_server)
    session = await fake_server.next_session()
    stream = await session.mux.open_stream()
    status, body = await http_exchange(
        stream,
        post_json(
            f"/v1.41/containers/{container.id}/exec",
            {
                "Cmd": ["sh", "-c", "read x; echo got-$x"],
                "AttachStdin": True,
                "AttachStdout": True,
                "AttachStderr": True,
                "Tty": True,
            },
        ),
    )
    assert status == 201, body
    exec_id = json.loads(body)["Id"]
    start = json.dumps({"Detach": False, "Tty": True}).encode()
    await stream.write(
        f"POST /v1.41/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
        "Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        f"Content-Length: {len(start)}\r\n\r\n".encode()
        + start
    )
    # Stdin sent right behind the request is held until the engine answers 101, then piped.
    await stream.write(b"through-the-agent\n")
    out = b""
    async with asyncio.timeout(15):
        while b"got-through-the-agent" not in out:
            chunk = await stream.read()
            assert chunk is not None, out
            out += chunk
    assert out.startswith(b"HTTP/1.1 101")
    await stream.close()


async def test_tls_pinning(start_agent: Callable[..., Any], tmp_path: Path) -> None:
    cert, key, fingerprint = self_signed(tmp_path)
    async with serve_fake((cert, key)) as server:
        # A token carrying another fingerprint: refused before the token is sent.
        wrong = await start_agent(server, "--token", f"{server.token}.{'0' * 64}", token=False)
        assert await asyncio.wait_for(wrong.proc.wait(), 20) == 3, wrong.log()
        assert "does not match the pinned" in wrong.log()
        assert server.enrollments == []

        # The right fingerprint: enrolls over TLS, pins it, connects over wss.
        agent = await start_agent(server, "--token", f"{server.token}.{fingerprint}", token=False)
        session = await server.next_session(agent=agent)
        assert session.hello.credential == server.credential
        stored = json.loads((tmp_path / "agent-data" / "agent.json").read_text())
        assert stored["fingerprint"] == fingerprint
        assert stored["server"].startswith("https://")
        await session.next(p.State)
        assert agent.proc.returncode is None, agent.log()


async def test_rotation_stores_first_then_answers(
    fake_server: FakeServer, start_agent: Callable[..., Any], tmp_path: Path
) -> None:
    agent = await start_agent(fake_server)
    session = await fake_server.next_session(agent=agent)
    await session.next(p.State)
    new = f"dyn_{NODE_ID}_" + secrets.token_hex(20)
    await session.ws.send_text(p.encode(p.Rotate(request_id="r-1", credential=new)))
    answer = await session.next(p.Rotated, 10)
    assert answer.request_id == "r-1"
    cred_file = tmp_path / "agent-data" / "agent.json"
    assert json.loads(cred_file.read_text())["credential"] == new
    assert stat.S_IMODE(cred_file.stat().st_mode) == 0o600
    # The next connection uses the new credential.
    fake_server.credential = new
    await session.close(p.CLOSE_NORMAL, p.REASON_REPLACED)
    again = await fake_server.next_session(agent=agent)
    assert again.hello.credential == new
