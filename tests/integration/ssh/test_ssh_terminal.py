"""The web SSH terminal end to end against the test sshd (scripts/test-env.sh: Debian's
openssh-server on 127.0.0.1:2222 with its own host keys, user and key): TOFU scan and trust,
a real shell, a changed host key refused, wrong key and password, a bastion from the
inventory, Origin, tickets, permissions and the idle timeout. One uvicorn server (SQLite)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from dockyard.app import create_app
from dockyard.runtime import Runtime
from dockyard.ssh.models import SshKnownHost
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    add_user,
    make_settings,
    require_env,
    unique_email,
)
from tests.integration.ssh.helpers import SshEnv, host_key_fingerprints, ssh_env, unique_host

ALLOWED_ORIGIN = "http://allowed.example"


@dataclass
class Server:
    app: FastAPI
    port: int
    http: httpx.AsyncClient
    env: SshEnv
    token: str = ""

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def login(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
        response = await self.http.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", None) or self.auth()
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def ticket(self, token: str | None = None) -> str:
        response = await self.http.post("/api/v1/realtime/ticket", headers=self.auth(token))
        assert response.status_code == 200, response.text
        return str(response.json()["ticket"])

    def ws(self, host_id: int, ticket: str, **kwargs: Any) -> Any:
        url = f"ws://127.0.0.1:{self.port}/api/v1/hosts/{host_id}/ssh?ticket={ticket}"
        return connect(url, proxy=None, open_timeout=5, close_timeout=2, **kwargs)


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    env = ssh_env()
    settings = make_settings(
        Path(tmp_path_factory.mktemp("ssh")),
        allowed_origins=[ALLOWED_ORIGIN],
        ssh_connect_timeout_s=5.0,
    )
    app = create_app(settings, configure_logs=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", ws="websockets-sansio")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    for _ in range(1000):
        if uv.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not uv.started:
        pytest.fail("the test server did not start", pytrace=False)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30
    ) as http:
        srv = Server(app=app, port=port, http=http, env=env)
        srv.token = await srv.login()
        yield srv
    uv.should_exit = True
    await asyncio.wait_for(task, 15)
    sock.close()


async def recv(ws: ClientConnection, timeout_s: float = 10.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
    return message


async def closed_with(ws: ClientConnection, timeout_s: float = 10.0) -> tuple[int, str]:
    async def read_all() -> None:
        while True:
            await asyncio.wait_for(ws.recv(), timeout_s)

    with pytest.raises(ConnectionClosed) as closed:
        await read_all()
    frame = closed.value.rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


async def until_error(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = await recv(ws)
        if message["type"] == "error":
            return message
        assert message["type"] == "status", message


async def make_host(srv: Server, **fields: Any) -> dict[str, Any]:
    body = {
        "hostname": unique_host(),
        "address": srv.env.host,
        "ssh_port": srv.env.port,
        **fields,
    }
    response = await srv.call("POST", "/api/v1/hosts", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def make_credential(srv: Server, **fields: Any) -> dict[str, Any]:
    body = {
        "name": f"cred-{unique_host()}",
        "username": srv.env.user,
        "auth_type": "key",
        "private_key": srv.env.key_text,
        **fields,
    }
    response = await srv.call("POST", "/api/v1/ssh-credentials", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def assign(srv: Server, host_id: int, credential_id: int | None) -> dict[str, Any]:
    response = await srv.call(
        "PUT", f"/api/v1/hosts/{host_id}/ssh-credential", json={"credential_id": credential_id}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def scan(srv: Server, host_id: int) -> dict[str, Any]:
    response = await srv.call("POST", f"/api/v1/hosts/{host_id}/ssh-hostkey/scan")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def trust(srv: Server, host_id: int) -> dict[str, Any]:
    scanned = await scan(srv, host_id)
    response = await srv.call(
        "POST",
        f"/api/v1/hosts/{host_id}/ssh-hostkey/trust",
        json={"fingerprint": scanned["fingerprint"]},
    )
    assert response.status_code == 200, response.text
    return scanned


async def ready_host(srv: Server, **credential: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    host = await make_host(srv)
    cred = await make_credential(srv, **credential)
    await assign(srv, host["id"], cred["id"])
    await trust(srv, host["id"])
    return host, cred


async def run_commands(ws: ClientConnection, command: str, until_text: str) -> str:
    """Send `command`, return the output read until `until_text` shows up."""
    status = await recv(ws)
    assert status["type"] == "status", status
    connected = await recv(ws, 15)
    assert connected["type"] == "connected", connected
    await ws.send(json.dumps({"type": "input", "data": command}))
    output = ""
    while until_text not in output:
        message = await recv(ws)
        if message["type"] == "output":
            output += message["data"]
        else:
            assert message["type"] in ("pong",), message
    return output


async def audit_actions(srv: Server, host_id: int) -> list[dict[str, Any]]:
    response = await srv.call(
        "GET", "/api/v1/audit", params={"target_type": "host", "target_id": str(host_id)}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# ---------------------------------------------------------------- tests


async def test_tofu_then_a_real_shell_and_the_session_audited(server: Server) -> None:
    host = await make_host(server)
    cred = await make_credential(server)
    await assign(server, host["id"], cred["id"])
    status = (await server.call("GET", f"/api/v1/hosts/{host['id']}/ssh")).json()
    assert status["credential"]["id"] == cred["id"]
    assert status["host_key"] is None
    assert any("not trusted" in p for p in status["problems"])

    # Not trusted yet: the terminal refuses before authenticating.
    async with server.ws(host["id"], await server.ticket()) as ws:
        error = await recv(ws)
        assert error["type"] == "error"
        assert error["code"] == "ssh_hostkey_untrusted", error
        assert (await closed_with(ws))[0] == 1008

    scanned = await scan(server, host["id"])
    assert scanned["status"] == "new"
    assert scanned["trusted_fingerprint"] is None
    assert scanned["key_type"] == "ssh-ed25519"  # OpenSSH's preference among the server's keys
    assert scanned["fingerprint"] in host_key_fingerprints(), "not the test sshd's own key"
    wrong = await server.call(
        "POST",
        f"/api/v1/hosts/{host['id']}/ssh-hostkey/trust",
        json={"fingerprint": "SHA256:" + "A" * 43},
    )
    assert wrong.status_code == 409
    assert wrong.json()["error"]["code"] == "ssh_hostkey_changed"
    trusted = await server.call(
        "POST",
        f"/api/v1/hosts/{host['id']}/ssh-hostkey/trust",
        json={"fingerprint": scanned["fingerprint"]},
    )
    assert trusted.status_code == 200, trusted.text
    assert trusted.json()["host_key"]["fingerprint"] == scanned["fingerprint"]
    assert trusted.json()["problems"] == []
    assert (await scan(server, host["id"]))["status"] == "trusted"

    async with server.ws(host["id"], await server.ticket()) as ws:
        output = await run_commands(ws, "echo hel''lo; whoami\n", f"hello\r\n{server.env.user}\r\n")
        assert "hello" in output
        await ws.send(json.dumps({"type": "resize", "cols": 100, "rows": 30}))
        await ws.send(json.dumps({"type": "input", "data": "stty size; exit 3\n"}))
        seen = ""
        while True:
            message = await recv(ws)
            if message["type"] == "output":
                seen += message["data"]
                continue
            assert message == {"type": "exit", "exit_status": 3}, message
            break
        assert "30 100" in seen
        assert (await closed_with(ws))[0] == 1000

    rows = await audit_actions(server, host["id"])
    actions = [row["action"] for row in rows]
    refused = [r for r in rows if r["action"] == "host.ssh.session.failed"]
    assert [r["details"]["error"] for r in refused] == ["ssh_hostkey_untrusted"]
    assert "host.ssh.hostkey.trusted" in actions
    assert "host.ssh.session.started" in actions
    assert "host.ssh.session.ended" in actions
    ended = next(
        r
        for r in await audit_actions(server, host["id"])
        if r["action"] == "host.ssh.session.ended"
    )
    assert ended["details"]["reason"] == "exit"
    assert ended["details"]["exit_status"] == 3
    assert ended["details"]["duration_s"] > 0
    assert ended["details"]["user"] == server.env.user


async def test_a_changed_host_key_is_refused_until_an_admin_deletes_it(server: Server) -> None:
    host, _ = await ready_host(server)
    # Simulate the server's key changing: store another key of the same type as trusted.
    async with server.runtime.db.read_session() as session:
        row = await session.get(SshKnownHost, host["id"])
        assert row is not None
        key_type, real = row.key_type, row.fingerprint
    other = asyncssh.generate_private_key(key_type if key_type != "ssh-rsa" else "ssh-rsa")
    public = other.convert_to_public().export_public_key().decode().strip()
    fake = other.get_fingerprint("sha256")
    async with server.runtime.db.session() as session:
        await session.execute(
            update(SshKnownHost)
            .where(SshKnownHost.host_id == host["id"])
            .values(public_key=public, fingerprint=fake)
        )
        await session.commit()

    async with server.ws(host["id"], await server.ticket()) as ws:
        error = await until_error(ws)
        assert error["code"] == "ssh_hostkey_mismatch", error
        assert "mismatch" in error["message"].lower()
        assert fake in error["message"]
        assert real in error["message"]
        assert error["details"]["presented_fingerprint"] == real
        assert (await closed_with(ws))[0] == 1011

    scanned = await scan(server, host["id"])
    assert scanned["status"] == "mismatch"
    assert scanned["trusted_fingerprint"] == fake
    refused = await server.call(
        "POST",
        f"/api/v1/hosts/{host['id']}/ssh-hostkey/trust",
        json={"fingerprint": scanned["fingerprint"]},
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "ssh_hostkey_mismatch"

    # An operator without hosts:manage? Viewer cannot delete; the admin can.
    viewer_email = unique_email("viewer")
    await add_user_live(server, viewer_email, "viewer-password-123", "viewer")
    viewer = await server.login(viewer_email, "viewer-password-123")
    denied = await server.call(
        "DELETE", f"/api/v1/hosts/{host['id']}/ssh-hostkey", headers=server.auth(viewer)
    )
    assert denied.status_code == 403
    deleted = await server.call("DELETE", f"/api/v1/hosts/{host['id']}/ssh-hostkey")
    assert deleted.status_code == 204
    assert (await scan(server, host["id"]))["status"] == "new"
    actions = [row["action"] for row in await audit_actions(server, host["id"])]
    assert "host.ssh.session.failed" in actions
    assert "host.ssh.hostkey.deleted" in actions


async def add_user_live(srv: Server, email: str, password: str, role: str) -> None:
    from tests.conftest import LiveApp

    await add_user(
        LiveApp(app=srv.app, client=srv.http, settings=srv.runtime.settings), email, password, role
    )


async def test_wrong_key_and_wrong_password_say_authentication_failed(server: Server) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    host, _ = await ready_host(server, private_key=stranger)
    async with server.ws(host["id"], await server.ticket()) as ws:
        error = await until_error(ws)
        assert error["code"] == "ssh_auth_failed", error
        assert "refused the key" in error["message"]
        assert server.env.user in error["message"]

    pw_host = await make_host(server)
    bad_pw = await make_credential(
        server, auth_type="password", private_key=None, password="not-the-password"
    )
    await assign(server, pw_host["id"], bad_pw["id"])
    await trust(server, pw_host["id"])
    async with server.ws(pw_host["id"], await server.ticket()) as ws:
        error = await until_error(ws)
        assert error["code"] == "ssh_auth_failed", error
        assert "refused the password" in error["message"]

    good_pw = await make_credential(
        server, auth_type="password", private_key=None, password=server.env.password
    )
    await assign(server, pw_host["id"], good_pw["id"])
    async with server.ws(pw_host["id"], await server.ticket()) as ws:
        output = await run_commands(ws, "echo pass''word-ok\n", "password-ok")
        assert "password-ok" in output

    # Neither the password nor the key appears in any audit record.
    response = await server.call("GET", "/api/v1/audit", params={"limit": 200})
    dump = json.dumps(response.json())
    assert "not-the-password" not in dump
    assert server.env.password not in dump
    assert "PRIVATE KEY" not in dump


async def test_through_a_bastion_from_the_inventory(server: Server) -> None:
    jump, cred = await ready_host(server)
    behind = await make_host(server, bastion=jump["hostname"])
    await assign(server, behind["id"], cred["id"])
    await trust(server, behind["id"])
    status = (await server.call("GET", f"/api/v1/hosts/{behind['id']}/ssh")).json()
    assert status["bastion"] == {"host_id": jump["id"], "hostname": jump["hostname"]}
    assert status["problems"] == []
    async with server.ws(behind["id"], await server.ticket()) as ws:
        output = await run_commands(ws, "echo via-bas''tion\n", "via-bastion")
        assert "via-bastion" in output
    started = [
        r
        for r in await audit_actions(server, behind["id"])
        if r["action"] == "host.ssh.session.started"
    ]
    assert started
    assert started[0]["details"]["bastion"] == jump["hostname"]

    # The bastion really is used: with a key it does not accept, the hop fails by name.
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    bad = await make_credential(server, private_key=stranger)
    await assign(server, jump["id"], bad["id"])
    async with server.ws(behind["id"], await server.ticket()) as ws:
        error = await until_error(ws)
        assert error["code"] == "ssh_auth_failed", error
        assert jump["hostname"] in error["message"]
    await assign(server, jump["id"], cred["id"])

    unknown = await make_host(server, bastion="jump.nowhere.example:22")
    await assign(server, unknown["id"], cred["id"])
    response = await server.call("POST", f"/api/v1/hosts/{unknown['id']}/ssh-hostkey/scan")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ssh_bastion_invalid"
    assert "not a host of the inventory" in response.json()["error"]["message"]


async def test_foreign_origin_bad_ticket_and_viewer_are_refused(server: Server) -> None:
    host, _ = await ready_host(server)
    async with server.ws(host["id"], await server.ticket(), origin="http://evil.example") as ws:
        error = await recv(ws)
        assert error["code"] == "origin_not_allowed"
        assert await closed_with(ws) == (1008, "origin not allowed")
    async with server.ws(host["id"], await server.ticket(), origin=ALLOWED_ORIGIN) as ws:
        assert (await recv(ws))["type"] == "status"
    ticket = await server.ticket()
    async with server.ws(host["id"], ticket) as ws:
        assert (await recv(ws))["type"] == "status"
    async with server.ws(host["id"], ticket) as ws:  # single use
        assert (await recv(ws))["code"] == "invalid_ticket"
        assert (await closed_with(ws))[0] == 1008

    email = unique_email("viewer")
    await add_user_live(server, email, "viewer-password-123", "viewer")
    viewer = await server.login(email, "viewer-password-123")
    async with server.ws(host["id"], await server.ticket(viewer)) as ws:
        error = await recv(ws)
        assert error["code"] == "permission_denied"
        assert (await closed_with(ws))[0] == 1008
    response = await server.call(
        "POST", f"/api/v1/hosts/{host['id']}/ssh-hostkey/scan", headers=server.auth(viewer)
    )
    assert response.status_code == 403


async def test_idle_timeout_closes_the_terminal(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, _ = await ready_host(server)
    monkeypatch.setattr(server.runtime.settings, "ssh_idle_timeout_s", 2)
    async with server.ws(host["id"], await server.ticket()) as ws:
        assert (await recv(ws))["type"] == "status"
        connected = await recv(ws, 15)
        assert connected["type"] == "connected"
        assert connected["idle_timeout_s"] == 2
        error = await until_error_or_output(ws, timeout_s=10)
        assert error["code"] == "idle_timeout", error
        assert (await closed_with(ws))[0] == 1000
    ended = [
        r
        for r in await audit_actions(server, host["id"])
        if r["action"] == "host.ssh.session.ended"
    ]
    assert ended
    assert ended[0]["details"]["reason"] == "idle_timeout"
    assert 1.5 < ended[0]["details"]["duration_s"] < 10


async def until_error_or_output(ws: ClientConnection, timeout_s: float) -> dict[str, Any]:
    async def find() -> dict[str, Any]:
        while True:
            message = await recv(ws, timeout_s)
            if message["type"] == "error":
                return message
            assert message["type"] == "output", message

    return await asyncio.wait_for(find(), timeout_s)


def test_the_env_is_there() -> None:
    assert require_env("DOCKYARD_TEST_SSH_KEY")


async def test_signing_out_closes_an_open_terminal(server: Server) -> None:
    host, _ = await ready_host(server)
    token = await server.login()  # a login session of its own
    async with server.ws(host["id"], await server.ticket(token)) as ws:
        output = await run_commands(ws, "echo be''fore\n", "before")
        assert "before" in output
        response = await server.http.post("/api/v1/auth/logout", headers=server.auth(token))
        assert response.status_code == 204
        error = await until_error_or_output(ws, timeout_s=15)
        assert error["code"] == "session_ended", error
        assert (await closed_with(ws))[0] == 1008
    ended = [
        r
        for r in await audit_actions(server, host["id"])
        if r["action"] == "host.ssh.session.ended"
    ]
    assert ended[0]["details"]["reason"] == "session_ended"
