"""Test containers on the real engine, and a cuttable proxy in front of its socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import docker
import pytest

TEST_LABELS = {"io.dockyard.test": "1"}


class Containers:
    """Creates labelled containers and force-removes them (and only them) at the end."""

    def __init__(self, client: docker.APIClient, image: str) -> None:
        self.client = client
        self.image = image
        self.created: list[str] = []

    def run(
        self,
        command: list[str],
        *,
        labels: dict[str, str] | None = None,
        start: bool = True,
        **host_config: Any,
    ) -> str:
        """Create (and start) a container; returns its full id."""
        healthcheck = host_config.pop("healthcheck", None)
        tty = bool(host_config.pop("tty", False))
        container = self.client.create_container(
            self.image,
            command,
            name=f"dockyard-test-{secrets.token_hex(4)}",
            labels={**TEST_LABELS, **(labels or {})},
            healthcheck=healthcheck,
            tty=tty,
            host_config=self.client.create_host_config(**host_config),
        )
        cid: str = container["Id"]
        self.created.append(cid)
        if start:
            self.client.start(cid)
        return cid

    def remove_all(self) -> None:
        for cid in self.created:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.remove_container(cid, force=True)
        self.created.clear()


@contextmanager
def containers(docker_host: str, image: str) -> Iterator[Containers]:
    client = docker.APIClient(base_url=docker_host, version="auto", timeout=60)
    made = Containers(client, image)
    try:
        yield made
    finally:
        made.remove_all()
        client.close()


def unix_path(docker_host: str) -> str:
    if not docker_host.startswith("unix://"):
        pytest.fail(f"these tests need a unix-socket engine, got {docker_host}", pytrace=False)
    return docker_host.removeprefix("unix://")


class SocketProxy:
    """A unix-socket proxy to the engine whose connections the test can cut at will.

    Cutting it looks to a client exactly like the engine restarting: open streams end and
    new connections are refused until `resume()`.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.folder = Path(tempfile.mkdtemp(prefix="dy-proxy-", dir="/tmp"))
        self.path = str(self.folder / "docker.sock")
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    async def resume(self) -> None:
        self._server = await asyncio.start_unix_server(self._handle, path=self.path)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)


@asynccontextmanager
async def socket_proxy(docker_host: str) -> AsyncIterator[SocketProxy]:
    proxy = SocketProxy(unix_path(docker_host))
    await proxy.resume()
    try:
        yield proxy
    finally:
        await proxy.cut()
        with contextlib.suppress(OSError):
            proxy.folder.rmdir()
