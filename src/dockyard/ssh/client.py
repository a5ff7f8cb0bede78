"""Opening SSH connections to inventory hosts with asyncssh: known host keys only, a bastion
from the inventory, timeouts, and errors that say what went wrong (never with a secret).

Nothing here reads `~/.ssh` (config, keys, known_hosts) or an SSH agent of the server
process: every connection uses only the stored credential and the stored host key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncssh

from dockyard.kit.errors import DockyardError
from dockyard.ssh.keys import KeyFacts, describe

NEW_HOST_KEY_ALGS = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
)


@dataclass(frozen=True)
class Login:
    """A decrypted credential, held only for the duration of a connection."""

    username: str
    auth_type: str
    private_key: asyncssh.SSHKey | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print a secret
        return f"Login(username={self.username!r}, auth_type={self.auth_type!r})"


@dataclass(frozen=True)
class Endpoint:
    """One inventory host as a connection target."""

    host_id: int
    hostname: str
    address: str
    port: int
    login: Login | None
    known_key: asyncssh.SSHKey | None
    known_fingerprint: str | None

    @property
    def label(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass(frozen=True)
class Target:
    endpoint: Endpoint
    bastion: Endpoint | None = None


class SshError(DockyardError):
    """An SSH connection failed; `code` says how (502 unless said otherwise)."""

    status_code = 502
    code = "ssh_error"


def hostkey_mismatch(endpoint: Endpoint, presented: KeyFacts | None, reason: str = "") -> SshError:
    new = presented.fingerprint if presented else None
    message = (
        f"Host key mismatch for {endpoint.hostname} ({endpoint.label}): the trusted key is "
        f"{endpoint.known_fingerprint}, the server now presents "
        + (f"{presented.key_type} {new}" if presented else reason or "a different key")
        + ". Refusing to connect; if the change is expected, an administrator can delete "
        "the stored key and trust the new one."
    )
    return SshError(
        message,
        code="ssh_hostkey_mismatch",
        status_code=409,
        details={
            "host_id": endpoint.host_id,
            "trusted_fingerprint": endpoint.known_fingerprint,
            "presented_fingerprint": new,
            "presented_key_type": presented.key_type if presented else None,
        },
    )


class _Client(asyncssh.SSHClient):
    """Remembers the host key the server presented when it was not the trusted one."""

    def __init__(self) -> None:
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.presented = key
        return False


def _base_options(timeout_s: float) -> dict[str, Any]:
    return {
        "config": None,
        "agent_path": None,
        "gss_host": None,
        "x509_trusted_certs": None,
        "connect_timeout": timeout_s,
        "login_timeout": timeout_s,
        "keepalive_interval": 30,
        "keepalive_count_max": 4,
    }


def _login_options(login: Login) -> dict[str, Any]:
    if login.auth_type == "key":
        return {
            "username": login.username,
            "client_keys": [login.private_key],
            "password": None,
            "kbdint_auth": False,
            "preferred_auth": "publickey",
        }
    return {
        "username": login.username,
        "client_keys": None,
        "password": login.password,
        "preferred_auth": "password,keyboard-interactive",
    }


def _translate(endpoint: Endpoint, exc: BaseException, client: _Client | None) -> SshError:
    where = f"{endpoint.hostname} ({endpoint.label})"
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        presented = describe(client.presented) if client and client.presented else None
        return hostkey_mismatch(endpoint, presented)
    if isinstance(exc, asyncssh.KeyExchangeFailed) and endpoint.known_key is not None:
        return hostkey_mismatch(
            endpoint,
            None,
            f"no {endpoint.known_key.get_algorithm()} host key any more ({exc.reason})",
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        user = endpoint.login.username if endpoint.login else "?"
        kind = "key" if endpoint.login and endpoint.login.auth_type == "key" else "password"
        return SshError(
            f"Authentication failed on {where}: the server refused the {kind} of user {user}.",
            code="ssh_auth_failed",
            details={"host_id": endpoint.host_id, "username": user},
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return SshError(
            f"Connecting to {where} timed out.",
            code="ssh_timeout",
            status_code=504,
            details={"host_id": endpoint.host_id},
        )
    if isinstance(exc, asyncssh.Error):
        return SshError(
            f"SSH to {where} failed: {exc.reason}",
            code="ssh_error",
            details={"host_id": endpoint.host_id},
        )
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return SshError(
            f"Cannot connect to {where}: {reason}.",
            code="ssh_unreachable",
            details={"host_id": endpoint.host_id},
        )
    return SshError(f"SSH to {where} failed.", code="ssh_error")


async def _connect_one(
    endpoint: Endpoint, timeout_s: float, tunnel: asyncssh.SSHClientConnection | None
) -> asyncssh.SSHClientConnection:
    assert endpoint.login is not None
    assert endpoint.known_key is not None
    client = _Client()
    try:
        conn, _ = await asyncio.wait_for(
            asyncssh.create_connection(
                lambda: client,
                endpoint.address,
                endpoint.port,
                tunnel=tunnel if tunnel is not None else (),
                known_hosts=([endpoint.known_key], [], []),
                **_base_options(timeout_s),
                **_login_options(endpoint.login),
            ),
            timeout_s * 2,
        )
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise _translate(endpoint, exc, client) from None
    return conn


@contextlib.asynccontextmanager
async def connect(target: Target, timeout_s: float) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """An authenticated connection to the target (through its bastion), closed on exit."""
    bastion_conn: asyncssh.SSHClientConnection | None = None
    conn: asyncssh.SSHClientConnection | None = None
    try:
        if target.bastion is not None:
            bastion_conn = await _connect_one(target.bastion, timeout_s, None)
        conn = await _connect_one(target.endpoint, timeout_s, bastion_conn)
        yield conn
    finally:
        for c in (conn, bastion_conn):
            if c is not None:
                c.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.wait_closed(), 5)


async def scan(target: Target, timeout_s: float) -> KeyFacts:
    """The host key the target's server presents now (through its bastion, if any).

    With a trusted key, the same key type is asked for, so the answer compares like with like.
    """
    endpoint = target.endpoint
    bastion_conn: asyncssh.SSHClientConnection | None = None
    try:
        if target.bastion is not None:
            bastion_conn = await _connect_one(target.bastion, timeout_s, None)
        # Nothing trusted yet: OpenSSH's preference, so the fingerprint is the one `ssh` shows.
        algs: Any = list(NEW_HOST_KEY_ALGS)
        if endpoint.known_key is not None:
            algs = [a.decode() for a in endpoint.known_key.sig_algorithms]
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(
                    endpoint.address,
                    endpoint.port,
                    tunnel=bastion_conn if bastion_conn is not None else (),
                    server_host_key_algs=algs,
                    config=None,
                ),
                timeout_s,
            )
        except asyncssh.KeyExchangeFailed as exc:
            if endpoint.known_key is not None:
                raise hostkey_mismatch(
                    endpoint,
                    None,
                    f"no {endpoint.known_key.get_algorithm()} host key any more ({exc.reason})",
                ) from None
            raise _translate(endpoint, exc, None) from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise _translate(endpoint, exc, None) from None
        if key is None:
            raise SshError(f"{endpoint.label} presented no host key.", code="ssh_error")
        return describe(key)
    finally:
        if bastion_conn is not None:
            bastion_conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(bastion_conn.wait_closed(), 5)
