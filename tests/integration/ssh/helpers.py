"""The test sshd of scripts/test-env.sh, as the SSH tests see it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from tests.conftest import require_env


@dataclass(frozen=True)
class SshEnv:
    host: str
    port: int
    user: str
    key_path: str
    password: str
    host_key_dir: str

    @property
    def key_text(self) -> str:
        return Path(self.key_path).read_text()


def ssh_env() -> SshEnv:
    return SshEnv(
        host=require_env("DOCKYARD_TEST_SSH_HOST"),
        port=int(require_env("DOCKYARD_TEST_SSH_PORT")),
        user=require_env("DOCKYARD_TEST_SSH_USER"),
        key_path=require_env("DOCKYARD_TEST_SSH_KEY"),
        password=require_env("DOCKYARD_TEST_SSH_PASSWORD"),
        host_key_dir=require_env("DOCKYARD_TEST_SSH_HOST_KEY_DIR"),
    )


def host_key_fingerprints() -> set[str]:
    """SHA-256 fingerprints of the test sshd's own host keys (read from its key files)."""
    directory = Path(ssh_env().host_key_dir)
    found = {
        asyncssh.read_public_key(str(p)).get_fingerprint("sha256")
        for p in directory.glob("ssh_host_*_key.pub")
    }
    assert found, f"no host keys in {directory}"
    return found


def unique_host() -> str:
    return f"ssh-{secrets.token_hex(4)}.example.com"
