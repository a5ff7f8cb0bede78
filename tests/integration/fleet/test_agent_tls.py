"""With TLS, the enrollment token carries the certificate's fingerprint and the agent pins it."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from dockyard.kit.tls import ensure_self_signed
from dockyard.nodes.credentials import certificate_fingerprint
from tests.integration.fleet.conftest import AgentProcess, _short_dir, new_agent, serve_fleet


async def test_tls_token_pins_the_certificate(agents: list[AgentProcess], node2_host: str) -> None:
    data_dir = _short_dir("dyt-")
    try:
        cert, key = ensure_self_signed(data_dir)
        fingerprint = certificate_fingerprint(cert)
        async with serve_fleet(data_dir, tls=(cert, key)) as server:
            node = await server.create_node("tls-node")
            assert node["enrollment_token"].endswith("." + fingerprint)
            assert f"--server {server.url}" in node["agent_command"]

            agent = new_agent(server, node2_host, agents)
            agent.start(node["enrollment_token"])
            await server.wait_online(node["id"], timeout_s=30)
            # The tunnel works over the pinned TLS connection.
            deadline = asyncio.get_running_loop().time() + 10
            while not (engine := (await server.node(node["id"]))["engine"])["reachable"]:
                assert asyncio.get_running_loop().time() < deadline, engine
                await asyncio.sleep(0.2)

            # A token pinning another certificate is refused by the agent itself.
            agent.kill()
            other = await server.create_node("tls-other")
            forged = other["enrollment_token"].rsplit(".", 1)[0] + "." + "0" * 64
            bad = new_agent(server, node2_host, agents)
            bad.start(forged)
            assert bad.proc is not None
            code = await asyncio.to_thread(bad.proc.wait, 30)
            assert code != 0, bad.log()
            assert not server.runtime.agents.is_online(other["id"])
            # Its token was never presented: it still enrolls with the right pin.
            assert (await server.node(other["id"]))["enrollment_expires_at"] is not None
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_dockyard_serve_tls_tokens_carry_the_served_certificate() -> None:
    """`dockyard serve --tls-self-signed`: the CLI's certificate reaches the app."""
    import os
    import socket
    import subprocess
    import time

    import httpx

    from tests.conftest import (
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        TEST_SECRET_KEY,
        clean_environ,
        dockyard_executable,
    )

    data_dir = _short_dir("dys-")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = clean_environ(
        DOCKYARD_DATA_DIR=str(data_dir),
        DOCKYARD_SECRET_KEY=TEST_SECRET_KEY,
        DOCKYARD_ADMIN_EMAIL=ADMIN_EMAIL,
        DOCKYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        DOCKYARD_DOCKER_HOST=os.environ.get(
            "DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"
        ),
    )
    log_path = data_dir.parent / f"{data_dir.name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [dockyard_executable(), "serve", "--port", str(port), "--tls-self-signed"],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        url = f"https://127.0.0.1:{port}"
        cert = data_dir / "tls" / "cert.pem"
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = cert.exists() and httpx.get(
                    f"{url}/healthz", timeout=2, verify=ssl_context(cert)
                )
                if ready and ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.2)
        with httpx.Client(base_url=url, verify=ssl_context(cert), timeout=30) as http:
            login = http.post(
                "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            node = http.post("/api/v1/nodes", json={"name": "via-cli"}, headers=headers)
            assert node.status_code == 201, node.text
            assert node.json()["enrollment_token"].endswith("." + certificate_fingerprint(cert))
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)
        log_path.unlink(missing_ok=True)


def ssl_context(cert: Any) -> Any:
    import ssl

    return ssl.create_default_context(cafile=str(cert))
