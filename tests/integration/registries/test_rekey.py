"""`dockyard registry rekey`: stored secrets follow a new server secret key."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from dockyard.kit.db import Database
from dockyard.kit.secrets_box import SecretBox
from dockyard.registries.models import Registry
from dockyard.settings import Settings
from tests.conftest import TEST_SECRET_KEY, clean_environ, dockyard_executable, running_app

NEW_KEY = "a-brand-new-server-secret-key-for-rekey-tests-0042"


async def test_rekey_reencrypts_with_the_new_key(
    app_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = app_settings(None)
    async with running_app(settings) as app:
        app.client.headers.update(app.bearer(await app.token()))
        created = await app.client.post(
            "/api/v1/registries",
            json={"name": "r", "url": "r.example", "username": "u", "password": "pw-123"},
        )
        assert created.status_code == 201, created.text

    def run(key: str, stdin: str) -> subprocess.CompletedProcess[str]:
        env = clean_environ(
            DOCKYARD_DATA_DIR=str(settings.data_dir),
            DOCKYARD_SECRET_KEY=key,
            DOCKYARD_LOG_LEVEL="WARNING",
        )
        return subprocess.run(
            [dockyard_executable(), "registry", "rekey", "--old-secret-stdin"],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    wrong = run(NEW_KEY, "not-the-old-key-at-all-0123456789-xyz\n")
    assert wrong.returncode == 1, wrong.stderr
    assert "unreadable 1" in wrong.stdout

    done = run(NEW_KEY, TEST_SECRET_KEY + "\n")
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 1" in done.stdout

    again = run(NEW_KEY, TEST_SECRET_KEY + "\n")
    assert "already current 1" in again.stdout

    db = Database(settings.resolved_database_url)
    try:
        async with db.read_session() as session:
            row = (await session.execute(select(Registry))).scalar_one()
    finally:
        await db.dispose()
    assert row.secret_encrypted is not None
    assert SecretBox(NEW_KEY).decrypt(row.secret_encrypted) == "pw-123"
