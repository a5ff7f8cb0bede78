"""Artifact uploads (streamed to disk, hashed on the way), deletion and retention."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from dockyard.artifacts import repository, storage
from dockyard.artifacts.models import Artifact
from dockyard.artifacts.multipart import MultipartError, MultipartParser, Part, PartEnd, boundary_of
from dockyard.audit.service import Actor, record
from dockyard.auth.service import Principal
from dockyard.hosts.models import Host
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import DockyardError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.runtime import Runtime

log = structlog.get_logger(__name__)

FILE_FIELD = "file"
# Bytes gathered before one write (in a worker thread): bounds memory and thread hops.
WRITE_BATCH = 1024 * 1024
# Multipart framing allowed on top of the file itself before a declared length is refused.
FRAMING_ALLOWANCE = 64 * 1024
STALE_PART_S = 24 * 3600
PURGE_BATCH = 500


def too_large(limit: int) -> DockyardError:
    return DockyardError(
        f"The file is larger than the {limit}-byte limit (DOCKYARD_ARTIFACT_MAX_BYTES).",
        code="payload_too_large",
        status_code=413,
        details={"max_bytes": limit},
    )


def _bad_body(message: str) -> DockyardError:
    return DockyardError(message, code="invalid_multipart", status_code=400)


def _write_all(fd: int, data: bytes, digest: hashlib._Hash) -> None:
    digest.update(data)  # hashlib releases the GIL on large buffers
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


async def receive_upload(
    runtime: Runtime,
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
) -> tuple[Path, str, int, str]:
    """Stream the `file` part to a 0600 temporary file: (path, filename, size, sha256).

    413 past the size limit and 400 for a malformed body, the temporary file removed.
    """
    limit = runtime.settings.artifact_max_bytes
    try:
        boundary = boundary_of(content_type)
    except MultipartError as exc:
        raise DockyardError(
            f"Send the file as multipart/form-data (field `{FILE_FIELD}`): {exc}.",
            code="unsupported_media_type",
            status_code=415,
        ) from None
    if (
        content_length
        and content_length.isdigit()
        and int(content_length) > (limit + FRAMING_ALLOWANCE)
    ):
        raise too_large(limit)
    parser = MultipartParser(boundary)
    path, fd = await asyncio.to_thread(storage.create_part, runtime.settings)
    digest = hashlib.sha256()
    size = 0
    filename: str | None = None
    state = "before"  # before -> in_file -> after
    pending: list[bytes] = []
    pending_size = 0
    ok = False
    try:
        async for chunk in body:
            for event in parser.feed(chunk):
                if isinstance(event, Part):
                    if event.name == FILE_FIELD and state == "before":
                        state = "in_file"
                        filename = storage.safe_filename(event.filename)
                elif isinstance(event, PartEnd):
                    if state == "in_file":
                        state = "after"
                elif state == "in_file":
                    size += len(event)
                    if size > limit:
                        raise too_large(limit)
                    pending.append(event)
                    pending_size += len(event)
            if pending_size >= WRITE_BATCH:
                data = b"".join(pending)
                pending, pending_size = [], 0
                await asyncio.to_thread(_write_all, fd, data, digest)
            if parser.done:
                break
        parser.close()
        if state == "before":
            raise ValidationFailedError(
                f"The form has no `{FILE_FIELD}` part.",
                details={"errors": [{"path": f"body.{FILE_FIELD}", "message": "missing"}]},
            )
        if pending:
            await asyncio.to_thread(_write_all, fd, b"".join(pending), digest)
        ok = True
    except MultipartError as exc:
        raise _bad_body(f"The multipart body is malformed: {exc}.") from None
    except ClientDisconnect:
        raise _bad_body("The client went away before the upload ended.") from None
    finally:
        os.close(fd)
        if not ok:
            with contextlib.suppress(OSError):
                path.unlink()
    return path, filename or "artifact", size, digest.hexdigest()


async def store(
    runtime: Runtime,
    host_id: int,
    part_path: Path,
    filename: str,
    size: int,
    sha256: str,
    principal: Principal,
    meta: RequestMeta,
) -> Artifact:
    """Move the uploaded file into place and record it (and the audit event)."""
    storage_name = storage.new_storage_name()
    final = storage.path_of(runtime.settings, storage_name)
    try:
        async with runtime.db.session() as session:
            if await session.get(Host, host_id) is None:
                raise NotFoundError(f"No host with id {host_id}.", details={"host_id": host_id})
            artifact = Artifact(
                host_id=host_id,
                filename=filename,
                storage_name=storage_name,
                size=size,
                sha256=sha256,
                uploaded_by_id=principal.user.id,
                uploaded_by_label=principal.user.email,
            )
            session.add(artifact)
            await session.flush()
            await record(
                session,
                action="artifact.uploaded",
                actor=principal.actor,
                target_type="artifact",
                target_id=artifact.id,
                details={"host_id": host_id, "filename": filename, "size": size, "sha256": sha256},
                meta=meta,
            )
            os.rename(part_path, final)
            try:
                await session.commit()
            except BaseException:
                os.rename(final, part_path)
                raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(part_path)  # gone already once renamed into place
    return artifact


async def delete_artifact(
    runtime: Runtime, artifact_id: int, actor: Actor, meta: RequestMeta
) -> None:
    async with runtime.db.session() as session:
        artifact = await get_or_404(session, artifact_id)
        storage_name = artifact.storage_name
        await record(
            session,
            action="artifact.deleted",
            actor=actor,
            target_type="artifact",
            target_id=artifact.id,
            details={"host_id": artifact.host_id, "filename": artifact.filename},
            meta=meta,
        )
        await session.delete(artifact)
        await session.commit()
    storage.remove_files(runtime.settings, [storage_name])


async def get_or_404(session: AsyncSession, artifact_id: int) -> Artifact:
    artifact = await repository.get(session, artifact_id)
    if artifact is None:
        raise NotFoundError(
            f"No artifact with id {artifact_id}.", details={"artifact_id": artifact_id}
        )
    return artifact


async def purge_expired(runtime: Runtime) -> int:
    """Delete artifacts past `DOCKYARD_ARTIFACT_RETENTION_DAYS` (rows, then files)."""
    await asyncio.to_thread(storage.remove_stale_parts, runtime.settings, STALE_PART_S)
    days = runtime.settings.artifact_retention_days
    if days <= 0:
        return 0
    before = utcnow() - timedelta(days=days)
    purged = 0
    while True:
        async with runtime.db.session() as session:
            rows = await repository.expired(session, before, PURGE_BATCH)
            if not rows:
                return purged
            names = [r.storage_name for r in rows]
            await record(
                session,
                action="artifact.purged",
                actor=Actor.system("artifact retention"),
                target_type="artifact",
                details={
                    "ids": [r.id for r in rows],
                    "count": len(rows),
                    "retention_days": days,
                },
            )
            for row in rows:
                await session.delete(row)
            await session.commit()
        storage.remove_files(runtime.settings, names)
        purged += len(names)
        log.info("artifacts_purged", count=len(names))


async def retention_job(runtime: Runtime) -> None:
    """The scheduler's periodic artifact purge."""
    await purge_expired(runtime)
