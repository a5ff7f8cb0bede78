"""`dockyard config export|import` against a real server process, and `dockyard backup
create|restore` (both backends): backup while running, wipe, restore, audit verify passes
and the services are listed as before; corrupt archives and wrong passphrases refused."""

from __future__ import annotations

import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    DatabaseFactory,
    clean_environ,
    dockyard_executable,
)
from tests.integration.services.conftest import free_port

DOC = """\
version: 1
kinds:
  hosts:
    - hostname: cli-1.example.com
      address: 10.9.0.1
      tags: [cli]
  services:
    - name: cli-web
      description: from the CLI
      definition:
        services:
          app:
            image: busybox:1
            command: [sleep, "3600"]
    - name: cli-worker
      definition:
        services:
          app:
            image: busybox:1
"""


def server_env(data: Path, database_url: str | None = None) -> dict[str, str]:
    extra = {
        "DOCKYARD_DATA_DIR": str(data),
        "DOCKYARD_ADMIN_EMAIL": ADMIN_EMAIL,
        "DOCKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DOCKYARD_DOCKER_HOST": os.environ.get(
            "DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"
        ),
    }
    if database_url:
        extra["DOCKYARD_DATABASE_URL"] = database_url
    return clean_environ(**extra)


@contextmanager
def serve(env: dict[str, str], data: Path) -> Iterator[str]:
    port = free_port()
    log = (data / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [dockyard_executable(), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def run(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dockyard_executable(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def login(url: str, config: Path) -> dict[str, str]:
    env = clean_environ(DOCKYARD_CONFIG_DIR=str(config))
    ok(
        run(
            env,
            "login",
            "--server",
            url,
            "--email",
            ADMIN_EMAIL,
            "--password-stdin",
            stdin=ADMIN_PASSWORD + "\n",
        )
    )
    return env


def service_names(url: str) -> list[str]:
    token = httpx.post(
        f"{url}/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    page = httpx.get(f"{url}/api/v1/services", headers={"Authorization": f"Bearer {token}"}).json()
    return sorted(s["name"] for s in page["items"])


def test_config_export_import_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with serve(server_env(data), data) as url:
        env = login(url, tmp_path / "cfg")
        doc = tmp_path / "doc.yaml"
        doc.write_text(DOC)
        planned = ok(run(env, "config", "import", str(doc), "--dry-run"))
        assert "added    hosts              cli-1.example.com" in planned
        assert "would apply 3 change(s)" in planned
        assert service_names(url) == []
        applied = ok(run(env, "config", "import", str(doc)))
        assert "applied 3 change(s)" in applied
        assert service_names(url) == ["cli-web", "cli-worker"]
        out = tmp_path / "export.yaml"
        ok(run(env, "config", "export", "-o", str(out)))
        exported = yaml.safe_load(out.read_text())
        assert [s["name"] for s in exported["kinds"]["services"]] == ["cli-web", "cli-worker"]
        scoped = yaml.safe_load(ok(run(env, "config", "export", "--kinds", "hosts")))
        assert list(scoped["kinds"]) == ["hosts"]
        # A broken document: the error names the path, exit 1, nothing applied.
        bad = tmp_path / "bad.yaml"
        bad.write_text(DOC.replace("address: 10.9.0.1", "address: 10.9.0.1\n      colour: red"))
        result = run(env, "config", "import", str(bad), "--prune")
        assert result.returncode == 1
        assert "kinds.hosts[0].colour" in result.stderr
        # Importing the export again changes nothing.
        assert "applied 0 change(s)" in ok(run(env, "config", "import", str(out)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_backup_wipe_restore(
    backend: str, tmp_path: Path, database_factory: DatabaseFactory
) -> None:
    source_url = await database_factory.new(backend) if backend == "postgresql" else None
    data = tmp_path / "data"
    data.mkdir()
    pass_file = tmp_path / "pass"
    pass_file.write_text("correct horse battery\n")
    archive = tmp_path / "backup.tar.gz"
    source_env = server_env(data, source_url)
    with serve(source_env, data) as url:
        env = login(url, tmp_path / "cfg")
        doc = tmp_path / "doc.yaml"
        doc.write_text(DOC)
        ok(run(env, "config", "import", str(doc)))
        before = service_names(url)
        assert before == ["cli-web", "cli-worker"]
        (data / "artifacts").mkdir(exist_ok=True)
        (data / "artifacts" / ("a" * 32)).write_bytes(b"artifact bytes")
        # While the server runs.
        made = ok(
            run(source_env, "backup", "create", str(archive), "--passphrase-file", str(pass_file))
        )
        assert "wrote" in made
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "manifest.json" in names
    assert "secret_key.json" in names
    assert f"artifacts/{'a' * 32}" in names

    # Wipe: a new data dir and an empty database.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    target_url = await database_factory.new_empty_postgres() if backend == "postgresql" else None
    target_env = server_env(fresh, target_url)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    refused = run(target_env, "backup", "restore", str(archive), "--passphrase-file", str(wrong))
    assert refused.returncode == 1
    assert "wrong passphrase" in refused.stderr
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    refused = run(
        target_env, "backup", "restore", str(corrupt), "--passphrase-file", str(pass_file)
    )
    assert refused.returncode == 1
    assert "corrupt" in refused.stderr

    ok(run(target_env, "backup", "restore", str(archive), "--passphrase-file", str(pass_file)))
    assert "audit chain OK" in ok(run(target_env, "audit", "verify"))
    assert (fresh / "artifacts" / ("a" * 32)).read_bytes() == b"artifact bytes"
    assert (fresh / "secret_key").read_text() == (data / "secret_key").read_text()
    # A second restore onto the now non-empty database is refused without --force.
    again = run(target_env, "backup", "restore", str(archive), "--passphrase-file", str(pass_file))
    assert again.returncode == 1
    assert "not empty" in again.stderr
    with serve(target_env, fresh) as url:
        assert service_names(url) == before
