"""An interactive exec session: a TTY process in a container over a hijacked connection.

Like the log streams (engine/streams.py), the session has a dedicated `APIClient` and a
reader thread; the engine's output crosses to the event loop through a queue with at most
`max_pending` undelivered blocks (the thread waits for the consumer: backpressure).
Input is written from a worker thread; a container that does not read its input blocks
that write, and with it the reading of the browser's socket.

Closing the session shuts the connection down: the engine closes the process's TTY, so
the shell gets EOF/HUP. Nothing else in the container is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any

import docker
import requests
import structlog

from dockyard.engine.adapter import DockerEngine
from dockyard.engine.errors import EngineNotFoundError, EngineRequestError

log = structlog.get_logger(__name__)

READ_SIZE = 64 * 1024
MAX_PENDING = 32
SHELLS = ("sh", "bash")
# bash when the container has it, else sh with a message (one exec, no probe round trip).
_BASH = (
    "if command -v bash >/dev/null 2>&1; then exec bash; fi; "
    "echo 'bash is not installed in this container: using sh.'; exec sh"
)


def shell_command(shell: str) -> list[str]:
    if shell == "bash":
        return ["sh", "-c", _BASH]
    return ["sh"]


class ExecSession:
    """One running exec with TTY; `read()` yields output blocks, `write()` sends input."""

    def __init__(
        self,
        client: docker.APIClient,
        exec_id: str,
        response: requests.Response,
        *,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.client = client
        self.exec_id = exec_id
        self._response = response
        # The buffered reader may already hold the first output bytes: read through it.
        fp: Any = response.raw._fp.fp  # type: ignore[union-attr]
        self._reader = fp
        raw: Any = fp.raw
        self._sock: socket.socket = getattr(raw, "_sock", raw)
        # The client's request timeout would end a quiet shell: reads wait for output as
        # long as the session lasts (closing shuts the socket down, which wakes them).
        self._sock.settimeout(None)
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._slots = threading.Semaphore(max_pending)
        self._stop = threading.Event()
        self._write_lock = asyncio.Lock()
        self._thread = threading.Thread(
            target=self._run, name=f"docker-exec-{exec_id[:12]}", daemon=True
        )
        self._thread.start()

    @classmethod
    async def open(
        cls, engine: DockerEngine, container: str, cmd: list[str], *, cols: int, rows: int
    ) -> ExecSession:
        client = await engine.dedicated_api_client()

        api: Any = client  # docker-py's private request helpers, as `exec_start` uses them

        def start() -> tuple[str, requests.Response]:
            created = client.exec_create(
                container,
                cmd,
                stdin=True,
                tty=True,
                stdout=True,
                stderr=True,
                environment={"TERM": "xterm-256color"},
            )
            exec_id = str(created["Id"])
            response = api._post_json(
                api._url("/exec/{0}/start", exec_id),
                headers={"Connection": "Upgrade", "Upgrade": "tcp"},
                data={"Tty": True, "Detach": False},
                stream=True,
            )
            api._raise_for_status(response)
            with contextlib.suppress(Exception):
                client.exec_resize(exec_id, height=rows, width=cols)
            return exec_id, response

        try:
            exec_id, response = await asyncio.to_thread(start)
        except docker.errors.NotFound as exc:
            client.close()
            raise EngineNotFoundError(str(exc.explanation or "No such container.")) from exc
        except docker.errors.APIError as exc:
            client.close()
            raise EngineRequestError(
                f"The Docker engine refused the exec: {exc.explanation or exc}",
                status_code=409 if exc.status_code == 409 else None,
            ) from exc
        except BaseException:
            client.close()
            raise
        return cls(client, exec_id, response)

    # -- thread side

    def _post(self, item: bytes | None) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._reader.read1(READ_SIZE)
                if not data:
                    break
                while not self._slots.acquire(timeout=0.1):
                    if self._stop.is_set():
                        return
                self._post(bytes(data))
        except (OSError, ValueError):
            pass  # the socket was shut down: a normal end
        finally:
            self._post(None)

    # -- loop side

    async def read(self) -> bytes | None:
        """The next output block, or None at the end."""
        item = await self._queue.get()
        if item is not None:
            self._slots.release()
        return item

    async def write(self, data: bytes) -> None:
        if not data:
            return
        async with self._write_lock:
            await asyncio.to_thread(self._sock.sendall, data)

    async def resize(self, cols: int, rows: int) -> None:
        await asyncio.to_thread(self.client.exec_resize, self.exec_id, height=rows, width=cols)

    async def exit_code(self) -> int | None:
        def inspect() -> Any:
            return self.client.exec_inspect(self.exec_id)

        try:
            info = await asyncio.to_thread(inspect)
        except Exception:
            return None
        if info.get("Running"):
            return None
        code = info.get("ExitCode")
        return code if isinstance(code, int) else None

    async def close(self) -> None:
        """Shut the connection down (the process gets EOF/HUP) and stop the thread."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._response.close()
        await asyncio.to_thread(self._thread.join, 2.0)
        with contextlib.suppress(Exception):
            self.client.close()
