"""`dockyard backup create|restore`: the database, the artifacts and the wrapped secret key.

An archive is a gzip tar holding:

- `manifest.json`: format, Dockyard version, schema revision, database kind, creation time
  and the sha256 and size of every other member;
- the database: SQLite as `database/dockyard.db`, copied with SQLite's online backup API
  (a consistent copy while the server runs); PostgreSQL as `database/tables.jsonl`, a
  logical dump of every table (in foreign-key order) read in one REPEATABLE READ
  transaction, so it is consistent too and restores with no client tools installed;
- `artifacts/...`: the host artifact files;
- `secret_key.json`: the secret key encrypted with a passphrase (scrypt + AES-GCM). The
  key decrypts stored registry passwords and SSH credentials, so it travels with them but
  never in clear.

Restore refuses an archive whose schema is newer than this Dockyard, or whose manifest or
checksums do not match, and restores into the configured database only when it is empty
(or with `--force`). Stop the server before restoring.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import LargeBinary, MetaData, delete, insert, select, text
from sqlalchemy.engine import make_url

from dockyard import __version__
from dockyard.kit.clock import utcnow
from dockyard.kit.db import Base, Database, UTCDateTime
from dockyard.settings import Settings

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/dockyard.db"
LOGICAL_MEMBER = "database/tables.jsonl"
SECRET_MEMBER = "secret_key.json"  # noqa: S105 (a file name)
ARTIFACTS_PREFIX = "artifacts/"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


class BackupError(Exception):
    """A refused or failed backup or restore (the message says why)."""


@dataclass
class RestoreResult:
    schema_revision: str
    database_kind: str
    artifacts: int
    secret_key_restored: bool
    warnings: list[str]


# ---------------------------------------------------------------- helpers


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def head_revision(database_url: str) -> str:
    from alembic.script import ScriptDirectory

    from dockyard.migrations.runner import alembic_config

    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    return str(head)


def known_revisions(database_url: str) -> set[str]:
    from alembic.script import ScriptDirectory

    from dockyard.migrations.runner import alembic_config

    script = ScriptDirectory.from_config(alembic_config(database_url))
    return {rev.revision for rev in script.walk_revisions()}


def _kdf(salt: bytes) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)


def wrap_secret(secret: str, passphrase: str) -> dict[str, Any]:
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _kdf(salt).derive(passphrase.encode())
    ciphertext = AESGCM(key).encrypt(nonce, secret.encode(), b"dockyard-backup-secret-key")
    return {
        "kdf": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": base64.b64encode(salt).decode(),
        "cipher": "aes-256-gcm",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }


def unwrap_secret(wrapped: dict[str, Any], passphrase: str) -> str:
    try:
        salt = base64.b64decode(wrapped["salt"])
        key = Scrypt(
            salt=salt, length=32, n=int(wrapped["n"]), r=int(wrapped["r"]), p=int(wrapped["p"])
        ).derive(passphrase.encode())
        plain = AESGCM(key).decrypt(
            base64.b64decode(wrapped["nonce"]),
            base64.b64decode(wrapped["ciphertext"]),
            b"dockyard-backup-secret-key",
        )
    except InvalidTag as exc:
        raise BackupError("wrong passphrase (or a corrupt secret key part)") from exc
    except (KeyError, ValueError, TypeError) as exc:
        raise BackupError("the secret key part of the archive is malformed") from exc
    return plain.decode()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def _from_json(column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, UTCDateTime) or column.type.python_type is datetime:
        return datetime.fromisoformat(value)
    if isinstance(column.type, LargeBinary):
        return base64.b64decode(value)
    return value


def _metadata() -> MetaData:
    from dockyard.models import import_all_models

    import_all_models()
    return Base.metadata


async def _database_revision(db: Database) -> str | None:
    async with db.read_engine.connect() as conn:
        try:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        except Exception:
            return None
    return str(row[0]) if row else None


# ---------------------------------------------------------------- create


def _sqlite_copy(database_url: str, target: Path) -> None:
    source_path = make_url(database_url).database
    if not source_path:
        raise BackupError("the SQLite database has no file path")
    source = sqlite3.connect(source_path)
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)  # consistent, even while the server writes
        finally:
            dest.close()
    finally:
        source.close()


async def _logical_dump(db: Database, target: Path) -> None:
    metadata = _metadata()
    async with db.engine.connect() as conn:
        if db.kind == "postgresql":
            await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        with target.open("w") as out:
            for table in metadata.sorted_tables:
                pk = list(table.primary_key.columns)
                result = await conn.stream(select(table).order_by(*pk))
                async for row in result:
                    values = {str(k): _jsonable(v) for k, v in row._mapping.items()}
                    record = {"table": table.name, "row": values}
                    out.write(json.dumps(record, sort_keys=True) + "\n")
        await conn.rollback()


def create_backup(settings: Settings, output: Path, passphrase: str) -> dict[str, Any]:
    """Write the archive to `output`; return its manifest."""
    url = settings.resolved_database_url
    db_kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    with tempfile.TemporaryDirectory(prefix="dockyard-backup-") as tmp:
        work = Path(tmp)
        (work / "database").mkdir()

        async def dump() -> str | None:
            db = Database(url)
            try:
                revision = await _database_revision(db)
                if db_kind == "postgresql":
                    await _logical_dump(db, work / LOGICAL_MEMBER)
                return revision
            finally:
                await db.dispose()

        revision = asyncio.run(dump())
        if revision is None:
            raise BackupError("the database has no schema yet: nothing to back up")
        if db_kind == "sqlite":
            _sqlite_copy(url, work / SQLITE_MEMBER)
        members: list[tuple[str, Path]] = [
            (
                SQLITE_MEMBER if db_kind == "sqlite" else LOGICAL_MEMBER,
                work / (SQLITE_MEMBER if db_kind == "sqlite" else LOGICAL_MEMBER),
            ),
        ]
        secret = settings.load_secret_key()
        (work / SECRET_MEMBER).write_text(json.dumps(wrap_secret(secret, passphrase)))
        members.append((SECRET_MEMBER, work / SECRET_MEMBER))
        artifacts = settings.data_dir / "artifacts"
        if artifacts.is_dir():
            for path in sorted(artifacts.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    rel = path.relative_to(artifacts).as_posix()
                    if not path.name.startswith(".upload-"):  # unfinished uploads
                        members.append((ARTIFACTS_PREFIX + rel, path))
        manifest = {
            "format": FORMAT,
            "dockyard_version": __version__,
            "schema_revision": revision,
            "database_kind": db_kind,
            "created_at": utcnow().isoformat(),
            "secret_key_source": "env" if settings.secret_key is not None else "file",
            "parts": {
                name: {"sha256": _sha256_file(path), "size": path.stat().st_size}
                for name, path in members
            },
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
            for name, path in members:
                info = tar.gettarinfo(str(path), arcname=name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = 0o600
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
        partial.replace(output)
        return manifest


# ---------------------------------------------------------------- restore


def _extract(archive: Path, into: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            names = tar.getnames()
            if MANIFEST not in names:
                raise BackupError("not a Dockyard backup: no manifest.json")
            manifest_file = tar.extractfile(MANIFEST)
            if manifest_file is None:
                raise BackupError("the manifest is not a file")
            manifest: dict[str, Any] = json.loads(manifest_file.read())
            parts = manifest.get("parts")
            if manifest.get("format") != FORMAT or not isinstance(parts, dict):
                raise BackupError(f"unsupported backup format {manifest.get('format')!r}")
            unexpected = sorted(set(names) - set(parts) - {MANIFEST})
            if unexpected:
                raise BackupError(f"unexpected member {unexpected[0]!r} in the archive")
            missing = sorted(set(parts) - set(names))
            if missing:
                raise BackupError(f"the archive lacks {missing[0]!r}")
            tar.extractall(into, members=[tar.getmember(n) for n in parts], filter="data")
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BackupError(f"corrupt archive: {exc}") from exc
    for name, part in parts.items():
        path = into / name
        if not path.is_file() or _sha256_file(path) != part.get("sha256"):
            raise BackupError(f"corrupt archive: checksum mismatch for {name}")
    return manifest


async def _is_empty(db: Database) -> bool:
    """No user rows yet (a fresh, maybe migrated, database)."""
    async with db.read_engine.connect() as conn:
        try:
            count = (await conn.execute(text("SELECT count(*) FROM users"))).scalar_one()
        except Exception:
            return True
    return int(count) == 0


async def _logical_restore(db: Database, source: Path) -> None:
    metadata = _metadata()
    tables = {t.name: t for t in metadata.sorted_tables}
    async with db.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(delete(table))
        batch: list[dict[str, Any]] = []
        current: str | None = None

        async def flush() -> None:
            if batch and current is not None:
                await conn.execute(insert(tables[current]), batch)
            batch.clear()

        with source.open() as handle:
            for line in handle:
                record = json.loads(line)
                name = record["table"]
                if name not in tables:
                    raise BackupError(f"the dump has an unknown table {name!r}")
                if name != current:
                    await flush()
                    current = name
                table = tables[name]
                batch.append({k: _from_json(table.columns[k], v) for k, v in record["row"].items()})
                if len(batch) >= 500:
                    await flush()
            await flush()
        if db.kind == "postgresql":
            for table in metadata.sorted_tables:
                await _reset_sequence(conn, table)


async def _reset_sequence(conn: Any, table: Any) -> None:
    """Point a serial primary key's sequence past the restored rows (PostgreSQL)."""
    pk = list(table.primary_key.columns)
    if len(pk) != 1:
        return
    try:
        is_int = pk[0].type.python_type is int
    except NotImplementedError:
        is_int = False
    if not is_int:
        return
    # Names come from our own metadata, never from input.
    sql = (
        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "  # noqa: S608
        f"COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"
    )
    await conn.execute(text(sql))


