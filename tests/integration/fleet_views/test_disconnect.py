"""Log search over real HTTP (uvicorn): matches arrive before the search ends, and a client
that goes away stops the search, even one that finds nothing (no write would notice)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from dockyard.app import create_app
from dockyard.engine.streams import LogLine
from dockyard.fleet import service as fleet
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, make_settings
from tests.integration.state.docker_helpers import Containers, containers


class SlowStream:
    """Stands in for one container's engine log stream: endless, slow batches."""

    def __init__(self, text: str, every_s: float) -> None:
        self.text = text
        self.every_s = every_s
        self.closed = asyncio.Event()
        self.batches = 0

    async def __aenter__(self) -> SlowStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed.set()

    def __aiter__(self) -> SlowStream:
        return self

    async def __anext__(self) -> list[LogLine]:
        await asyncio.sleep(self.every_s)
        self.batches += 1
        return [LogLine("stdout", None, self.text)]


@pytest.fixture(scope="module")
def box(docker_host: str, test_image: str) -> Iterator[str]:
    made: Containers
    with containers(docker_host, test_image) as made:
        yield made.run(["sleep", "3600"])


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    app = create_app(make_settings(tmp_path / "data"), configure_logs=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    for _ in range(500):
        if uv.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not uv.started:
        pytest.fail("the test server did not start", pytrace=False)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30
    ) as http:
        login = await http.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        yield http, {"Authorization": f"Bearer {login.json()['access_token']}"}
    uv.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()


def _fake_streams(monkeypatch: pytest.MonkeyPatch, box: str, text: str) -> list[SlowStream]:
    """Every log stream the search opens is a `SlowStream`; the list gets the box's."""
    opened: list[SlowStream] = []

    async def fake_open(base_url: str, container_id: str, **kw: Any) -> SlowStream:
        stream = SlowStream(text, 0.05)
        if container_id == box:
            opened.append(stream)
            box_opened.set()
        return stream

    box_opened = asyncio.Event()
    monkeypatch.setattr(SlowStream, "box_opened", box_opened, raising=False)

    monkeypatch.setattr(fleet.streams, "open_log_stream", fake_open)
    return opened


async def test_results_stream_and_a_gone_client_stops_a_matching_search(
    server: tuple[httpx.AsyncClient, dict[str, str]], box: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, headers = server
    opened = _fake_streams(monkeypatch, box, "needle here")
    params = {"q": "needle", "container": box[:12], "limit": 10_000}
    async with http.stream("GET", "/api/v1/logs/search", params=params, headers=headers) as resp:
        assert resp.status_code == 200
        started = time.monotonic()
        lines = resp.aiter_lines()
        first = json.loads(await anext(lines))
        # The first match arrives long before the (endless) search could end.
        assert first["type"] == "match"
        assert first["container_id"] == box
        assert time.monotonic() - started < 5
    assert opened, "the container was not searched"
    await asyncio.wait_for(opened[0].closed.wait(), 5)
    read = opened[0].batches
    await asyncio.sleep(0.3)
    assert opened[0].batches == read  # nothing is read any more


async def test_a_gone_client_stops_a_search_that_finds_nothing(
    server: tuple[httpx.AsyncClient, dict[str, str]], box: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, headers = server
    opened = _fake_streams(monkeypatch, box, "nothing to see")
    params = {"q": "needle", "container": box[:12]}
    request = http.build_request("GET", "/api/v1/logs/search", params=params, headers=headers)
    response = await http.send(request, stream=True)
    assert response.status_code == 200
    await asyncio.wait_for(SlowStream.box_opened.wait(), 5)  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)
    assert not opened[0].closed.is_set()  # still searching while the client listens
    await response.aclose()  # the client goes away without a byte having been sent
    await asyncio.wait_for(opened[0].closed.wait(), 5)
