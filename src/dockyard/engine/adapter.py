"""`DockerEngine`: one shared docker-py client per engine, every call in a worker thread.

docker-py is blocking; running it on the event loop would stall every request. Each
engine has its own small thread pool so a slow engine cannot starve other work.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import structlog
from docker.errors import APIError, DockerException, NotFound
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout

from dockyard.engine.addresses import resolve
from dockyard.engine.errors import (
    EngineNotFoundError,
    EngineRequestError,
    EngineUnavailableError,
    NodeOfflineError,
)
from dockyard.engine.schemas import EngineFacts
from dockyard.kit.clock import utcnow

log = structlog.get_logger(__name__)
T = TypeVar("T")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    # docker-py wraps the interesting part deep inside; keep messages short and human.
    if "No such file or directory" in text or "FileNotFoundError" in text:
        return "the Docker socket does not exist"
    if "Permission denied" in text:
        return "permission denied on the Docker socket"
    if "Connection refused" in text:
        return "the connection was refused"
    if isinstance(exc, ReadTimeout) or "timed out" in text.lower():
        return "the engine did not answer in time"
    return text[:300]


def _tunnel_error(exc: BaseException | None, base_url: str) -> EngineUnavailableError | None:
    """The agent hub's own answer (HTTP 503 with `X-Dockyard-Tunnel-Error`): the node is
    offline, or its agent cannot reach its engine. None for any other failure."""
    response = getattr(exc, "response", None)
    if not isinstance(exc, APIError) or response is None:
        return None
    kind = response.headers.get("X-Dockyard-Tunnel-Error")
    if not kind:
        return None
    message = str(exc.explanation or "The node's engine cannot be reached.")
    details = {"docker_host": base_url}
    if kind == "node_offline":
        return NodeOfflineError(message, details=details)
    return EngineUnavailableError(message, details=details)


class DockerEngine:
    """Async facade over one Docker engine."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0, max_workers: int = 8) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._client: docker.DockerClient | None = None
        self._client_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="docker-engine"
        )

    def _get_client(self) -> docker.DockerClient:
        with self._client_lock:
            if self._client is None:
                # version="auto" negotiates with the daemon, so old and new engines both work.
                self._client = docker.DockerClient(
                    base_url=resolve(self.base_url), version="auto", timeout=int(self.timeout_s)
                )
            return self._client

    def _reset_client(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def call(
        self,
        fn: Callable[[docker.DockerClient], T],
        *,
        executor: ThreadPoolExecutor | None = None,
    ) -> T:
        """Run `fn(client)` in the engine's thread pool (or `executor`), translating failures."""
        loop = asyncio.get_running_loop()

        def run() -> T:
            try:
                return fn(self._get_client())
            except NotFound as exc:
                raise EngineNotFoundError(
                    str(exc.explanation or "The object does not exist on the engine.")
                ) from exc
            except APIError as exc:
                if (tunnel := _tunnel_error(exc, self.base_url)) is not None:
                    raise tunnel from exc
                # The engine refusing the request's own values (400) or the object's state
                # (409) is the caller's problem, not a bad gateway.
                status = {400: 422, 409: 409}.get(exc.status_code or 0)
                raise EngineRequestError(
                    f"The Docker engine refused the request: {exc.explanation or exc}",
                    details={"status": exc.status_code},
                    status_code=status,
                ) from exc
            except (DockerException, RequestsConnectionError, ReadTimeout, OSError) as exc:
                self._reset_client()
                if (tunnel := _tunnel_error(exc.__cause__, self.base_url)) is not None:
                    raise tunnel from exc
                raise EngineUnavailableError(
                    f"Cannot reach the Docker engine at {self.base_url}: {_describe(exc)}.",
                    details={"docker_host": self.base_url},
                ) from exc

        return await loop.run_in_executor(executor or self._executor, run)

    async def ping(self) -> None:
        """Raise `EngineUnavailableError` unless the engine answers `/_ping`."""
        await self.call(lambda c: c.ping())

    async def info(self) -> dict[str, Any]:
        """`GET /info`."""
        return await self.call(lambda c: c.info())

    async def version(self) -> dict[str, Any]:
        """`GET /version`."""
        return await self.call(lambda c: c.version())

    async def facts(self) -> EngineFacts:
        """Engine facts for the UI; an unreachable engine yields `reachable=False` and why."""
        try:
            info = await self.info()
            ver = await self.version()
        except (EngineUnavailableError, EngineRequestError) as exc:
            return EngineFacts(reachable=False, error=exc.message, checked_at=utcnow())
        return EngineFacts(
            reachable=True,
            name=info.get("Name"),
            server_version=ver.get("Version") or info.get("ServerVersion"),
            api_version=ver.get("ApiVersion"),
            os=info.get("OperatingSystem"),
            os_type=info.get("OSType"),
            kernel_version=info.get("KernelVersion"),
            architecture=info.get("Architecture"),
            cpus=info.get("NCPU"),
            memory_bytes=info.get("MemTotal"),
            containers=info.get("Containers"),
            containers_running=info.get("ContainersRunning"),
            containers_paused=info.get("ContainersPaused"),
            containers_stopped=info.get("ContainersStopped"),
            images=info.get("Images"),
            docker_root_dir=info.get("DockerRootDir"),
            storage_driver=info.get("Driver"),
            checked_at=utcnow(),
        )

    async def list_containers(
        self, *, all: bool = True, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """`GET /containers/json` (never `size=true`: it walks every layer on disk)."""
        return await self.call(lambda c: c.api.containers(all=all, size=False, filters=filters))

    async def inspect_container(self, container: str) -> dict[str, Any]:
        return await self.call(lambda c: c.api.inspect_container(container))

    async def create_container(self, **kwargs: Any) -> str:
        """`POST /containers/create` with docker-py low-level arguments; returns the id."""
        result = await self.call(lambda c: c.api.create_container(**kwargs))
        return str(result["Id"])

    async def create_container_from_config(
        self, config: dict[str, Any], name: str, platform: str | None = None
    ) -> str:
        """`POST /containers/create` with an Engine API body; returns the id."""
        result = await self.call(
            lambda c: c.api.create_container_from_config(  # type: ignore[no-untyped-call]
                config, name, platform
            )
        )
        return str(result["Id"])

    async def start_container(self, container: str) -> None:
        await self.call(lambda c: c.api.start(container))

    async def stop_container(self, container: str, *, grace_s: int = 10) -> None:
        """Stop with a grace period (docker-py extends its HTTP timeout by the grace)."""
        await self.call(lambda c: c.api.stop(container, timeout=grace_s))

    async def restart_container(self, container: str, *, grace_s: int = 10) -> None:
        await self.call(lambda c: c.api.restart(container, timeout=grace_s))

    async def remove_container(
        self, container: str, *, force: bool = False, volumes: bool = False
    ) -> None:
        await self.call(lambda c: c.api.remove_container(container, force=force, v=volumes))

    async def rename_container(self, container: str, name: str) -> None:
        await self.call(lambda c: c.api.rename(container, name))

    async def connect_network(
        self, network: str, container: str, *, aliases: list[str] | None = None, **kw: Any
    ) -> None:
        await self.call(
            lambda c: c.api.connect_container_to_network(container, network, aliases=aliases, **kw)
        )

    async def inspect_network(self, name: str) -> dict[str, Any] | None:
        """The network, or None when it does not exist."""
        try:
            return await self.call(lambda c: c.api.inspect_network(name))
        except EngineNotFoundError:
            return None

    async def create_network(self, name: str, **kwargs: Any) -> str:
        result = await self.call(lambda c: c.api.create_network(name, **kwargs))
        return str(result["Id"])

    async def remove_network(self, name: str) -> None:
        await self.call(lambda c: c.api.remove_network(name))

    async def inspect_volume(self, name: str) -> dict[str, Any] | None:
        """The volume, or None when it does not exist."""
        try:
            return await self.call(lambda c: c.api.inspect_volume(name))
        except EngineNotFoundError:
            return None

    async def create_volume(self, name: str, **kwargs: Any) -> None:
        await self.call(lambda c: c.api.create_volume(name, **kwargs))

    async def remove_volume(self, name: str) -> None:
        await self.call(lambda c: c.api.remove_volume(name))

    async def inspect_image(self, reference: str) -> dict[str, Any] | None:
        """The local image, or None when it is not present."""
        try:
            return await self.call(
                lambda c: c.api.inspect_image(reference)  # type: ignore[no-untyped-call]
            )
        except EngineNotFoundError:
            return None

    async def pull_image(
        self,
        reference: str,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        *,
        auth_config: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Pull `reference` (tag defaults to `latest`), reporting each progress message.

        `on_progress` is called on the event loop, never from the worker thread.
        `auth_config` (`username`, `password`, `serveraddress`) authenticates to the
        registry (see `registries.service.auth_config_for`).
        """
        loop = asyncio.get_running_loop()
        repository, tag = split_reference(reference)

        def pull(client: docker.DockerClient) -> dict[str, Any]:
            last: dict[str, Any] = {}
            for message in client.api.pull(
                repository, tag=tag, stream=True, decode=True, auth_config=auth_config
            ):
                if "error" in message:
                    raise EngineRequestError(
                        f"Pulling {reference} failed: {message['error']}",
                        details={"image": reference},
                    )
                last = message
                if on_progress is not None:
                    loop.call_soon_threadsafe(on_progress, message)
            return last

        return await self.call(pull)

    async def close(self) -> None:
        """Close the client and stop the thread pool."""
        self._reset_client()
        self._executor.shutdown(wait=False, cancel_futures=True)
        stats_pool: ThreadPoolExecutor | None = self.__dict__.pop("_stats_executor", None)
        if stats_pool is not None:
            stats_pool.shutdown(wait=False, cancel_futures=True)

    # ---- images, volumes, networks, cleanup (images package) ------------------------------

    async def list_images(
        self, *, all: bool = False, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """`GET /images/json` (top-level images; `all` adds intermediate layers)."""
        return await self.call(lambda c: list(c.api.images(all=all, filters=filters)))

    async def remove_image(self, image: str, *, force: bool = False) -> list[dict[str, Any]]:
        """`DELETE /images/{image}`; the engine's list of untagged and deleted entries."""
        result = await self.call(lambda c: c.api.remove_image(image, force=force))
        return list(result or [])

    async def list_volumes(self, *, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """`GET /volumes` (no sizes: those come from `system_df`)."""
        result = await self.call(lambda c: c.api.volumes(filters=filters))
        return list((result or {}).get("Volumes") or [])

    async def list_networks(self, *, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """`GET /networks`."""
        return await self.call(lambda c: list(c.api.networks(filters=filters)))

    async def system_df(self) -> dict[str, Any]:
        """`GET /system/df`: sizes of images, containers, volumes, build cache (slow)."""
        return await self.call(lambda c: c.api.df())

    async def prune_build_cache(self, *, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        """`POST /build/prune` (e.g. `filters={"id": [...]}` removes those records only)."""
        result = await self.call(
            lambda c: c.api.prune_builds(filters=filters)  # type: ignore[arg-type]
        )
        return dict(result or {})

    # ---- container terminal and file browser (containers package) -------------------------

    async def dedicated_api_client(self) -> docker.APIClient:
        """A low-level client of its own, pinned to the negotiated API version.

        For hijacked exec sockets and streamed archives, which hold their connection for
        as long as they run (a pooled connection must not be held by them). The caller
        closes it; it is used from one worker thread at a time.
        """
        version = await self.call(lambda c: str(c.api.api_version))
        return docker.APIClient(
            base_url=resolve(self.base_url), version=version, timeout=int(self.timeout_s)
        )

    async def exec_run(
        self, container: str, cmd: list[str], *, max_output: int = 4096
    ) -> tuple[int, str]:
        """Run `cmd` (no shell) in a running container; (exit code, first output bytes)."""

        def run(client: docker.DockerClient) -> tuple[int, str]:
            exec_id = client.api.exec_create(container, cmd, stdout=True, stderr=True)["Id"]
            output = client.api.exec_start(exec_id, tty=False)
            code = client.api.exec_inspect(exec_id).get("ExitCode")
            text = bytes(output or b"")[:max_output].decode("utf-8", "replace")
            return (code if isinstance(code, int) else -1), text

        return await self.call(run)

    # ---- metrics (metrics package) ---------------------------------------------------------

    async def stats_one_shot(self, container: str, *, pool_size: int = 16) -> dict[str, Any]:
        """`GET /containers/{id}/stats?stream=false&one-shot=true`: one reading, at once.

        No `precpu_stats` (the caller keeps the previous reading for CPU deltas). Runs in a
        pool of its own (at least `pool_size` threads) so a sweep of many containers neither
        waits for nor starves the engine's other calls.
        """
        pool: ThreadPoolExecutor | None = self.__dict__.get("_stats_executor")
        if pool is None or pool._max_workers < pool_size:
            old, pool = (
                pool,
                ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="docker-stats"),
            )
            self.__dict__["_stats_executor"] = pool
            if old is not None:
                old.shutdown(wait=False)
        return await self.call(
            lambda c: dict(c.api.stats(container, decode=None, stream=False, one_shot=True)),
            executor=pool,
        )


class EngineRegistry:
    """One `DockerEngine` per node id, created on first use and shared."""

    def __init__(self, *, timeout_s: float) -> None:
        self._engines: dict[int, DockerEngine] = {}
        self._timeout_s = timeout_s

    def get(self, node_id: int, docker_host: str) -> DockerEngine:
        engine = self._engines.get(node_id)
        if engine is None or engine.base_url != docker_host:
            engine = DockerEngine(docker_host, timeout_s=self._timeout_s)
            self._engines[node_id] = engine
        return engine

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.close()
        self._engines.clear()


def split_reference(reference: str) -> tuple[str, str | None]:
    """`repo[:tag][@digest]` → (repository, tag or digest) the way `docker pull` reads it."""
    if "@" in reference:
        repository, digest = reference.split("@", 1)
        return repository, digest
    last_slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > last_slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, "latest"
