"""Container terminal (exec WebSocket) and file browser through a real server and engine."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import tarfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dockyard.app import create_app
from dockyard.audit.service import Actor
from dockyard.runtime import Runtime
from dockyard.users.service import create_user
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, audit_rows, make_settings, unique_email
from tests.integration.state.docker_helpers import Containers, containers

FOREIGN_ORIGIN = "http://evil.example"


@dataclass
class Server:
    app: FastAPI
    port: int
    http: httpx.AsyncClient
    node_id: int
    admin_token: str

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    async def login(self, email: str, password: str) -> str:
        response = await self.http.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def ticket(self, token: str | None = None) -> str:
        response = await self.http.post("/api/v1/realtime/ticket", headers=self.headers(token))
        assert response.status_code == 200, response.text
        return str(response.json()["ticket"])

    def exec_url(self, container: str, ticket: str, cmd: str = "sh") -> str:
        return (
            f"ws://127.0.0.1:{self.port}/api/v1/containers/{self.node_id}/{container}/exec"
            f"?ticket={ticket}&cmd={cmd}&cols=80&rows=24"
        )

    def files(self, container: str, suffix: str = "") -> str:
        return f"/api/v1/nodes/{self.node_id}/containers/{container}/files{suffix}"


@pytest.fixture(scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, docker_host: str
) -> AsyncIterator[Server]:
    settings = make_settings(Path(tmp_path_factory.mktemp("containers")))
    app = create_app(settings, configure_logs=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="websockets-sansio")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    for _ in range(500):
        if uv.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not uv.started:
        pytest.fail("the test server did not start", pytrace=False)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=120
    ) as http:
        response = await http.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        token = str(response.json()["access_token"])
        nodes = await http.get("/api/v1/nodes", headers={"Authorization": f"Bearer {token}"})
        assert nodes.status_code == 200, nodes.text
        body = nodes.json()
        items = body["items"] if isinstance(body, dict) else body
        yield Server(app=app, port=port, http=http, node_id=int(items[0]["id"]), admin_token=token)
    uv.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()


@pytest.fixture(scope="module")
def made(docker_host: str, test_image: str) -> Iterator[Containers]:
    with containers(docker_host, test_image) as made:
        yield made


@pytest.fixture(scope="module")
def box(made: Containers) -> str:
    """A running busybox container with a symlink out of /tmp, a FIFO, text and binary."""
    cid = made.run(["sleep", "3600"])
    setup = (
        "ln -s /etc/shadow /tmp/x && mkfifo /tmp/fifo && "
        "printf 'one\\ntwo\\n' > /tmp/edit.txt && chmod 640 /tmp/edit.txt && "
        "chown 1000:1000 /tmp/edit.txt && printf 'a\\0b' > /tmp/bin"
    )
    exec_id = made.client.exec_create(cid, ["sh", "-c", setup])["Id"]
    made.client.exec_start(exec_id)
    assert made.client.exec_inspect(exec_id)["ExitCode"] == 0
    return cid


def open_ws(url: str, origin: str | None = None) -> Any:
    headers = {"Origin": origin} if origin else None
    return connect(url, proxy=None, open_timeout=5, close_timeout=2, additional_headers=headers)


async def read_until(ws: ClientConnection, needle: str, timeout_s: float = 10.0) -> str:
    seen = ""

    async def run() -> str:
        nonlocal seen
        while needle not in seen:
            message = await ws.recv()
            if isinstance(message, bytes):
                seen += message.decode("utf-8", "replace")
        return seen

    try:
        return await asyncio.wait_for(run(), timeout_s)
    except TimeoutError:
        raise AssertionError(f"{needle!r} not seen in {seen[-500:]!r}") from None


async def closed_with(ws: ClientConnection, timeout_s: float = 10.0) -> tuple[int, str]:
    async def drain() -> None:
        while True:
            await ws.recv()

    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(drain(), timeout_s)
    frame = closed.value.rcvd
    assert frame is not None
    return frame.code, frame.reason


# ---------------------------------------------------------------- exec


async def test_exec_echo_resize_and_audit(server: Server, box: str) -> None:
    async with open_ws(server.exec_url(box, await server.ticket())) as ws:
        ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ready["type"] == "ready"
        await ws.send(b"echo hel''lo\n")
        await read_until(ws, "hello")
        await ws.send(json.dumps({"type": "resize", "cols": 123, "rows": 45}))
        await asyncio.sleep(0.3)
        await ws.send(json.dumps({"type": "input", "data": "stty size\n"}))
        await read_until(ws, "45 123")
        await ws.send(b"exit\n")
        code, reason = await closed_with(ws)
        assert (code, reason) == (1000, "process exited")
    for _ in range(50):
        ended = await audit_rows(server, action="container.exec.ended")  # type: ignore[arg-type]
        if ended:
            break
        await asyncio.sleep(0.1)
    started = await audit_rows(server, action="container.exec.started")  # type: ignore[arg-type]
    assert started
    assert started[-1].target_id == box[:64]
    assert ended, "no container.exec.ended audit row"
    details = ended[-1].details
    assert details["reason"] == "exited"
    assert details["exit_code"] == 0
    assert details["duration_s"] > 0
    # No keystrokes recorded.
    assert "hel''lo" not in json.dumps(details)
    assert "stty" not in json.dumps(details)


async def test_bash_falls_back_to_sh(server: Server, box: str) -> None:
    async with open_ws(server.exec_url(box, await server.ticket(), cmd="bash")) as ws:
        await read_until(ws, "bash is not installed in this container: using sh.")
        await ws.send(b"echo $((40+2))\n")
        await read_until(ws, "42")


async def test_idle_timeout_closes(server: Server, box: str) -> None:
    settings = server.runtime.settings
    previous = settings.exec_idle_timeout_s
    settings.exec_idle_timeout_s = 1.0
    try:
        async with open_ws(server.exec_url(box, await server.ticket())) as ws:
            code, reason = await closed_with(ws, timeout_s=10)
            assert (code, reason) == (4000, "idle timeout")
    finally:
        settings.exec_idle_timeout_s = previous


async def test_foreign_origin_refused(server: Server, box: str) -> None:
    ticket = await server.ticket()
    async with open_ws(server.exec_url(box, ticket), origin=FOREIGN_ORIGIN) as ws:
        assert await closed_with(ws) == (1008, "origin not allowed")
    # The same origin as the server is fine.
    same = f"http://127.0.0.1:{server.port}"
    async with open_ws(server.exec_url(box, await server.ticket()), origin=same) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"


async def test_bad_ticket_refused(server: Server, box: str) -> None:
    async with open_ws(server.exec_url(box, "nope")) as ws:
        assert await closed_with(ws) == (1008, "invalid or expired ticket")


async def test_viewer_is_refused(server: Server, box: str) -> None:
    email, password = unique_email("viewer"), "viewer-password-123"
    async with server.runtime.db.session() as session:
        await create_user(
            session, email=email, password=password, role="viewer", actor=Actor.system("tests")
        )
        await session.commit()
    token = await server.login(email, password)
    async with open_ws(server.exec_url(box, await server.ticket(token))) as ws:
        code, reason = await closed_with(ws)
        assert code == 1008
        assert "services:exec" in reason
    response = await server.http.get(
        server.files(box), params={"path": "/etc"}, headers=server.headers(token)
    )
    assert response.status_code == 403, response.text
    denied = await audit_rows(server, action="access.denied")  # type: ignore[arg-type]
    assert any(row.details.get("permission") == "services:exec" for row in denied)


# ---------------------------------------------------------------- files


async def test_list_view_and_edit(server: Server, box: str) -> None:
    response = await server.http.get(
        server.files(box), params={"path": "/etc"}, headers=server.headers()
    )
    assert response.status_code == 200, response.text
    names = {e["name"]: e for e in response.json()["entries"]}
    assert names["hostname"]["type"] == "file"
    assert names["hostname"]["size"] > 0
    assert all("/" not in name for name in names)

    view = await server.http.get(
        server.files(box, "/content"), params={"path": "/etc/hostname"}, headers=server.headers()
    )
    assert view.status_code == 200, view.text
    assert view.json()["content"].strip() == box[:12]

    edit = await server.http.put(
        server.files(box, "/content"),
        json={"path": "/tmp/edit.txt", "content": "changed\n"},
        headers=server.headers(),
    )
    assert edit.status_code == 200, edit.text
    back = await server.http.get(
        server.files(box, "/content"), params={"path": "/tmp/edit.txt"}, headers=server.headers()
    )
    assert back.json()["content"] == "changed\n"
    listing = await server.http.get(
        server.files(box), params={"path": "/tmp"}, headers=server.headers()
    )
    entry = next(e for e in listing.json()["entries"] if e["name"] == "edit.txt")
    assert entry["mode"] == 0o640
    assert (entry["uid"], entry["gid"]) == (1000, 1000)
    rows = await audit_rows(server, action="container.file.edited")  # type: ignore[arg-type]
    assert rows
    assert rows[-1].details["path"] == "/tmp/edit.txt"

    binary = await server.http.get(
        server.files(box, "/content"), params={"path": "/tmp/bin"}, headers=server.headers()
    )
    assert binary.status_code == 415
    assert binary.json()["error"]["code"] == "binary_file"


async def test_traversal_is_normalized_or_refused(server: Server, box: str) -> None:
    up = await server.http.get(
        server.files(box), params={"path": "/etc/../../.."}, headers=server.headers()
    )
    assert up.status_code == 200
    assert up.json()["path"] == "/"
    assert "etc" in {e["name"] for e in up.json()["entries"]}
    encoded = await server.http.get(
        server.files(box, "/content") + "?path=/tmp/..%2f..%2fetc%2fhostname",
        headers=server.headers(),
    )
    assert encoded.status_code == 200
    assert encoded.json()["path"] == "/etc/hostname"
    nul = await server.http.get(
        server.files(box, "/content"),
        params={"path": "/etc/hostname\x00.txt"},
        headers=server.headers(),
    )
    assert nul.status_code == 422
    assert nul.json()["error"]["code"] == "invalid_path"
    bad_name = await server.http.post(
        server.files(box, "/mkdir"),
        json={"path": "/tmp", "name": "../evil"},
        headers=server.headers(),
    )
    assert bad_name.status_code == 422


async def test_symlink_is_not_followed(server: Server, box: str) -> None:
    listing = await server.http.get(
        server.files(box), params={"path": "/tmp"}, headers=server.headers()
    )
    link = next(e for e in listing.json()["entries"] if e["name"] == "x")
    assert link["type"] == "symlink"
    assert link["link_target"] == "/etc/shadow"
    view = await server.http.get(
        server.files(box, "/content"), params={"path": "/tmp/x"}, headers=server.headers()
    )
    assert view.status_code == 422
    assert view.json()["error"]["code"] == "symlink_not_followed"
    download = await server.http.get(
        server.files(box, "/download"), params={"path": "/tmp/x"}, headers=server.headers()
    )
    assert download.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(download.content)) as archive:
        members = archive.getmembers()
    assert [(m.name, m.issym(), m.linkname, m.size) for m in members] == [
        ("x", True, "/etc/shadow", 0)
    ]


async def test_fifo_listed_as_other_and_never_read(server: Server, box: str) -> None:
    listing = await server.http.get(
        server.files(box), params={"path": "/tmp"}, headers=server.headers()
    )
    fifo = next(e for e in listing.json()["entries"] if e["name"] == "fifo")
    assert fifo["type"] == "other"
    assert fifo["mode_text"].startswith("p")
    for suffix in ("/content", "/download"):
        response = await asyncio.wait_for(
            server.http.get(
                server.files(box, suffix), params={"path": "/tmp/fifo"}, headers=server.headers()
            ),
            10,
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "special_file"
    # A folder holding the FIFO downloads at once: the FIFO is archived as a header only.
    folder = await asyncio.wait_for(
        server.http.get(
            server.files(box, "/download"), params={"path": "/tmp"}, headers=server.headers()
        ),
        10,
    )
    assert folder.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(folder.content)) as archive:
        member = archive.getmember("tmp/fifo")
    assert member.isfifo()
    assert member.size == 0


async def test_upload_mkdir_rename_delete(server: Server, box: str) -> None:
    made = await server.http.post(
        server.files(box, "/mkdir"),
        json={"path": "/tmp", "name": "newdir"},
        headers=server.headers(),
    )
    assert made.status_code == 201
    assert made.json()["type"] == "dir"
    payload = b"uploaded bytes\n" * 1000
    upload = await server.http.post(
        server.files(box, "/upload"),
        params={"path": "/tmp/newdir", "name": "up.txt"},
        content=payload,
        headers={**server.headers(), "Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["size"] == len(payload)
    download = await server.http.get(
        server.files(box, "/download"),
        params={"path": "/tmp/newdir/up.txt"},
        headers=server.headers(),
    )
    assert download.content == payload
    assert "attachment" in download.headers["content-disposition"]
    renamed = await server.http.post(
        server.files(box, "/rename"),
        json={"path": "/tmp/newdir/up.txt", "new_name": "b.txt"},
        headers=server.headers(),
    )
    assert renamed.status_code == 200, renamed.text
    folder = await server.http.get(
        server.files(box, "/download"), params={"path": "/tmp/newdir"}, headers=server.headers()
    )
    with tarfile.open(fileobj=io.BytesIO(folder.content)) as archive:
        names = sorted(m.name for m in archive)
    assert names == ["newdir", "newdir/b.txt"]
    gone = await server.http.delete(
        server.files(box), params={"path": "/tmp/newdir"}, headers=server.headers()
    )
    assert gone.status_code == 204
    missing = await server.http.get(
        server.files(box, "/stat"), params={"path": "/tmp/newdir"}, headers=server.headers()
    )
    assert missing.status_code == 404
    for action in ("mkdir", "uploaded", "renamed", "deleted"):
        assert await audit_rows(server, action=f"container.file.{action}")  # type: ignore[arg-type]


async def test_upload_limit_and_stopped_container(server: Server, made: Containers) -> None:
    stopped = made.run(["sleep", "3600"], start=False)
    # The archive API works on a stopped container: list and mkdir ...
    listing = await server.http.get(
        server.files(stopped), params={"path": "/etc"}, headers=server.headers()
    )
    assert listing.status_code == 200, listing.text
    made_dir = await server.http.post(
        server.files(stopped, "/mkdir"),
        json={"path": "/", "name": "offline"},
        headers=server.headers(),
    )
    assert made_dir.status_code == 201, made_dir.text
    # ... but rename and delete need a (tiny) exec: refused with a clear error.
    refused = await server.http.delete(
        server.files(stopped), params={"path": "/offline"}, headers=server.headers()
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "container_not_running"
    settings = server.runtime.settings
    previous = settings.files_max_upload_bytes
    settings.files_max_upload_bytes = 10
    try:
        big = await server.http.post(
            server.files(stopped, "/upload"),
            params={"path": "/", "name": "big"},
            content=b"x" * 11,
            headers=server.headers(),
        )
        assert big.status_code == 413
    finally:
        settings.files_max_upload_bytes = previous


async def test_tar_with_dotdot_entries_is_never_accepted(server: Server, box: str) -> None:
    """Uploads are raw bytes wrapped in one entry we build: a tar body stays a plain file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        evil = tarfile.TarInfo("../../evil")
        evil.size = 4
        archive.addfile(evil, io.BytesIO(b"evil"))
    response = await server.http.post(
        server.files(box, "/upload"),
        params={"path": "/tmp", "name": "upload.tar"},
        content=buffer.getvalue(),
        headers=server.headers(),
    )
    assert response.status_code == 201
    root = await server.http.get(server.files(box), params={"path": "/"}, headers=server.headers())
    assert "evil" not in {e["name"] for e in root.json()["entries"]}
    # A name with a path in it is refused outright.
    bad = await server.http.post(
        server.files(box, "/upload"),
        params={"path": "/tmp", "name": "../evil"},
        content=b"evil",
        headers=server.headers(),
    )
    assert bad.status_code == 422


