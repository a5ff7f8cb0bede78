"""Blocking Docker streams (events, logs) bridged to asyncio.

docker-py reads a stream by blocking on a socket, so every stream gets its own thread and
its own `APIClient`: a client shared with request/response calls would have a pooled
connection held forever by a stream that never ends. Items cross to the event loop with
`call_soon_threadsafe`, and at most `max_pending` undelivered items exist at once (the
thread waits for the consumer), so memory stays flat when the consumer is slower than
Docker. Closing a stream shuts its socket down, which unblocks the thread at once.

A one-off log fetch (`fetch_logs`) needs no bridge: one worker thread reads the whole
answer in big blocks and hands the lines over at once, with a pooled client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Generic, Literal, NamedTuple, Self, TypeVar
from urllib.parse import quote

import docker
import requests
import structlog
from docker.types import CancellableStream

from dockyard.engine.adapter import _describe
from dockyard.engine.addresses import resolve
from dockyard.engine.errors import (
    EngineNotFoundError,
    EngineRequestError,
    EngineUnavailableError,
    NodeOfflineError,
)
from dockyard.kit.errors import DockyardError

log = structlog.get_logger(__name__)
T = TypeVar("T")

LogStreamName = Literal["stdout", "stderr"]
Tail = int | Literal["all"]
Since = datetime | int | float | str

DEFAULT_CONNECT_TIMEOUT_S = 10.0
READ_SIZE = 64 * 1024
MAX_LINE_BYTES = 64 * 1024
# A one-off fetch's wait for each socket read (the engine answers a finished log at once).
FETCH_READ_TIMEOUT_S = 60.0
# Idle clients kept per engine for one-off fetches.
MAX_IDLE_CLIENTS = 4
# How long `aclose()` waits for the thread to finish before leaving it to die alone.
CLOSE_WAIT_S = 2.0
# Capacity waits wake this often to notice a close request.
_POLL_S = 0.1


class LogLine(NamedTuple):
    """One log line: its stream, the engine's timestamp (when asked for) and the text."""

    stream: LogStreamName
    ts: str | None
    message: str


# ---------------------------------------------------------------- log demultiplexing


def _split_timestamp(line: bytes) -> tuple[str | None, bytes]:
    """`2024-05-01T12:00:00.123456789Z text` -> (timestamp, text)."""
    head, sep, rest = line.partition(b" ")
    # An RFC 3339 timestamp starts with a digit and has a `T`; anything else is text.
    if sep and head[:1].isdigit() and b"T" in head and len(head) <= 40:
        return head.decode("ascii", "replace"), rest
    if not sep and head[:1].isdigit() and b"T" in head and len(head) <= 40:
        return head.decode("ascii", "replace"), b""
    return None, line


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


