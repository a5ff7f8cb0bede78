"""Shapes of the container file browser API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

EntryType = Literal["file", "dir", "symlink", "other"]


class FileEntry(BaseModel):
    """One entry of a folder; `other` is a FIFO, socket or device (listed, never read)."""

    name: str
    type: EntryType
    size: int
    mode: int = Field(description="Permission bits (e.g. 420 = 0o644).")
    mode_text: str = Field(description="`ls -l` style, e.g. `-rw-r--r--`.")
    mtime: datetime | None
    link_target: str | None = Field(
        default=None, description="A symlink's target, as stored; never followed."
    )
    uid: int
    gid: int


class PathInfo(BaseModel):
    """A path's stat as the engine reports it."""

    path: str
    name: str
    type: EntryType
    size: int
    mode: int
    mtime: datetime | None
    link_target: str | None = None


class FileList(BaseModel):
    path: str = Field(description="The normalized folder path.")
    entries: list[FileEntry]
    truncated: bool = Field(
        description="True when the entry or scan cap was reached: not every entry is listed."
    )


class FileContent(BaseModel):
    path: str
    content: str
    size: int
    mode: int
    mtime: datetime | None


class FileContentIn(BaseModel):
    path: str = Field(min_length=1, max_length=4096)
    content: str


class MkdirIn(BaseModel):
    path: str = Field(min_length=1, max_length=4096, description="The parent folder.")
    name: str = Field(min_length=1, max_length=255)


class RenameIn(BaseModel):
    path: str = Field(min_length=1, max_length=4096)
    new_name: str = Field(min_length=1, max_length=255, description="The new name, same folder.")
