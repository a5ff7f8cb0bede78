"""A streaming `multipart/form-data` parser: parts' bytes pass through, never held.

Fed the request body chunk by chunk, it yields events: `Part(name, filename, headers)`,
`bytes` of that part's body, and `PartEnd()`. Memory is bounded by the largest chunk plus
the boundary, and by `MAX_HEADER_BYTES` for a part's headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

MAX_HEADER_BYTES = 16 * 1024
MAX_PREAMBLE_BYTES = 64 * 1024
MAX_BOUNDARY = 200


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class Part:
    name: str | None
    filename: str | None
    content_type: str | None


@dataclass(frozen=True)
class PartEnd:
    pass


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a `multipart/form-data` content type, or `MultipartError`."""
    message = Message()
    message["content-type"] = content_type or ""
    if message.get_content_type() != "multipart/form-data":
        raise MultipartError("not multipart/form-data")
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= MAX_BOUNDARY:
        raise MultipartError("the multipart boundary is missing or too long")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise MultipartError("the multipart boundary is not ASCII") from None


def _part(raw: bytes) -> Part:
    headers = Message()
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError("a part header has no ':'")
        headers[name.strip()] = value.strip()
    disposition = headers.get("content-disposition")
    if disposition is None:
        return Part(None, None, headers.get("content-type"))
    params = Message()
    params["content-disposition"] = disposition
    field = params.get_param("name", header="content-disposition")
    filename = params.get_filename()
    return Part(
        field if isinstance(field, str) else None,
        filename,
        headers.get("content-type"),
    )


class MultipartParser:
    """`feed(chunk)` yields events; `close()` checks that the body ended properly."""

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        # The first boundary need not follow a CRLF: pretend one came before the body.
        self._buffer = bytearray(b"\r\n")
        self._state = "preamble"
        self._seen = 0

    @property
    def done(self) -> bool:
        return self._state == "done"

    def feed(self, chunk: bytes) -> Iterator[Part | PartEnd | bytes]:
        if self._state == "done":
            return  # the epilogue is ignored
        self._buffer += chunk
        buffer, delimiter = self._buffer, self._delimiter
        while True:
            if self._state == "preamble":
                at = buffer.find(delimiter)
                if at < 0:
                    keep = len(delimiter) - 1
                    self._seen += max(0, len(buffer) - keep)
                    if self._seen > MAX_PREAMBLE_BYTES:
                        raise MultipartError("no multipart boundary found")
                    del buffer[: max(0, len(buffer) - keep)]
                    return
                del buffer[: at + len(delimiter)]
                self._state = "after_delimiter"
            elif self._state == "after_delimiter":
                if len(buffer) < 2:
                    return
                if buffer[:2] == b"--":
                    self._state = "done"
                    buffer.clear()
                    return
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > 256:
                        raise MultipartError("garbage after a boundary")
                    return
                if buffer[:end].strip(b" \t"):
                    raise MultipartError("garbage after a boundary")
                del buffer[: end + 2]
                self._state = "headers"
            elif self._state == "headers":
                if buffer[:2] == b"\r\n":
                    raw, consumed = b"", 2
                else:
                    end = buffer.find(b"\r\n\r\n")
                    if end < 0:
                        if len(buffer) > MAX_HEADER_BYTES:
                            raise MultipartError("a part's headers are too long")
                        return
                    raw, consumed = bytes(buffer[:end]), end + 4
                if len(raw) > MAX_HEADER_BYTES:
                    raise MultipartError("a part's headers are too long")
                del buffer[:consumed]
                self._state = "body"
                yield _part(raw)
            else:  # body
                at = buffer.find(delimiter)
                if at < 0:
                    safe = len(buffer) - (len(delimiter) - 1)
                    if safe > 0:
                        yield bytes(buffer[:safe])
                        del buffer[:safe]
                    return
                if at:
                    yield bytes(buffer[:at])
                del buffer[: at + len(delimiter)]
                self._state = "after_delimiter"
                yield PartEnd()

    def close(self) -> None:
        if self._state != "done":
            raise MultipartError("the multipart body ended before its closing boundary")
