"""Fixtures of the auth security tests: a real HTTP server (uvicorn) for WebSockets and CLI."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import connect

from dockyard.app import create_app
from dockyard.runtime import Runtime
from tests.conftest import make_settings


@dataclass
class Server:
    app: FastAPI
    port: int
    http: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def ticket(self, token: str) -> str:
        response = await self.http.post(
            "/api/v1/realtime/ticket", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["ticket"])

    def connect(self, ticket: str) -> Any:
        return connect(
            f"ws://127.0.0.1:{self.port}/api/v1/ws?ticket={ticket}",
            proxy=None,
            open_timeout=5,
            close_timeout=2,
        )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    settings = make_settings(tmp_path / "data")
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
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
        yield Server(app=app, port=port, http=http)
    uv.should_exit = True
    await asyncio.wait_for(task, 15)
    sock.close()


# ---------------------------------------------------------------- an identity provider


@dataclass
class Provider:
    """Signing keys of a fake identity provider and its JWKS, served on loopback."""

    rsa_key: Any
    ec_key: Any
    jwks_url: str
    requests: list[str]

    @property
    def rsa_public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return bytes(
            self.rsa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


@pytest.fixture(scope="session")
def provider() -> Any:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key()))
    rsa_jwk.update(kid="rsa-1", use="sig", alg="RS256")
    ec_jwk.update(kid="ec-1", use="sig", alg="ES256")
    body = json.dumps({"keys": [rsa_jwk, ec_jwk]}).encode()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if self.path != "/.well-known/jwks.json":
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json"
    yield Provider(rsa_key=rsa_key, ec_key=ec_key, jwks_url=url, requests=requests)
    httpd.shutdown()
    httpd.server_close()
