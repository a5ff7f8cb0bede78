"""Container files through the Docker archive API (`HEAD/GET/PUT /containers/{id}/archive`).

Works on running and stopped containers and on images without `ls`: nothing runs in the
container, except `rename` and `delete`, which the archive API cannot express (a tiny
`mv`/`rm` exec, running containers only).

Safety:
- Paths are normalized lexically (`..` resolved, absolute, no NUL or control characters).
- Tar streams are read with `tarfile` in stream mode (`r|`): listing reads headers and
  skips bodies without keeping them, within entry and byte caps; FIFOs, sockets and
  devices are reported as `other` and never read (the engine archives only their header).
- A symlink is listed with its target and never followed: reading or downloading one
  gives the link (the engine archives the last path component itself, not its target).
- Uploads are written as one tar entry built here (a name without `/`), so no `../`
  entry can reach the engine; a member we extract is checked with `tarfile.data_filter`.
- Files are streamed in 64 KiB blocks: memory stays bounded for any size.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import posixpath
import stat as stat_mod
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import docker
import requests

from dockyard.engine.adapter import DockerEngine
from dockyard.engine.errors import EngineNotFoundError, EngineRequestError
from dockyard.kit.errors import ConflictError, DockyardError, NotFoundError, ValidationFailedError

CHUNK = 64 * 1024
TAR_BUFSIZE = 1024 * 1024
MAX_PATH = 4096
MAX_NAME = 255

# Go's os.FileMode type bits, as the engine reports them in the path stat header.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_CHARDEV = 1 << 21
_GO_IRREGULAR = 1 << 19
_GO_SPECIAL = _GO_DEVICE | _GO_PIPE | _GO_SOCKET | _GO_CHARDEV | _GO_IRREGULAR


def _invalid(field: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(
        message, code="invalid_path", details={"errors": [{"path": field, "message": message}]}
    )


def normalize_path(raw: str, field: str = "path") -> str:
    """An absolute, lexically normalized path; refuses NUL and control characters."""
    if not raw:
        raise _invalid(field, "A path is required.")
    if len(raw) > MAX_PATH:
        raise _invalid(field, f"The path is longer than {MAX_PATH} characters.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise _invalid(field, "The path contains NUL or control characters.")
    path = posixpath.normpath("/" + raw.lstrip("/"))
    # normpath keeps a leading `//`; `..` above the root resolves to the root.
    return "/" + path.lstrip("/")


def check_name(name: str, field: str = "name") -> str:
    """A single path component: no `/`, not `.` or `..`, no control characters."""
    if not name or name in (".", "..") or "/" in name or len(name) > MAX_NAME:
        raise _invalid(field, "A name is one path component (no '/', not '.' or '..').")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise _invalid(field, "The name contains NUL or control characters.")
    return name


# ---------------------------------------------------------------- stat


@dataclass(frozen=True)
class PathStat:
    name: str
    size: int
    mode: int  # permission bits (and setuid/setgid/sticky)
    kind: str  # file | dir | symlink | other
    mtime: datetime | None
    link_target: str | None


def _kind_of_go_mode(mode: int) -> str:
    if mode & _GO_DIR:
        return "dir"
    if mode & _GO_SYMLINK:
        return "symlink"
    if mode & _GO_SPECIAL:
        return "other"
    return "file"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    # Go writes nanoseconds; Python keeps microseconds.
    text = value.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _decode_stat(header: str | None) -> PathStat:
    try:
        raw = json.loads(base64.b64decode(header or ""))
    except (ValueError, TypeError):
        raw = {}
    mode = int(raw.get("mode") or 0)
    kind = _kind_of_go_mode(mode)
    return PathStat(
        name=str(raw.get("name") or ""),
        size=int(raw.get("size") or 0),
        mode=mode & 0o7777,
        kind=kind,
        mtime=_parse_time(raw.get("mtime")),
        link_target=(str(raw.get("linkTarget") or "") or None) if kind == "symlink" else None,
    )


def _archive_url(client: docker.APIClient, container: str) -> str:
    return f"{client.base_url}/v{client.api_version}/containers/{quote(container, safe='')}/archive"


def _engine_error(response: requests.Response, path: str) -> DockyardError:
    try:
        message = str(response.json().get("message") or response.reason)
    except ValueError:
        message = str(response.reason or "error")
    if response.status_code == 404:
        if "container" in message.lower() and "no such container" in message.lower():
            return EngineNotFoundError(message)
        return NotFoundError(f"{path} does not exist in the container.", code="path_not_found")
    if response.status_code == 409:
        return ConflictError(message, code="container_state")
    return EngineRequestError(
        f"The Docker engine refused the request: {message}",
        details={"status": response.status_code},
        status_code=422 if response.status_code == 400 else None,
    )


def _stat_blocking(client: docker.APIClient, container: str, path: str) -> PathStat:
    response = client.head(
        _archive_url(client, container), params={"path": path}, timeout=client.timeout
    )
    with contextlib.closing(response):
        if response.status_code >= 400:
            # HEAD has no body: name the common cases ourselves.
            if response.status_code == 404:
                raise NotFoundError(
                    f"{path} does not exist in the container.", code="path_not_found"
                )
            raise _engine_error(response, path)
        return _decode_stat(response.headers.get("X-Docker-Container-Path-Stat"))


# ---------------------------------------------------------------- the thread plumbing


class Files:
    """File operations on one container of one engine."""

    def __init__(self, engine: DockerEngine, container: str) -> None:
        self.engine = engine
        self.container = container

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        client = await self.engine.dedicated_api_client()
        try:
            return await asyncio.to_thread(fn, client, *args)
        except (requests.ConnectionError, OSError) as exc:
            raise EngineRequestError(
                f"The Docker engine connection failed: {exc.__class__.__name__}.",
                status_code=502,
            ) from exc
        finally:
            client.close()

    async def stat(self, path: str) -> PathStat:
        result: PathStat = await self._in_thread(_stat_blocking, self.container, path)
        return result

    def _open_archive(self, client: docker.APIClient, path: str) -> requests.Response:
        response = client.get(
            _archive_url(client, self.container),
            params={"path": path},
            stream=True,
            timeout=client.timeout,
            # The raw tar: no gzip to inflate (and no decompression bomb to guard against).
            headers={"Accept-Encoding": "identity"},
        )
        if response.status_code >= 400:
            with contextlib.closing(response):
                raise _engine_error(response, path)
        return response

    # -- listing

    async def list_dir(
        self, path: str, *, max_entries: int, max_scan_bytes: int
    ) -> tuple[PathStat, list[dict[str, Any]], bool]:
        """(the folder's stat, its direct entries sorted dirs first, truncated)."""
        info = await self.stat(path)
        if info.kind != "dir":
            raise ValidationFailedError(
                f"{path} is not a folder.",
                code="not_a_directory",
                details={"errors": [{"path": "path", "message": "not a folder"}]},
            )

        def run(client: docker.APIClient) -> tuple[list[dict[str, Any]], bool]:
            response = self._open_archive(client, path)
            counter = _CountingReader(response.raw, max_scan_bytes)
            entries: list[dict[str, Any]] = []
            truncated = False
            try:
                with tarfile.open(
                    fileobj=counter,  # type: ignore[call-overload]
                    mode="r|",
                    bufsize=TAR_BUFSIZE,
                ) as archive:
                    root: str | None = None
                    for member in archive:
                        name = member.name.rstrip("/")
                        if root is None:
                            root = name  # the folder itself comes first
                            continue
                        rel = name[len(root) :].lstrip("/") if name.startswith(root) else ""
                        if not rel or "/" in rel:
                            continue  # deeper entries: headers read, bodies skipped
                        entries.append(_entry(rel, member))
                        if len(entries) >= max_entries:
                            truncated = True
                            break
            except _ScanLimitError:
                truncated = True
            except tarfile.TarError as exc:
                raise EngineRequestError(
                    f"The engine sent an unreadable archive: {exc}.", status_code=502
                ) from exc
            finally:
                response.close()
            return entries, truncated

        entries, truncated = await self._in_thread(run)
        entries.sort(key=lambda e: (e["type"] != "dir", e["name"]))
        return info, entries, truncated

    # -- text view and edit

    async def read_text(self, path: str, *, max_bytes: int) -> tuple[PathStat, str]:
        info = await self.stat(path)
        _require_regular(info, path)
        if info.size > max_bytes:
            raise DockyardError(
                f"{path} is {info.size} bytes: larger than the {max_bytes} bytes shown as "
                "text. Download it instead.",
                code="file_too_large",
                status_code=413,
            )

        def run(client: docker.APIClient) -> bytes:
            response = self._open_archive(client, path)
            try:
                with tarfile.open(fileobj=response.raw, mode="r|") as archive:
                    member = archive.next()
                    if member is None or not member.isreg():
                        raise _not_regular(path)
                    source = archive.extractfile(member)
                    if source is None:
                        raise _not_regular(path)
                    return source.read(max_bytes + 1)
            finally:
                response.close()

        data: bytes = await self._in_thread(run)
        if len(data) > max_bytes:
            raise DockyardError(
                f"{path} grew past {max_bytes} bytes.", code="file_too_large", status_code=413
            )
        if b"\x00" in data:
            raise DockyardError(
                f"{path} is a binary file: download it instead.",
                code="binary_file",
                status_code=415,
            )
        try:
            return info, data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DockyardError(
                f"{path} is not UTF-8 text: download it instead.",
                code="binary_file",
                status_code=415,
            ) from exc

    async def write_text(self, path: str, content: str, *, max_bytes: int) -> PathStat:
        """Replace a regular file's content, keeping its mode and owner."""
        data = content.encode("utf-8")
        if len(data) > max_bytes:
            raise DockyardError(
                f"The content is larger than {max_bytes} bytes.",
                code="file_too_large",
                status_code=413,
            )
        if path == "/":
            raise _invalid("path", "The root is not a file.")
        info = await self.stat(path)
        _require_regular(info, path)

        def owner(client: docker.APIClient) -> tarfile.TarInfo:
            response = self._open_archive(client, path)
            try:
                with tarfile.open(fileobj=response.raw, mode="r|") as archive:
                    member = archive.next()
                    if member is None or not member.isreg():
                        raise _not_regular(path)
                    return member  # the header only: the body is never read
            finally:
                response.close()

        current: tarfile.TarInfo = await self._in_thread(owner)
        entry = tarfile.TarInfo(posixpath.basename(path))
        entry.size = len(data)
        entry.mode = current.mode & 0o7777
        entry.uid, entry.gid = current.uid, current.gid
        entry.uname, entry.gname = current.uname, current.gname
        entry.mtime = int(time.time())
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            archive.addfile(entry, io.BytesIO(data))
        payload = buffer.getvalue()
        await self._put(posixpath.dirname(path), iter([payload]))
        return await self.stat(path)

    # -- folders

    async def mkdir(self, parent: str, name: str) -> PathStat:
        check_name(name)
        info = await self.stat(parent)
        if info.kind != "dir":
            raise _invalid("path", f"{parent} is not a folder.")
        target = posixpath.join(parent, name)
        with contextlib.suppress(NotFoundError):
            await self.stat(target)
            raise ConflictError(f"{target} already exists.", code="path_exists")
        entry = tarfile.TarInfo(name)
        entry.type = tarfile.DIRTYPE
        entry.mode = 0o755
        entry.mtime = int(time.time())
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            archive.addfile(entry)
        await self._put(parent, iter([buffer.getvalue()]))
        return await self.stat(target)

    # -- upload

    async def upload(
        self, parent: str, name: str, size: int, body: AsyncIterator[bytes]
    ) -> PathStat:
        """Stream `size` bytes of `body` into `parent/name` as one tar entry."""
        check_name(name)
        info = await self.stat(parent)
        if info.kind != "dir":
            raise _invalid("path", f"{parent} is not a folder.")
        target = posixpath.join(parent, name)
        with contextlib.suppress(NotFoundError):
            existing = await self.stat(target)
            if existing.kind != "file":
                raise ConflictError(
                    f"{target} exists and is not a regular file.", code="path_exists"
                )
        entry = tarfile.TarInfo(name)
        entry.size = size
        entry.mode = 0o644
        entry.mtime = int(time.time())
        header = entry.tobuf(format=tarfile.PAX_FORMAT)
        loop = asyncio.get_running_loop()
        short = _ShortBody()

        async def next_chunk() -> bytes | None:
            try:
                return await anext(body)
            except StopAsyncIteration:
                return None

        def chunks() -> Iterator[bytes]:
            yield header
            sent = 0
            while sent < size:
                chunk = asyncio.run_coroutine_threadsafe(next_chunk(), loop).result()
                if chunk is None:
                    short.short = True
                    # End the request without the tar's end: the engine refuses it.
                    raise _BodyEndedError
                if not chunk:
                    continue
                if sent + len(chunk) > size:
                    short.long = True
                    raise _BodyEndedError
                sent += len(chunk)
                yield chunk
            remainder = size % tarfile.BLOCKSIZE
            if remainder:
                yield b"\0" * (tarfile.BLOCKSIZE - remainder)
            yield b"\0" * (tarfile.BLOCKSIZE * 2)

        try:
            await self._put(parent, chunks())
        except (_BodyEndedError, EngineRequestError, requests.RequestException) as exc:
            if short.short or short.long:
                raise ValidationFailedError(
                    "The upload's length does not match its Content-Length.",
                    code="upload_length_mismatch",
                ) from exc
            raise
        if short.short or short.long:
            raise ValidationFailedError(
                "The upload's length does not match its Content-Length.",
                code="upload_length_mismatch",
            )
        return await self.stat(target)

    async def _put(self, parent: str, data: Iterator[bytes]) -> None:
        def run(client: docker.APIClient) -> None:
            response = client.put(
                _archive_url(client, self.container),
                params={"path": parent, "noOverwriteDirNonDir": "true"},
                data=data,
                headers={"Content-Type": "application/x-tar"},
                timeout=None,
            )
            with contextlib.closing(response):
                if response.status_code >= 400:
                    raise _engine_error(response, parent)

        await self._in_thread(run)

    # -- download

    async def download(self, path: str) -> tuple[PathStat, Iterator[bytes], bool]:
        """(stat, chunks, is_tar). A file streams its bytes; a folder or link streams a tar.

        The iterator is synchronous and blocking: the HTTP layer pulls it from a worker
        thread one 64 KiB block at a time, so nothing is held in memory.
        """
        info = await self.stat(path)
        if info.kind == "other":
            raise DockyardError(
                f"{path} is a special file (FIFO, socket or device): it is never read.",
                code="special_file",
                status_code=422,
            )
        client = await self.engine.dedicated_api_client()
        try:
            response = await asyncio.to_thread(self._open_archive, client, path)
        except BaseException:
            client.close()
            raise
        if info.kind == "file":
            return info, _file_chunks(client, response, path), False
        return info, _raw_chunks(client, response), True

    # -- exec-based operations (running containers only)

    async def _exec(self, cmd: list[str], what: str) -> None:
        inspect = await self.engine.inspect_container(self.container)
        if not (inspect.get("State") or {}).get("Running"):
            raise ConflictError(
                f"{what} needs a running container (the archive API cannot do it); "
                "start the container first.",
                code="container_not_running",
            )
        code, output = await self.engine.exec_run(self.container, cmd)
        if code != 0:
            raise DockyardError(
                f"{what} failed: {output.strip()[:300] or f'exit code {code}'}",
                code="file_operation_failed",
                status_code=422,
            )

    async def rename(self, path: str, new_name: str) -> PathStat:
        check_name(new_name, "new_name")
        if path == "/":
            raise _invalid("path", "The root cannot be renamed.")
        await self.stat(path)
        target = posixpath.join(posixpath.dirname(path), new_name)
        with contextlib.suppress(NotFoundError):
            await self.stat(target)
            raise ConflictError(f"{target} already exists.", code="path_exists")
        await self._exec(["mv", "-n", "--", path, target], "Renaming")
        return await self.stat(target)

    async def delete(self, path: str) -> None:
        if path == "/":
            raise _invalid("path", "The root cannot be deleted.")
        await self.stat(path)
        await self._exec(["rm", "-rf", "--", path], "Deleting")


# ---------------------------------------------------------------- helpers


class _BodyEndedError(Exception):
    pass


class _ShortBody:
    short = False
    long = False


class _ScanLimitError(Exception):
    pass


class _CountingReader:
    """A file-like view of a response body that stops after `limit` bytes."""

    def __init__(self, raw: Any, limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if self.count >= self.limit:
            raise _ScanLimitError
        data: bytes = self.raw.read(size if size and size > 0 else CHUNK)
        self.count += len(data)
        return data


def _entry(name: str, member: tarfile.TarInfo) -> dict[str, Any]:
    if member.isdir():
        kind = "dir"
    elif member.issym():
        kind = "symlink"
    elif member.isreg() or member.islnk():
        kind = "file"
    else:
        kind = "other"  # FIFO, device, socket: listed, never read
    return {
        "name": name,
        "type": kind,
        "size": member.size if kind == "file" else 0,
        "mode": member.mode & 0o7777,
        "mode_text": stat_mod.filemode(member.mode | _tar_type_bits(member)),
        "mtime": datetime.fromtimestamp(member.mtime, UTC) if member.mtime else None,
        "link_target": member.linkname if kind == "symlink" else None,
        "uid": member.uid,
        "gid": member.gid,
    }


def _tar_type_bits(member: tarfile.TarInfo) -> int:
    if member.isdir():
        return stat_mod.S_IFDIR
    if member.issym():
        return stat_mod.S_IFLNK
    if member.isfifo():
        return stat_mod.S_IFIFO
    if member.ischr():
        return stat_mod.S_IFCHR
    if member.isblk():
        return stat_mod.S_IFBLK
    return stat_mod.S_IFREG


def _not_regular(path: str) -> DockyardError:
    return DockyardError(
        f"{path} is not a regular file.", code="not_a_regular_file", status_code=422
    )


def _require_regular(info: PathStat, path: str) -> None:
    if info.kind == "dir":
        raise DockyardError(f"{path} is a folder.", code="is_a_directory", status_code=422)
    if info.kind == "symlink":
        raise DockyardError(
            f"{path} is a symbolic link to {info.link_target}: it is not followed; open "
            "the target path itself.",
            code="symlink_not_followed",
            status_code=422,
        )
    if info.kind != "file":
        raise DockyardError(
            f"{path} is a special file (FIFO, socket or device): it is never read.",
            code="special_file",
            status_code=422,
        )


def _raw_chunks(client: docker.APIClient, response: requests.Response) -> Iterator[bytes]:
    try:
        yield from response.raw.stream(CHUNK, decode_content=False)
    finally:
        response.close()
        client.close()


def _file_chunks(
    client: docker.APIClient, response: requests.Response, path: str
) -> Iterator[bytes]:
    """The single regular file of the archive, extracted on the fly."""
    try:
        with tarfile.open(fileobj=response.raw, mode="r|", bufsize=TAR_BUFSIZE) as archive:
            member = archive.next()
            if member is None or not member.isreg():
                return
            # The same checks `extractall(filter="data")` makes (absolute names, `..`,
            # special files); we extract one file's bytes, never a path.
            tarfile.data_filter(member, "/nonexistent-dest")
            source = archive.extractfile(member)
            if source is None:
                return
            while True:
                block = source.read(CHUNK)
                if not block:
                    break
                yield block
    finally:
        response.close()
        client.close()