async def test_short_id_prefixes_are_refused(server: Server, box: str) -> None:
    for ref, status in ((box[:4], 404), (box[:11], 404), (box[:12], 200), (box, 200)):
        response = await server.http.get(
            server.files(ref), params={"path": "/etc"}, headers=server.headers()
        )
        assert response.status_code == status, (ref, response.text)


async def test_unknown_container_and_visibility(server: Server) -> None:
    response = await server.http.get(
        server.files("does-not-exist-123"), params={"path": "/"}, headers=server.headers()
    )
    assert response.status_code == 404


async def test_tenant_sees_only_containers_of_own_services(
    server: Server, made: Containers, box: str, test_image: str
) -> None:
    email, password = unique_email("tenant"), "tenant-password-123"
    async with server.runtime.db.session() as session:
        await create_user(
            session, email=email, password=password, role="user", actor=Actor.system("tests")
        )
        await session.commit()
    token = await server.login(email, password)
    compose = f"services:\n  app:\n    image: {test_image}\n    command: [sleep, '3600']\n"
    created = await server.http.post(
        "/api/v1/services",
        json={"name": f"tenant-{box[:6]}", "compose": compose},
        headers=server.headers(token),
    )
    assert created.status_code == 201, created.text
    sid = int(created.json()["id"])
    own = made.run(["sleep", "3600"], labels={"io.dockyard.service-id": str(sid)})
    for _ in range(100):
        if server.runtime.state.container_service(server.node_id, own) == sid:
            break
        await asyncio.sleep(0.1)
    assert server.runtime.state.container_service(server.node_id, own) == sid
    mine = await server.http.get(
        server.files(own), params={"path": "/etc"}, headers=server.headers(token)
    )
    assert mine.status_code == 200, mine.text
    # An unmanaged container (only admins may open those) is answered like a missing one.
    other = await server.http.get(
        server.files(box), params={"path": "/etc"}, headers=server.headers(token)
    )
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "container_not_found"
    async with open_ws(server.exec_url(box, await server.ticket(token))) as ws:
        code, _ = await closed_with(ws)
        assert code == 1008
    async with open_ws(server.exec_url(own, await server.ticket(token))) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "ready"
        await ws.send(b"echo tenant-ok\n")
        await read_until(ws, "tenant-ok")