class LogDemuxer:
    """Turn raw `/containers/{id}/logs` bytes into `LogLine`s.

    Non-TTY containers send frames: an 8-byte header (stream type, 3 zero bytes, big-endian
    length) and the payload; the engine writes one frame per log message, each with its own
    timestamp prefix. TTY containers send one raw stream (reported as stdout). Lines longer
    than `max_line_bytes` are cut, so one endless line cannot grow memory without bound.
    """

    def __init__(
        self, *, tty: bool, timestamps: bool, max_line_bytes: int = MAX_LINE_BYTES
    ) -> None:
        self.tty = tty
        self.timestamps = timestamps
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        # Per stream: the unfinished line and the timestamp of its first fragment.
        self._partial: dict[LogStreamName, tuple[str | None, bytearray]] = {}

    def feed(self, data: bytes) -> list[LogLine]:
        """Consume bytes; return the lines they complete."""
        out: list[LogLine] = []
        if self.tty:
            self._buffer += data
            self._drain_raw(out)
            return out
        buffer = self._buffer
        buffer += data
        # Walk the frames by offset and drop the consumed bytes once: a 64 KiB block holds
        # hundreds of frames, one delete each would copy the rest of the block every time.
        pos, size = 0, len(buffer)
        while size - pos >= 8:
            end = pos + 8 + int.from_bytes(buffer[pos + 4 : pos + 8], "big")
            if end > size:
                break
            # 0 stdin (echoed by attach) and 1 stdout read as stdout; 2 stderr, 3 engine error.
            stream: LogStreamName = "stderr" if buffer[pos] in (2, 3) else "stdout"
            payload = bytes(buffer[pos + 8 : end])
            pos = end
            self._frame(stream, payload, out)
        del buffer[:pos]
        return out

    def flush(self) -> list[LogLine]:
        """Lines still buffered at the end of the stream (a last line without newline)."""
        out: list[LogLine] = []
        if self.tty and self._buffer:
            self._raw_line(bytes(self._buffer), out)
            self._buffer.clear()
        for stream, (ts, partial) in list(self._partial.items()):
            if partial or ts is not None:
                out.append(LogLine(stream, ts, _text(bytes(partial)).rstrip("\r")))
        self._partial.clear()
        self._buffer.clear()
        return out

    def _frame(self, stream: LogStreamName, payload: bytes, out: list[LogLine]) -> None:
        ts: str | None = None
        if self.timestamps:
            ts, payload = _split_timestamp(payload)
        pending = self._partial.get(stream)
        if pending is None and payload.find(b"\n") == len(payload) - 1 >= 0:
            # The usual frame: one whole line.
            out.append(LogLine(stream, ts, _text(payload[:-1]).rstrip("\r")))
            return
        if pending is not None:
            ts = pending[0] if pending[0] is not None else ts
            buf = pending[1]
        else:
            buf = bytearray()
        buf += payload
        while True:
            cut = buf.find(b"\n")
            if cut < 0:
                break
            out.append(LogLine(stream, ts, _text(bytes(buf[:cut])).rstrip("\r")))
            del buf[: cut + 1]
        if len(buf) > self.max_line_bytes:
            out.append(LogLine(stream, ts, _text(bytes(buf))))
            buf.clear()
        if buf:
            self._partial[stream] = (ts, buf)
        else:
            self._partial.pop(stream, None)

    def _drain_raw(self, out: list[LogLine]) -> None:
        while True:
            cut = self._buffer.find(b"\n")
            if cut < 0:
                break
            self._raw_line(bytes(self._buffer[:cut]), out)
            del self._buffer[: cut + 1]
        if len(self._buffer) > self.max_line_bytes:
            self._raw_line(bytes(self._buffer), out)
            self._buffer.clear()

    def _raw_line(self, line: bytes, out: list[LogLine]) -> None:
        ts: str | None = None
        if self.timestamps:
            ts, line = _split_timestamp(line)
        out.append(LogLine("stdout", ts, _text(line).rstrip("\r")))


# ---------------------------------------------------------------- the thread bridge


def _shutdown(response: requests.Response) -> None:
    """Shut the response's socket down from any thread; a blocked read then returns."""
    with contextlib.suppress(Exception):
        CancellableStream(iter(()), response).close()


def _parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _translate(exc: BaseException, base_url: str) -> DockyardError:
    if isinstance(exc, DockyardError):
        return exc
    return EngineUnavailableError(
        f"Cannot reach the Docker engine at {base_url}: {_describe(exc)}.",
        details={"docker_host": base_url},
    )


def _raise_for_status(response: requests.Response, what: str) -> None:
    if response.status_code < 400:
        return
    try:
        message = str(response.json().get("message") or response.reason)
    except ValueError:
        message = response.text[:300] or str(response.reason)
    finally:
        response.close()
    if response.status_code == 404:
        raise EngineNotFoundError(message or f"{what} does not exist.")
    tunnel = response.headers.get("X-Dockyard-Tunnel-Error")  # the agent hub's own answer
    if tunnel == "node_offline":
        raise NodeOfflineError(message)
    if tunnel:
        raise EngineUnavailableError(message)
    raise EngineRequestError(
        f"The Docker engine refused the request: {message}",
        details={"status": response.status_code},
    )


class _ClientPool:
    """`APIClient`s per engine URL, each used by one thread at a time.

    The first client negotiates the API version (`/version`); later ones are pinned to it,
    so a request costs no extra round trip. Idle clients keep their connection for reuse.
    """

    def __init__(self, max_idle: int = MAX_IDLE_CLIENTS) -> None:
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: dict[str, list[docker.APIClient]] = {}
        self._versions: dict[str, str] = {}

    def new(self, base_url: str, timeout_s: float) -> docker.APIClient:
        """A fresh client of its own (streams hold theirs for as long as they run)."""
        with self._lock:
            version = self._versions.get(base_url, "auto")
        client = docker.APIClient(
            base_url=resolve(base_url), version=version, timeout=math.ceil(timeout_s)
        )
        with self._lock:
            self._versions.setdefault(base_url, client.api_version)
        return client

    def acquire(self, base_url: str, timeout_s: float) -> docker.APIClient:
        """An idle client for `base_url`, or a new one."""
        with self._lock:
            idle = self._idle.get(base_url)
            if idle:
                return idle.pop()
        return self.new(base_url, timeout_s)

    def release(self, base_url: str, client: docker.APIClient) -> None:
        """Give back a client whose last response was read to the end."""
        with self._lock:
            idle = self._idle.setdefault(base_url, [])
            if len(idle) < self.max_idle:
                idle.append(client)
                return
        client.close()

    def idle(self, base_url: str) -> int:
        """How many idle clients `base_url` has (for tests)."""
        with self._lock:
            return len(self._idle.get(base_url, ()))

    def clear(self) -> None:
        """Close every idle client and forget the negotiated versions."""
        with self._lock:
            clients = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
            self._versions.clear()
        for client in clients:
            with contextlib.suppress(Exception):
                client.close()


