"""HTTP routes: SSH credentials, a host's credential and its trusted host key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from dockyard.auth.service import Principal
from dockyard.deps import MetaDep, ReadSessionDep, RuntimeDep, SessionDep, require
from dockyard.kit.secrets_box import SecretBox
from dockyard.runtime import Runtime
from dockyard.ssh import client, service
from dockyard.ssh.schemas import (
    HostCredentialIn,
    HostKeyScanOut,
    HostKeyTrustIn,
    HostSshOut,
    SshCredentialCreate,
    SshCredentialList,
    SshCredentialOut,
    SshCredentialPatch,
)

router = APIRouter(tags=["ssh"])
PREFIX = "/api/v1/ssh-credentials"
HOST = "/api/v1/hosts/{host_id}"


def _box(runtime: Runtime) -> SecretBox:
    return service.secret_box(runtime.auth.secret)


@router.get(PREFIX, response_model=SshCredentialList)
async def list_ssh_credentials(
    _: Annotated[Principal, Depends(require("hosts:read"))], session: ReadSessionDep
) -> SshCredentialList:
    """Stored SSH credentials by name. Secrets are never returned, only `has_secret`."""
    return SshCredentialList(items=await service.list_credentials(session))


@router.post(PREFIX, response_model=SshCredentialOut, status_code=status.HTTP_201_CREATED)
async def create_ssh_credential(
    body: SshCredentialCreate,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
    response: Response,
) -> SshCredentialOut:
    """Store a user with a private key (checked: a wrong passphrase is a 422) or a password,
    encrypted at rest."""
    row = await service.create_credential(session, _box(runtime), body, principal.actor, meta)
    await session.commit()
    response.headers["Location"] = f"{PREFIX}/{row.id}"
    return service.to_out(row)


@router.get(f"{PREFIX}/{{credential_id}}", response_model=SshCredentialOut)
async def get_ssh_credential(
    credential_id: int,
    _: Annotated[Principal, Depends(require("hosts:read"))],
    session: ReadSessionDep,
) -> SshCredentialOut:
    row = await service.get_or_404(session, credential_id)
    return service.to_out(row, (await service.host_counts(session)).get(row.id, 0))


@router.patch(f"{PREFIX}/{{credential_id}}", response_model=SshCredentialOut)
async def update_ssh_credential(
    credential_id: int,
    body: SshCredentialPatch,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> SshCredentialOut:
    """Rename, change the user, or replace the secret (a new key or password)."""
    row = await service.get_or_404(session, credential_id)
    await service.update_credential(session, _box(runtime), row, body, principal.actor, meta)
    await session.commit()
    return service.to_out(row, (await service.host_counts(session)).get(row.id, 0))


@router.delete(f"{PREFIX}/{{credential_id}}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_ssh_credential(
    credential_id: int,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Delete a credential; 409 while hosts use it."""
    row = await service.get_or_404(session, credential_id)
    await service.delete_credential(session, row, principal.actor, meta)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(f"{HOST}/ssh", response_model=HostSshOut)
async def get_host_ssh(
    host_id: int,
    _: Annotated[Principal, Depends(require("hosts:read"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> HostSshOut:
    """The host's credential, trusted host key, bastion, and what still blocks the terminal."""
    host = await service.host_or_404(session, host_id)
    return await service.readiness(session, host, runtime.settings.ssh_idle_timeout_s)


@router.put(f"{HOST}/ssh-credential", response_model=HostSshOut)
async def put_host_ssh_credential(
    host_id: int,
    body: HostCredentialIn,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> HostSshOut:
    """Assign a credential to the host (`null` removes it)."""
    host = await service.host_or_404(session, host_id)
    await service.assign_credential(session, host, body.credential_id, principal.actor, meta)
    await session.commit()
    return await service.readiness(session, host, runtime.settings.ssh_idle_timeout_s)


@router.post(
    f"{HOST}/ssh-hostkey/scan",
    response_model=HostKeyScanOut,
    responses={409: {}, 502: {}, 504: {}},
)
async def scan_host_key(
    host_id: int,
    _: Annotated[Principal, Depends(require("hosts:ssh"))],
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> HostKeyScanOut:
    """Connect to the host's address and port (through its bastion) and report the host key it
    presents: `new` (nothing trusted yet), `trusted` or `mismatch`. Nothing is stored."""
    host = await service.host_or_404(session, host_id)
    target = await service.resolve_target(session, _box(runtime), host, for_scan=True)
    await session.rollback()  # no transaction held open across the network
    facts = await client.scan(target, runtime.settings.ssh_connect_timeout_s)
    trusted = target.endpoint.known_fingerprint
    state = "new" if trusted is None else "trusted" if trusted == facts.fingerprint else "mismatch"
    return HostKeyScanOut(
        address=target.endpoint.address,
        port=target.endpoint.port,
        key_type=facts.key_type,
        fingerprint=facts.fingerprint,
        public_key=facts.public_key,
        status=state,
        trusted_fingerprint=trusted,
    )


@router.post(
    f"{HOST}/ssh-hostkey/trust", response_model=HostSshOut, responses={409: {}, 502: {}, 504: {}}
)
async def trust_host_key(
    host_id: int,
    body: HostKeyTrustIn,
    principal: Annotated[Principal, Depends(require("hosts:ssh"))],
    runtime: RuntimeDep,
    session: SessionDep,
    meta: MetaDep,
) -> HostSshOut:
    """Trust the host key the user confirmed: the host is scanned again and the key stored only
    when its fingerprint is the one given (409 otherwise, or when another key is trusted)."""
    host = await service.host_or_404(session, host_id)
    target = await service.resolve_target(session, _box(runtime), host, for_scan=True)
    await session.rollback()
    facts = await client.scan(target, runtime.settings.ssh_connect_timeout_s)
    if facts.fingerprint != body.fingerprint.strip():
        raise client.SshError(
            f"The host now presents {facts.fingerprint}, not the confirmed "
            f"{body.fingerprint.strip()}: scan again.",
            code="ssh_hostkey_changed",
            status_code=409,
            details={"presented_fingerprint": facts.fingerprint},
        )
    host = await service.host_or_404(session, host_id)
    await service.trust_key(session, host, facts, principal.actor, meta)
    await session.commit()
    return await service.readiness(session, host, runtime.settings.ssh_idle_timeout_s)


@router.delete(f"{HOST}/ssh-hostkey", status_code=status.HTTP_204_NO_CONTENT)
async def delete_host_key(
    host_id: int,
    principal: Annotated[Principal, Depends(require("hosts:manage"))],
    session: SessionDep,
    meta: MetaDep,
) -> Response:
    """Forget the trusted host key (after an expected key change); the next use re-trusts."""
    host = await service.host_or_404(session, host_id)
    await service.forget_key(session, host, principal.actor, meta)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
