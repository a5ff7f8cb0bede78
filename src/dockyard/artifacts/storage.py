"""Where artifact bytes live: `<data dir>/artifacts/<random name>`, files 0600.

Names are random (never derived from client input). An upload is written to
`.upload-<random>.part` first and renamed once its metadata is stored.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
import unicodedata
from pathlib import Path
from urllib.parse import quote

import structlog

from dockyard.settings import Settings

log = structlog.get_logger(__name__)

FOLDER = "artifacts"
PART_PREFIX = ".upload-"
PART_SUFFIX = ".part"
_STORAGE_NAME = re.compile(r"^[0-9a-f]{32}$")
MAX_FILENAME_BYTES = 200


def folder(settings: Settings) -> Path:
    """The artifacts folder (created 0700 on first use)."""
    path = settings.ensure_data_dir() / FOLDER
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
    return path


def new_storage_name() -> str:
    return secrets.token_hex(16)


def path_of(settings: Settings, storage_name: str) -> Path:
    """The file of a stored artifact; refuses anything but a storage name."""
    if not _STORAGE_NAME.match(storage_name):
        raise ValueError("not a storage name")
    return folder(settings) / storage_name


def create_part(settings: Settings) -> tuple[Path, int]:
    """A new, empty, exclusive 0600 temporary file and its descriptor."""
    path = folder(settings) / f"{PART_PREFIX}{secrets.token_hex(16)}{PART_SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    return path, fd


def remove_files(settings: Settings, storage_names: list[str]) -> None:
    """Delete stored files (after the rows are gone); a missing file is fine."""
    for name in storage_names:
        try:
            path_of(settings, name).unlink(missing_ok=True)
        except (OSError, ValueError):
            log.warning("artifact_file_not_removed", storage_name=name)


def remove_stale_parts(settings: Settings, older_than_s: float) -> int:
    """Delete upload leftovers of crashed processes; returns how many."""
    removed = 0
    cutoff = time.time() - older_than_s
    for path in folder(settings).glob(f"{PART_PREFIX}*{PART_SUFFIX}"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def safe_filename(raw: str | None) -> str:
    """A display/download name: last path component, no control or format characters."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))
    name = name.strip().strip(".").strip()
    while len(name.encode()) > MAX_FILENAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        keep_extension = dot and stem and len(ext) <= 16
        name = stem[:-1] + "." + ext if keep_extension else name[:-1]
    return name or "artifact"


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the exact name as RFC 5987 `filename*`."""
    fallback = (
        "".join(c if 32 <= ord(c) < 127 and c not in '"\\;%' else "_" for c in filename).strip()
        or "artifact"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