_clients = _ClientPool()


_Producer = Callable[[docker.APIClient, Callable[[requests.Response], None]], Iterator[T]]

_READY, _ITEM, _END, _ERROR = range(4)


class DockerStream(Generic[T]):
    """An async iterator over what a blocking Docker stream yields, read in its own thread.

    Use `async with` (or call `aclose()`): closing stops the thread and the HTTP
    connection. Created by `open_event_stream` / `open_log_stream`.
    """

    def __init__(
        self,
        base_url: str,
        producer: _Producer[T],
        *,
        name: str,
        max_pending: int,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url
        self.name = name
        self._producer = producer
        self._connect_timeout_s = connect_timeout_s
        self._queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        self._slots = threading.Semaphore(max_pending)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._response: requests.Response | None = None
        # The engine's clock when it accepted the request (HTTP `Date`, whole seconds).
        self.server_date: datetime | None = None
        self._exited = asyncio.Event()
        self._done = False
        self._held: tuple[int, Any] | None = None
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=f"docker-{name}", daemon=True)

    # -- thread side

    def _post(self, kind: int, payload: Any = None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, payload))

    def _register(self, response: requests.Response) -> None:
        self.server_date = _parse_http_date(response.headers.get("Date"))
        with self._lock:
            self._response = response
            stopped = self._stop.is_set()
        if stopped:
            _shutdown(response)
        self._post(_READY)

    def _run(self) -> None:
        client: docker.APIClient | None = None
        try:
            # A bounded timeout for a version negotiation; each stream request then
            # passes timeout=None so reads wait as long as the stream stays open.
            client = _clients.new(self.base_url, self._connect_timeout_s)
            if self._stop.is_set():
                return
            for item in self._producer(client, self._register):
                while not self._slots.acquire(timeout=_POLL_S):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                self._post(_ITEM, item)
        except BaseException as exc:
            # A read failing because we shut the socket down is a normal end.
            if not self._stop.is_set():
                self._post(_ERROR, _translate(exc, self.base_url))
        finally:
            # Always the last message, so a consumer in `__anext__` wakes whatever happened.
            self._post(_END)
            with self._lock:
                response, self._response = self._response, None
            if response is not None:
                _shutdown(response)
                with contextlib.suppress(Exception):
                    response.close()
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._exited.set)

    # -- loop side

    async def _start(self) -> Self:
        """Start the thread and wait until the engine accepted the request."""
        self._thread.start()
        try:
            kind, payload = await self._queue.get()
        except BaseException:
            await self.aclose()
            raise
        if kind == _READY:
            return self
        self._done = True
        await self.aclose()
        if kind == _ERROR:
            raise payload
        raise EngineUnavailableError(
            f"The Docker engine at {self.base_url} ended the {self.name} stream at once.",
            details={"docker_host": self.base_url},
        )

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._done:
            raise StopAsyncIteration
        if self._held is not None:
            kind, payload = self._held
            self._held = None
        else:
            kind, payload = await self._queue.get()
        if kind == _ITEM:
            self._slots.release()
            item: T = payload
            return item
        self._done = True
        if kind == _ERROR:
            raise payload
        raise StopAsyncIteration

    @property
    def pending(self) -> int:
        """How many items (and end markers) arrived and wait to be read."""
        return self._queue.qsize() + (self._held is not None)

    def take_ready(self, limit: int) -> list[T]:
        """Items already delivered, up to `limit`, without waiting (to batch a backlog)."""
        items: list[T] = []
        while len(items) < limit and self._held is None and not self._queue.empty():
            kind, payload = self._queue.get_nowait()
            if kind != _ITEM:
                self._held = (kind, payload)  # the end: `__anext__` reports it next
                break
            self._slots.release()
            items.append(payload)
        return items

    async def aclose(self) -> None:
        """Stop the thread and close the connection; safe to call more than once."""
        self._done = True
        self._stop.set()
        with self._lock:
            response = self._response
        if response is not None:
            _shutdown(response)
        if self._thread.ident is None:
            return  # never started
        try:
            await asyncio.wait_for(self._exited.wait(), CLOSE_WAIT_S)
        except TimeoutError:
            # Still connecting (connect timeouts are bounded): it exits on its own.
            log.warning("docker_stream_slow_to_close", stream=self.name)
            return
        # `_exited` is the thread's last act; the join takes microseconds.
        self._thread.join(timeout=0.1)

    @property
    def thread_alive(self) -> bool:
        """Whether the reader thread is still running (for tests and diagnostics)."""
        return self._thread.is_alive()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