async def test_exec_into_a_stopped_container_is_refused(server: Server, made: Containers) -> None:
    stopped = made.run(["sleep", "3600"], start=False)
    async with open_ws(server.exec_url(stopped, await server.ticket())) as ws:
        code, reason = await closed_with(ws)
        assert code == 4002
        assert "not running" in reason.lower() or "refused" in reason.lower()


async def test_listing_stops_at_the_scan_cap(server: Server, made: Containers) -> None:
    cid = made.run(["sleep", "3600"])
    exec_id = made.client.exec_create(
        cid, ["sh", "-c", "mkdir /data && dd if=/dev/zero of=/data/a bs=1 count=0 seek=8M"]
    )["Id"]
    made.client.exec_start(exec_id)
    settings = server.runtime.settings
    previous = settings.files_max_list_scan_bytes
    settings.files_max_list_scan_bytes = 1024**2
    try:
        listing = await server.http.get(
            server.files(cid), params={"path": "/data"}, headers=server.headers()
        )
    finally:
        settings.files_max_list_scan_bytes = previous
    assert listing.status_code == 200, listing.text
    assert listing.json()["truncated"] is True
    full = await server.http.get(
        server.files(cid), params={"path": "/data"}, headers=server.headers()
    )
    assert full.json()["truncated"] is False
    assert [(e["name"], e["size"]) for e in full.json()["entries"]] == [("a", 8 * 1024**2)]


async def test_a_quiet_shell_outlives_the_engine_request_timeout(
    made: Containers, docker_host: str
) -> None:
    from dockyard.containers.exec import ExecSession
    from dockyard.engine.adapter import DockerEngine

    cid = made.run(["sleep", "3600"])
    engine = DockerEngine(docker_host, timeout_s=1)
    try:
        session = await ExecSession.open(engine, cid, ["sh"], cols=80, rows=24)
        try:
            assert await asyncio.wait_for(session.read(), 5) is not None
            await asyncio.sleep(2.5)  # silent for longer than the engine timeout
            await session.write(b"echo $((6*7))-alive\n")
            seen = b""
            while b"42-alive" not in seen:
                block = await asyncio.wait_for(session.read(), 5)
                assert block is not None, f"the session ended: {seen!r}"
                seen += block
        finally:
            await session.close()
    finally:
        await engine.close()