def restore_backup(
    settings: Settings, archive: Path, passphrase: str, *, force: bool = False
) -> RestoreResult:
    """Restore `archive` into the configured database and data dir."""
    from dockyard.migrations.runner import upgrade

    url = settings.resolved_database_url
    db_kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dockyard-restore-") as tmp:
        work = Path(tmp)
        manifest = _extract(archive, work)
        revision = str(manifest.get("schema_revision"))
        if revision not in known_revisions(url):
            raise BackupError(
                f"the backup's schema ({revision}) is newer than this Dockyard "
                f"({head_revision(url)}): upgrade Dockyard first"
            )
        secret = unwrap_secret(json.loads((work / SECRET_MEMBER).read_text()), passphrase)
        if manifest.get("database_kind") != db_kind:
            raise BackupError(
                f"the backup holds a {manifest.get('database_kind')} database but "
                f"{db_kind} is configured"
            )
        settings.ensure_data_dir()

        async def check_empty() -> bool:
            db = Database(url)
            try:
                return await _is_empty(db)
            finally:
                await db.dispose()

        if not force and not asyncio.run(check_empty()):
            raise BackupError(
                "the configured database is not empty: restore into an empty one or use --force"
            )
        if db_kind == "sqlite":
            target = make_url(url).database
            if not target:
                raise BackupError("the SQLite database has no file path")
            for suffix in ("", "-wal", "-shm"):
                Path(target + suffix).unlink(missing_ok=True)
            shutil.copyfile(work / SQLITE_MEMBER, target)
            os.chmod(target, 0o600)
            upgrade(url)
        else:
            if revision != head_revision(url):
                raise BackupError(
                    f"a PostgreSQL backup restores into the same schema revision only "
                    f"({revision}; this Dockyard has {head_revision(url)})"
                )
            upgrade(url)

            async def load() -> None:
                db = Database(url)
                try:
                    await _logical_restore(db, work / LOGICAL_MEMBER)
                finally:
                    await db.dispose()

            asyncio.run(load())
        artifacts = settings.data_dir / "artifacts"
        count = 0
        source = work / "artifacts"
        if source.is_dir():
            artifacts.mkdir(mode=0o700, exist_ok=True)
            for path in source.rglob("*"):
                if path.is_file():
                    dest = artifacts / path.relative_to(source)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, dest)
                    os.chmod(dest, 0o600)
                    count += 1
        restored_key = False
        if settings.secret_key is not None:
            if settings.secret_key.get_secret_value() != secret:
                warnings.append(
                    "DOCKYARD_SECRET_KEY differs from the backed-up key: set it to the "
                    "backed-up key (or run `dockyard registry rekey`) or stored secrets "
                    "will not decrypt"
                )
        else:
            key_path = settings.data_dir / "secret_key"
            key_path.unlink(missing_ok=True)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secret + "\n")
            restored_key = True
        return RestoreResult(
            schema_revision=revision,
            database_kind=db_kind,
            artifacts=count,
            secret_key_restored=restored_key,
            warnings=warnings,
        )
