"""Scale-out fixtures: real replica sets (bench/replicas.py) on PostgreSQL + Redis, nginx.

Each test module starts its own set (several `dockyard serve` processes, a fresh database);
helpers here are shared by the modules of this folder.
"""

from __future__ import annotations

import json
import shutil
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import require_env


@pytest.fixture(scope="module")
def scaleout_env() -> None:
    """Fail (never skip) when the test environment lacks what a replica set needs."""
    require_env("DOCKYARD_TEST_POSTGRES_URL")
    require_env("DOCKYARD_TEST_REDIS_URL")
    require_env("DOCKYARD_TEST_DOCKER_HOST")


@pytest.fixture(scope="module")
def nginx_installed() -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: run `bash scripts/test-env.sh up`", pytrace=False)


def tls_context(cert: Path) -> ssl.SSLContext:
    """Trusts exactly the set's self-signed proxy certificate."""
    return ssl.create_default_context(cafile=str(cert))


async def open_browser_socket(
    base_url: str,
    token: str,
    *,
    ticket_base_url: str | None = None,
    cert: Path | None = None,
    local_ip: str | None = None,
    open_timeout: float = 30,
) -> ClientConnection:
    """The browser's live-events socket as the SPA opens it: a ticket (`POST
    /api/v1/realtime/ticket`, through `ticket_base_url`, default `base_url`), then
    `/api/v1/ws?ticket=` with the page's Origin; returns it after the `hello` frame."""
    context = tls_context(cert) if cert else None
    transport_args: dict[str, Any] = {"verify": context or True}
    if local_ip:
        transport_args["local_address"] = local_ip
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(**transport_args), timeout=30
    ) as client:
        response = await client.post(
            f"{ticket_base_url or base_url}/api/v1/realtime/ticket",
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        ticket = response.json()["ticket"]
    ws_url = base_url.replace("https://", "wss://").replace("http://", "ws://")
    extra: dict[str, Any] = {}
    if context is not None:
        extra["ssl"] = context
    if local_ip:
        extra["local_addr"] = (local_ip, 0)
    ws = await connect(
        f"{ws_url}/api/v1/ws?ticket={ticket}",
        origin=base_url,  # type: ignore[arg-type]
        open_timeout=open_timeout,
        max_size=2**22,
        **extra,
    )
    hello = json.loads(await ws.recv())
    if hello.get("type") != "hello":
        await ws.close()
        raise AssertionError(f"expected hello, got {hello}")
    return ws
