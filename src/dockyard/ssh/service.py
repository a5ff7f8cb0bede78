"""SSH credentials (encrypted at rest), their assignment to hosts, trusted host keys, and
resolving a host into a connection target. Callers commit."""

from __future__ import annotations

import json
from typing import Any

import asyncssh
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.hosts import validation
from dockyard.hosts.models import Host
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.kit.secrets_box import SecretBox, SecretBoxError
from dockyard.ssh import keys
from dockyard.ssh.client import Endpoint, Login, SshError, Target
from dockyard.ssh.models import HostSshCredential, SshCredential, SshKnownHost
from dockyard.ssh.schemas import (
    BastionOut,
    HostSshOut,
    KnownHostOut,
    SshCredentialCreate,
    SshCredentialOut,
    SshCredentialPatch,
)

BOX_PURPOSE = "dockyard.ssh.credentials.v1"


def secret_box(secret_key: str) -> SecretBox:
    return SecretBox(secret_key, purpose=BOX_PURPOSE)


def _invalid(field: str, message: str) -> ValidationFailedError:
    path = f"body.{field}"
    return ValidationFailedError(
        f"Invalid value at {path}: {message}.",
        details={"errors": [{"path": path, "message": message}]},
    )


# ---------------------------------------------------------------- credentials


def to_out(row: SshCredential, host_count: int = 0) -> SshCredentialOut:
    return SshCredentialOut(
        id=row.id,
        name=row.name,
        username=row.username,
        auth_type="key" if row.auth_type == "key" else "password",
        has_secret=bool(row.secret_encrypted),
        key_type=row.key_type,
        key_fingerprint=row.key_fingerprint,
        public_key=row.public_key,
        host_count=host_count,
        created_by_label=row.created_by_label,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _audit_view(row: SshCredential) -> dict[str, Any]:
    # No key names that the audit scrubber would blank, and never a secret.
    return {
        "name": row.name,
        "username": row.username,
        "auth_type": row.auth_type,
        "key_type": row.key_type,
        "key_fingerprint": row.key_fingerprint,
    }


def _seal(
    box: SecretBox,
    auth_type: str,
    private_key: str | None,
    passphrase: str | None,
    password: str | None,
) -> tuple[str, keys.KeyFacts | None]:
    """(ciphertext, key facts) of a validated secret; 422 naming the field otherwise."""
    if auth_type == "key":
        if not private_key:
            raise _invalid("private_key", "is required for auth_type key")
        if password:
            raise _invalid("password", "must be empty for auth_type key")
        try:
            key = keys.load_private_key(private_key, passphrase)
        except keys.KeyProblemError as exc:
            raise _invalid(exc.field, exc.message) from None
        payload = {"private_key": private_key.strip() + "\n", "passphrase": passphrase or None}
        return box.encrypt(json.dumps(payload)), keys.describe(key)
    if not password:
        raise _invalid("password", "is required for auth_type password")
    if private_key or passphrase:
        raise _invalid("private_key", "must be empty for auth_type password")
    return box.encrypt(json.dumps({"password": password})), None


async def host_counts(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(
        select(HostSshCredential.credential_id, func.count()).group_by(
            HostSshCredential.credential_id
        )
    )
    return {int(cid): int(n) for cid, n in rows.all()}


async def list_credentials(session: AsyncSession) -> list[SshCredentialOut]:
    rows = (await session.execute(select(SshCredential).order_by(SshCredential.name))).scalars()
    counts = await host_counts(session)
    return [to_out(r, counts.get(r.id, 0)) for r in rows]


async def get_or_404(session: AsyncSession, credential_id: int) -> SshCredential:
    row = await session.get(SshCredential, credential_id)
    if row is None:
        raise NotFoundError(
            f"No SSH credential with id {credential_id}.",
            details={"credential_id": credential_id},
        )
    return row


async def _check_name(session: AsyncSession, name: str, own_id: int | None) -> None:
    existing = (
        await session.execute(select(SshCredential.id).where(SshCredential.name == name))
    ).scalar_one_or_none()
    if existing is not None and existing != own_id:
        raise ConflictError(
            f"An SSH credential named {name} already exists.",
            code="ssh_credential_exists",
            details={"name": name, "credential_id": existing},
        )


async def create_credential(
    session: AsyncSession,
    box: SecretBox,
    body: SshCredentialCreate,
    actor: Actor,
    meta: RequestMeta,
) -> SshCredential:
    await _check_name(session, body.name, None)
    sealed, facts = _seal(box, body.auth_type, body.private_key, body.passphrase, body.password)
    row = SshCredential(
        name=body.name,
        username=body.username,
        auth_type=body.auth_type,
        secret_encrypted=sealed,
        key_type=facts.key_type if facts else None,
        key_fingerprint=facts.fingerprint if facts else None,
        public_key=facts.public_key if facts else None,
        created_by_label=actor.label,
    )
    session.add(row)
    await session.flush()
    await record(
        session,
        action="ssh_credential.created",
        actor=actor,
        target_type="ssh_credential",
        target_id=row.id,
        details=_audit_view(row),
        meta=meta,
    )
    return row


async def update_credential(
    session: AsyncSession,
    box: SecretBox,
    row: SshCredential,
    body: SshCredentialPatch,
    actor: Actor,
    meta: RequestMeta,
) -> SshCredential:
    given = body.model_fields_set
    nulls = sorted(
        n for n in ("name", "username", "auth_type") if n in given and not getattr(body, n)
    )
    if nulls:
        raise _invalid(nulls[0], "may not be null")
    before = _audit_view(row)
    if body.name is not None:
        await _check_name(session, body.name, row.id)
        row.name = body.name
    if body.username is not None:
        row.username = body.username
    auth_type = body.auth_type or row.auth_type
    new_secret = bool(body.private_key or body.password)
    if auth_type != row.auth_type and not new_secret:
        field = "private_key" if auth_type == "key" else "password"
        raise _invalid(field, f"is required to change auth_type to {auth_type}")
    if new_secret or body.passphrase:
        if auth_type == "key" and not body.private_key:
            raise _invalid("private_key", "is required with a new passphrase")
        sealed, facts = _seal(box, auth_type, body.private_key, body.passphrase, body.password)
        row.auth_type = auth_type
        row.secret_encrypted = sealed
        row.key_type = facts.key_type if facts else None
        row.key_fingerprint = facts.fingerprint if facts else None
        row.public_key = facts.public_key if facts else None
    after = _audit_view(row)
    changes = {k: {"from": before[k], "to": after[k]} for k in before if before[k] != after[k]}
    if new_secret:
        changes["secret"] = {"from": "(old)", "to": "(new)"}
    if changes:
        await session.flush()
        await record(
            session,
            action="ssh_credential.updated",
            actor=actor,
            target_type="ssh_credential",
            target_id=row.id,
            details={"name": row.name, "changes": changes},
            meta=meta,
        )
    return row


async def delete_credential(
    session: AsyncSession, row: SshCredential, actor: Actor, meta: RequestMeta
) -> None:
    users = (
        await session.execute(
            select(Host.id, Host.hostname)
            .join(HostSshCredential, HostSshCredential.host_id == Host.id)
            .where(HostSshCredential.credential_id == row.id)
            .order_by(Host.hostname)
        )
    ).all()
    if users:
        names = [str(h) for _, h in users]
        raise ConflictError(
            f"The SSH credential {row.name} is used by {len(users)} host(s) "
            f"({', '.join(names[:5])}); assign them another one first.",
            code="ssh_credential_in_use",
            details={"host_ids": [int(i) for i, _ in users][:100]},
        )
    await record(
        session,
        action="ssh_credential.deleted",
        actor=actor,
        target_type="ssh_credential",
        target_id=row.id,
        details=_audit_view(row),
        meta=meta,
    )
    await session.delete(row)
    await session.flush()


def unseal(box: SecretBox, row: SshCredential) -> Login:
    """The decrypted credential; 409 when the server secret changed since it was stored."""
    try:
        payload = json.loads(box.decrypt(row.secret_encrypted))
    except (SecretBoxError, ValueError):
        raise SshError(
            f"The SSH credential {row.name} cannot be decrypted with the current secret key: "
            "enter its secret again.",
            code="ssh_credential_unreadable",
            status_code=409,
        ) from None
    if row.auth_type == "key":
        try:
            key = keys.load_private_key(payload["private_key"], payload.get("passphrase"))
        except keys.KeyProblemError as exc:
            raise SshError(
                f"The stored key of SSH credential {row.name} cannot be used: {exc.message}.",
                code="ssh_credential_unreadable",
                status_code=409,
            ) from None
        return Login(row.username, "key", private_key=key)
    return Login(row.username, "password", password=str(payload["password"]))


# ---------------------------------------------------------------- hosts


async def host_or_404(session: AsyncSession, host_id: int) -> Host:
    host = await session.get(Host, host_id)
    if host is None:
        raise NotFoundError(f"No host with id {host_id}.", details={"host_id": host_id})
    return host


async def credential_of(session: AsyncSession, host_id: int) -> SshCredential | None:
    return (
        await session.execute(
            select(SshCredential)
            .join(HostSshCredential, HostSshCredential.credential_id == SshCredential.id)
            .where(HostSshCredential.host_id == host_id)
        )
    ).scalar_one_or_none()


async def assign_credential(
    session: AsyncSession,
    host: Host,
    credential_id: int | None,
    actor: Actor,
    meta: RequestMeta,
) -> SshCredential | None:
    current = await credential_of(session, host.id)
    new = None
    if credential_id is not None:
        new = await session.get(SshCredential, credential_id)
        if new is None:
            raise _invalid("credential_id", "no SSH credential has this id")
    if (current.id if current else None) == (new.id if new else None):
        return new
    await session.execute(delete(HostSshCredential).where(HostSshCredential.host_id == host.id))
    if new is not None:
        session.add(HostSshCredential(host_id=host.id, credential_id=new.id))
    await session.flush()
    await record(
        session,
        action="host.ssh_login.assigned",
        actor=actor,
        target_type="host",
        target_id=host.id,
        details={
            "hostname": host.hostname,
            "from": {"id": current.id, "name": current.name} if current else None,
            "to": {"id": new.id, "name": new.name} if new else None,
        },
        meta=meta,
    )
    return new


async def known_host(session: AsyncSession, host: Host) -> SshKnownHost | None:
    """The trusted key for the host's current address and port (None when it moved)."""
    row = await session.get(SshKnownHost, host.id)
    if row is None or row.address != host.address or row.port != host.ssh_port:
        return None
    return row


def known_out(row: SshKnownHost) -> KnownHostOut:
    return KnownHostOut(
        address=row.address,
        port=row.port,
        key_type=row.key_type,
        fingerprint=row.fingerprint,
        trusted_by_label=row.trusted_by_label,
        trusted_at=row.trusted_at,
    )


def parse_bastion(text: str) -> tuple[str, int | None]:
    """(host, port) of `[user@]host[:port]`."""
    rest = text.rpartition("@")[2]
    if rest.startswith("["):
        close = rest.find("]")
        host, tail = rest[1:close], rest[close + 1 :]
        return host.lower(), int(tail[1:]) if tail.startswith(":") else None
    host, sep, port = rest.partition(":")
    return host.lower(), int(port) if sep and port.isdigit() else None


async def bastion_host(session: AsyncSession, host: Host) -> tuple[Host | None, str | None]:
    """(the inventory host the bastion names, or None with the reason)."""
    if not host.bastion:
        return None, None
    name, port = parse_bastion(validation.bastion(host.bastion) or "")
    stmt = select(Host).where(
        (Host.hostname == name) | (func.lower(Host.address) == name), Host.id != host.id
    )
    candidates = list((await session.execute(stmt)).scalars())
    if port is not None:
        candidates = [c for c in candidates if c.ssh_port == port]
    if len(candidates) != 1:
        why = "is not a host of the inventory" if not candidates else "matches several hosts"
        return None, (
            f"The bastion {host.bastion} {why}: add it to the inventory (hostname or address"
            " and SSH port) with an SSH credential, or clear the host's bastion."
        )
    bastion = candidates[0]
    if bastion.bastion:
        return None, f"The bastion {bastion.hostname} has a bastion itself (not supported)."
    return bastion, None


async def readiness(session: AsyncSession, host: Host, idle_timeout_s: int) -> HostSshOut:
    credential = await credential_of(session, host.id)
    known = await known_host(session, host)
    problems: list[str] = []
    if credential is None:
        problems.append("No SSH credential is assigned to this host.")
    if known is None:
        problems.append("The host key is not trusted yet: scan it and confirm its fingerprint.")
    bastion, why = await bastion_host(session, host)
    if why:
        problems.append(why)
    if bastion is not None:
        if await credential_of(session, bastion.id) is None:
            problems.append(f"The bastion {bastion.hostname} has no SSH credential.")
        if await known_host(session, bastion) is None:
            problems.append(f"The bastion {bastion.hostname}'s host key is not trusted yet.")
    counts = await host_counts(session)
    return HostSshOut(
        host_id=host.id,
        credential=to_out(credential, counts.get(credential.id, 0)) if credential else None,
        host_key=known_out(known) if known else None,
        bastion=BastionOut(host_id=bastion.id, hostname=bastion.hostname) if bastion else None,
        problems=problems,
        idle_timeout_s=idle_timeout_s,
    )


async def _endpoint(
    session: AsyncSession, box: SecretBox, host: Host, *, need_login: bool, need_key: bool
) -> Endpoint:
    credential = await credential_of(session, host.id)
    if credential is None and need_login:
        raise SshError(
            f"No SSH credential is assigned to {host.hostname}.",
            code="ssh_no_credential",
            status_code=409,
            details={"host_id": host.id},
        )
    known = await known_host(session, host)
    if known is None and need_key:
        raise SshError(
            f"The host key of {host.hostname} ({host.address}:{host.ssh_port}) is not trusted "
            "yet: scan it and confirm its fingerprint first.",
            code="ssh_hostkey_untrusted",
            status_code=409,
            details={"host_id": host.id},
        )
    return Endpoint(
        host_id=host.id,
        hostname=host.hostname,
        address=host.address,
        port=host.ssh_port,
        login=unseal(box, credential) if credential is not None else None,
        known_key=asyncssh.import_public_key(known.public_key) if known else None,
        known_fingerprint=known.fingerprint if known else None,
    )


async def resolve_target(
    session: AsyncSession, box: SecretBox, host: Host, *, for_scan: bool = False
) -> Target:
    """The host (and its bastion) as a connection target; 409 saying what is missing.

    A scan needs no login or trusted key for the host itself; the bastion always needs both.
    """
    bastion, why = await bastion_host(session, host)
    if why:
        raise SshError(why, code="ssh_bastion_invalid", status_code=409)
    bastion_endpoint = None
    if bastion is not None:
        bastion_endpoint = await _endpoint(session, box, bastion, need_login=True, need_key=True)
    endpoint = await _endpoint(session, box, host, need_login=not for_scan, need_key=not for_scan)
    return Target(endpoint=endpoint, bastion=bastion_endpoint)


async def trust_key(
    session: AsyncSession,
    host: Host,
    facts: keys.KeyFacts,
    actor: Actor,
    meta: RequestMeta,
) -> SshKnownHost:
    row = await session.get(SshKnownHost, host.id)
    if row is not None and row.address == host.address and row.port == host.ssh_port:
        if row.fingerprint == facts.fingerprint:
            return row
        raise SshError(
            f"Host key mismatch for {host.hostname}: {row.fingerprint} is trusted, the server "
            f"presents {facts.fingerprint}. An administrator must delete the stored key first.",
            code="ssh_hostkey_mismatch",
            status_code=409,
            details={
                "trusted_fingerprint": row.fingerprint,
                "presented_fingerprint": facts.fingerprint,
            },
        )
    previous = row.fingerprint if row is not None else None
    if row is None:
        row = SshKnownHost(host_id=host.id)
        session.add(row)
    row.address = host.address
    row.port = host.ssh_port
    row.key_type = facts.key_type
    row.fingerprint = facts.fingerprint
    row.public_key = facts.public_key
    row.trusted_by_label = actor.label
    await session.flush()
    await record(
        session,
        action="host.ssh.hostkey.trusted",
        actor=actor,
        target_type="host",
        target_id=host.id,
        details={
            "hostname": host.hostname,
            "address": host.address,
            "port": host.ssh_port,
            "key_type": facts.key_type,
            "fingerprint": facts.fingerprint,
            "replaced": previous,
        },
        meta=meta,
    )
    return row


async def forget_key(session: AsyncSession, host: Host, actor: Actor, meta: RequestMeta) -> None:
    row = await session.get(SshKnownHost, host.id)
    if row is None:
        raise NotFoundError(
            f"No host key is stored for {host.hostname}.", details={"host_id": host.id}
        )
    await record(
        session,
        action="host.ssh.hostkey.deleted",
        actor=actor,
        target_type="host",
        target_id=host.id,
        details={
            "hostname": host.hostname,
            "address": row.address,
            "port": row.port,
            "key_type": row.key_type,
            "fingerprint": row.fingerprint,
        },
        meta=meta,
    )
    await session.delete(row)
    await session.flush()
