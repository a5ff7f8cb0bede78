"""Host artifacts on SQLite and PostgreSQL: upload, list, download, delete, limits, file
names, permissions, retention."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import update

from dockyard.artifacts.models import Artifact
from dockyard.artifacts.service import purge_expired
from dockyard.kit.clock import utcnow
from tests.conftest import LiveApp, add_user, assert_error, audit_rows, running_app, unique_email

BOUNDARY = "----dockyard-test-" + secrets.token_hex(8)


@pytest.fixture
async def admin(api: LiveApp) -> LiveApp:
    api.client.headers.update(api.bearer(await api.token()))
    return api


async def new_host(api: LiveApp) -> int:
    response = await api.client.post(
        "/api/v1/hosts",
        json={"hostname": f"a-{secrets.token_hex(4)}.example.com", "address": "10.0.0.1"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def multipart_head(filename: str, field: str = "file") -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
CONTENT_TYPE = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def artifact_files(api: LiveApp) -> list[Path]:
    folder = api.settings.data_dir / "artifacts"
    return sorted(folder.iterdir()) if folder.exists() else []


async def upload(
    api: LiveApp,
    host_id: int,
    data: bytes,
    filename: str = "a.bin",
    headers: dict[str, str] | None = None,
) -> Any:
    body = multipart_head(filename) + data + TAIL
    return await api.client.post(
        f"/api/v1/hosts/{host_id}/artifacts",
        content=body,
        headers={**CONTENT_TYPE, **(headers or {})},
    )


async def test_upload_list_download_delete(admin: LiveApp) -> None:
    host_id = await new_host(admin)
    # Data that contains the boundary's prefix and CRLFs must pass through untouched.
    data = os.urandom(300_000) + b"\r\n--" + BOUNDARY[:-1].encode() + b"\r\n" + os.urandom(1000)
    response = await upload(admin, host_id, data, filename="backup.tar.gz")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["size"] == len(data)
    assert body["filename"] == "backup.tar.gz"

    files = artifact_files(admin)
    assert len(files) == 1
    assert files[0].name != "backup.tar.gz"
    assert len(files[0].name) == 32
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert files[0].read_bytes() == data

    listed = (await admin.client.get(f"/api/v1/hosts/{host_id}/artifacts")).json()
    assert [a["id"] for a in listed["items"]] == [body["id"]]
    host = (await admin.client.get(f"/api/v1/hosts/{host_id}")).json()
    assert host["artifact_count"] == 1

    download = await admin.client.get(f"/api/v1/artifacts/{body['id']}/download")
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"backup.tar.gz\"; filename*=UTF-8''backup.tar.gz"
    )

    assert (await admin.client.delete(f"/api/v1/artifacts/{body['id']}")).status_code == 204
    assert artifact_files(admin) == []
    assert_error(await admin.client.get(f"/api/v1/artifacts/{body['id']}/download"), 404)
    actions = [r.action for r in await audit_rows(admin, target_type="artifact")]
    assert actions == ["artifact.uploaded", "artifact.downloaded", "artifact.deleted"]


async def test_file_names_are_sanitized(admin: LiveApp) -> None:
    host_id = await new_host(admin)
    cases = {
        "../../etc/passwd": "passwd",
        "..\\..\\windows\\evil.dll": "evil.dll",
        "/abs/path/report.pdf": "report.pdf",
        "bell\x07and\x1bescape.txt": "bellandescape.txt",
        "\u202etxt.exe": "txt.exe",  # right-to-left override removed
        "..": "artifact",
        "": "artifact",
    }
    for raw, expected in cases.items():
        response = await upload(admin, host_id, b"x", filename=raw)
        assert response.status_code == 201, (raw, response.text)
        assert response.json()["filename"] == expected, raw
    for path in artifact_files(admin):
        assert path.parent == admin.settings.data_dir / "artifacts"
    assert not (admin.settings.data_dir / "etc").exists()

    unicode_name = 'rapport d\'été "v2";.txt'
    response = await upload(admin, host_id, b"y", filename=unicode_name.replace('"', "%22"))
    artifact_id = response.json()["id"]
    stored_name = response.json()["filename"]
    disposition = (await admin.client.get(f"/api/v1/artifacts/{artifact_id}/download")).headers[
        "content-disposition"
    ]
    fallback, encoded = disposition.split("; filename*=UTF-8''")
    assert fallback.startswith('attachment; filename="')
    assert fallback.count('"') == 2
    assert all(32 <= ord(c) < 127 for c in fallback)
    assert unquote(encoded) == stored_name


async def test_bad_requests_leave_no_file(admin: LiveApp) -> None:
    host_id = await new_host(admin)
    not_form = await admin.client.post(
        f"/api/v1/hosts/{host_id}/artifacts",
        content=b"raw",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert_error(not_form, 415)
    truncated = await admin.client.post(
        f"/api/v1/hosts/{host_id}/artifacts",
        content=multipart_head("t.bin") + b"no closing boundary",
        headers=CONTENT_TYPE,
    )
    assert_error(truncated, 400, "invalid_multipart")
    other_field = await admin.client.post(
        f"/api/v1/hosts/{host_id}/artifacts",
        content=multipart_head("t.bin", field="other") + b"data" + TAIL,
        headers=CONTENT_TYPE,
    )
    assert_error(other_field, 422)
    assert_error(await upload(admin, 999_999, b"x"), 404)
    assert artifact_files(admin) == []


async def test_over_the_limit_is_413_and_removed(db_url: str, app_settings: Any) -> None:
    async with running_app(app_settings(db_url, artifact_max_bytes=1024 * 1024)) as small:
        small.client.headers.update(small.bearer(await small.token()))
        host_id = await new_host(small)
        seen: list[list[Path]] = []

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: checked while reading
            yield multipart_head("big.bin")
            for _ in range(40):
                yield os.urandom(64 * 1024)
                seen.append(artifact_files(small))
            yield TAIL

        response = await small.client.post(
            f"/api/v1/hosts/{host_id}/artifacts", content=chunked(), headers=CONTENT_TYPE
        )
        error = assert_error(response, 413, "payload_too_large")
        assert error["details"]["max_bytes"] == 1024 * 1024
        assert any(seen), "the upload was never being written to a temporary file"
        assert artifact_files(small) == []
        declared = await upload(small, host_id, os.urandom(2 * 1024 * 1024))
        assert_error(declared, 413, "payload_too_large")
        assert artifact_files(small) == []
        exact = await upload(small, host_id, b"z" * (1024 * 1024))
        assert exact.status_code == 201, exact.text
        assert len(artifact_files(small)) == 1


async def test_permissions(admin: LiveApp) -> None:
    host_id = await new_host(admin)
    stored = (await upload(admin, host_id, b"secret-ish")).json()

    async def bearer(role: str) -> dict[str, str]:
        email, password = unique_email(role), f"{role.title()}-Password-123456"
        await add_user(admin, email, password, role=role)
        return admin.bearer((await admin.login(email, password))["access_token"])

    viewer = await bearer("viewer")
    assert_error(await upload(admin, host_id, b"nope", headers=viewer), 403, "permission_denied")
    assert_error(await admin.client.get(f"/api/v1/hosts/{host_id}/artifacts", headers=viewer), 403)
    auditor = await bearer("auditor")  # reads, but neither uploads nor deletes
    assert_error(await upload(admin, host_id, b"nope", headers=auditor), 403)
    listed = await admin.client.get(f"/api/v1/hosts/{host_id}/artifacts", headers=auditor)
    assert listed.status_code == 200
    download = await admin.client.get(f"/api/v1/artifacts/{stored['id']}/download", headers=auditor)
    assert download.content == b"secret-ish"
    assert_error(
        await admin.client.delete(f"/api/v1/artifacts/{stored['id']}", headers=auditor), 403
    )
    operator = await bearer("operator")
    assert (await upload(admin, host_id, b"ok", headers=operator)).status_code == 201
    assert len(artifact_files(admin)) == 2
    denied = await audit_rows(admin, action="access.denied")
    assert {r.details["permission"] for r in denied} >= {"artifacts:upload", "artifacts:delete"}


async def test_host_delete_and_retention_remove_files(admin: LiveApp) -> None:
    doomed = await new_host(admin)
    kept = await new_host(admin)
    await upload(admin, doomed, b"one")
    old = (await upload(admin, kept, b"old")).json()
    recent = (await upload(admin, kept, b"recent")).json()
    assert len(artifact_files(admin)) == 3
    assert (await admin.client.delete(f"/api/v1/hosts/{doomed}")).status_code == 204
    assert len(artifact_files(admin)) == 2

    runtime = admin.runtime
    assert await purge_expired(runtime) == 0  # retention 0: kept forever
    runtime.settings.artifact_retention_days = 30
    try:
        async with runtime.db.session() as session:
            await session.execute(
                update(Artifact)
                .where(Artifact.id == old["id"])
                .values(created_at=utcnow() - timedelta(days=31))
            )
            await session.commit()
        # A leftover of a crashed upload, older than a day, goes too.
        stale = runtime.settings.data_dir / "artifacts" / ".upload-deadbeef.part"
        stale.write_bytes(b"partial")
        os.utime(stale, (0, 0))
        assert await purge_expired(runtime) == 1
    finally:
        runtime.settings.artifact_retention_days = 0
    left = (await admin.client.get(f"/api/v1/hosts/{kept}/artifacts")).json()["items"]
    assert [a["id"] for a in left] == [recent["id"]]
    assert len(artifact_files(admin)) == 1
    purged = await audit_rows(admin, action="artifact.purged")
    assert purged[0].details["ids"] == [old["id"]]