# ---------------------------------------------------------------- events


def _since_param(since: Since) -> str:
    if isinstance(since, datetime):
        return f"{since.timestamp():.9f}"
    if isinstance(since, float):
        return f"{since:.9f}"
    return str(since)


def _url(client: docker.APIClient, path: str) -> str:
    return f"{client.base_url}/v{client.api_version}{path}"


async def open_event_stream(
    base_url: str,
    *,
    since: Since | None = None,
    filters: dict[str, list[str]] | None = None,
    max_pending: int = 10_000,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> DockerStream[dict[str, Any]]:
    """Subscribe to `GET /events`; returns once the engine accepted the subscription.

    `since` (a datetime, epoch seconds, or Docker's `seconds.nanoseconds` string) replays
    the engine's buffered events from then. The stream ending means the connection broke:
    iteration raises `EngineUnavailableError`. Raises it at once when the engine is down.
    """
    params: dict[str, str] = {}
    if since is not None:
        params["since"] = _since_param(since)
    params["filters"] = json.dumps(filters if filters is not None else {"type": ["container"]})

    def produce(
        client: docker.APIClient, register: Callable[[requests.Response], None]
    ) -> Iterator[dict[str, Any]]:
        response = client.get(_url(client, "/events"), params=params, stream=True, timeout=None)
        _raise_for_status(response, "The event stream")
        register(response)
        buffer = b""
        for chunk in response.raw.stream(READ_SIZE, decode_content=False):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    event: dict[str, Any] = json.loads(line)
                    yield event
        raise EngineUnavailableError(
            f"The Docker engine at {base_url} closed the event stream.",
            details={"docker_host": base_url},
        )

    stream = DockerStream(
        base_url,
        produce,
        name="events",
        max_pending=max_pending,
        connect_timeout_s=connect_timeout_s,
    )
    return await stream._start()


async def iter_events(
    base_url: str,
    *,
    since: Since | None = None,
    filters: dict[str, list[str]] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Yield engine events as dicts (container events unless `filters` says otherwise)."""
    async with await open_event_stream(base_url, since=since, filters=filters) as stream:
        async for event in stream:
            yield event


# ---------------------------------------------------------------- logs


def _log_params(follow: bool, tail: Tail, since: Since | None, timestamps: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "stdout": 1,
        "stderr": 1,
        "follow": int(follow),
        "timestamps": int(timestamps),
        "tail": tail if tail == "all" or (isinstance(tail, int) and tail >= 0) else "all",
    }
    if since is not None:
        params["since"] = _since_param(since)
    return params


def _request_logs(
    client: docker.APIClient,
    container_id: str,
    params: dict[str, Any],
    *,
    tty: bool | None,
    connect_timeout_s: float,
    read_timeout_s: float | None,
) -> tuple[requests.Response, bool | None]:
    """Send `GET /containers/{id}/logs`; returns the response and the TTY flag if known.

    With timestamps the flag is left unknown (None): `_demuxer_for` reads it off the first
    byte, which saves the inspect call. Without them a TTY container's output could start
    like a frame header, so the container is inspected.
    """
    quoted = quote(container_id, safe="")
    if tty is None and not params["timestamps"]:
        info = client.get(_url(client, f"/containers/{quoted}/json"), timeout=connect_timeout_s)
        _raise_for_status(info, f"Container {container_id}")
        tty = bool((info.json().get("Config") or {}).get("Tty"))
    response = client.get(
        _url(client, f"/containers/{quoted}/logs"),
        params=params,
        stream=True,
        timeout=read_timeout_s,
    )
    _raise_for_status(response, f"Container {container_id}")
    return response, tty


def _demuxer_for(first: bytes, tty: bool | None, timestamps: bool) -> LogDemuxer:
    """The demuxer for a logs answer that starts with `first` (not empty)."""
    if tty is None:
        # Asked with timestamps: a raw (TTY) answer starts with a timestamp's digit, a
        # multiplexed one with a stream type byte 0-3.
        tty = first[0] > 3
    return LogDemuxer(tty=tty, timestamps=timestamps)


async def open_log_stream(
    base_url: str,
    container_id: str,
    *,
    follow: bool,
    tail: Tail = "all",
    since: Since | None = None,
    timestamps: bool = True,
    tty: bool | None = None,
    max_pending: int = 64,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> DockerStream[list[LogLine]]:
    """Open `GET /containers/{id}/logs`; the stream yields batches of lines as they come.

    A batch is whatever one read returned, so a burst arrives as few big batches. With
    `max_pending` batches of at most 64 KiB, a slow consumer holds at most a few MiB.
    `tty` is the container's TTY flag when the caller knows it. Raises
    `EngineNotFoundError` for an unknown container.
    """
    params = _log_params(follow, tail, since, timestamps)

    def produce(
        client: docker.APIClient, register: Callable[[requests.Response], None]
    ) -> Iterator[list[LogLine]]:
        response, known_tty = _request_logs(
            client,
            container_id,
            params,
            tty=tty,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=None,
        )
        register(response)
        demux: LogDemuxer | None = None
        # `stream()` returns each HTTP chunk as soon as it arrives, as following needs.
        for chunk in response.raw.stream(READ_SIZE, decode_content=False):
            if demux is None:
                demux = _demuxer_for(chunk, known_tty, timestamps)
            lines = demux.feed(chunk)
            if lines:
                yield lines
        rest = demux.flush() if demux is not None else []
        if rest:
            yield rest

    stream = DockerStream(
        base_url,
        produce,
        name=f"logs-{container_id[:12]}",
        max_pending=max_pending,
        connect_timeout_s=connect_timeout_s,
    )
    return await stream._start()


async def iter_logs(
    base_url: str,
    container_id: str,
    *,
    follow: bool,
    tail: Tail = "all",
    since: Since | None = None,
    timestamps: bool = True,
) -> AsyncIterator[LogLine]:
    """Yield `(stream, ts, message)` lines; with `follow` until the container stops."""
    async with await open_log_stream(
        base_url, container_id, follow=follow, tail=tail, since=since, timestamps=timestamps
    ) as stream:
        async for batch in stream:
            for line in batch:
                yield line


def _fetch_logs_blocking(
    base_url: str,
    container_id: str,
    params: dict[str, Any],
    *,
    limit: int,
    tty: bool | None,
    connect_timeout_s: float,
    started: Callable[[requests.Response], None],
) -> list[LogLine]:
    """`fetch_logs` in a worker thread: one request, read to the end in 64 KiB blocks."""
    client = _clients.acquire(base_url, connect_timeout_s)
    reusable = False
    try:
        response, known_tty = _request_logs(
            client,
            container_id,
            params,
            tty=tty,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=FETCH_READ_TIMEOUT_S,
        )
        started(response)
        lines: deque[LogLine] = deque(maxlen=limit)
        demux: LogDemuxer | None = None
        timestamps = bool(params["timestamps"])
        try:
            # `read(n)` joins the engine's many small HTTP chunks (one per log line) into
            # big blocks, so the demuxer and this loop run once per 64 KiB, not per line.
            while chunk := response.raw.read(READ_SIZE, decode_content=False):
                if demux is None:
                    demux = _demuxer_for(chunk, known_tty, timestamps)
                lines.extend(demux.feed(chunk))
        finally:
            response.close()
        if demux is not None:
            lines.extend(demux.flush())
        reusable = True
        return list(lines)
    except DockyardError:
        reusable = True  # the engine's refusal was read whole; the connection is fine
        raise
    finally:
        if reusable:
            _clients.release(base_url, client)
        else:
            with contextlib.suppress(Exception):
                client.close()


async def fetch_logs(
    base_url: str,
    container_id: str,
    *,
    tail: int = 100,
    since: Since | None = None,
    timestamps: bool = True,
    tty: bool | None = None,
    max_lines: int = 10_000,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> list[LogLine]:
    """The last `tail` lines (at most `max_lines`), oldest first, without following.

    `tty` is the container's TTY flag when the caller knows it (else it is found out).
    Raises `EngineNotFoundError` for an unknown container.
    """
    limit = max(0, min(tail, max_lines))
    if limit == 0:
        return []
    params = _log_params(False, limit, since, timestamps)
    responses: list[requests.Response] = []
    try:
        return await asyncio.to_thread(
            _fetch_logs_blocking,
            base_url,
            container_id,
            params,
            limit=limit,
            tty=tty,
            connect_timeout_s=connect_timeout_s,
            started=responses.append,
        )
    except asyncio.CancelledError:
        # Unblock the worker thread's read rather than let it finish a read nobody wants.
        for response in responses:
            _shutdown(response)
        raise
    except DockyardError:
        raise
    except Exception as exc:
        raise _translate(exc, base_url) from exc
