"""Host inventory logic: CRUD, bulk tags, SSH command templates. Callers commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.auth.service import Principal
from dockyard.hosts import repository, ssh, validation
from dockyard.hosts.models import Host, SshTemplate
from dockyard.hosts.schemas import HostCreate, HostOut, HostPatch
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.nodes.models import Node
from dockyard.users.models import User

AUDITED_FIELDS = (
    "hostname",
    "address",
    "ssh_port",
    "ssh_user",
    "bastion",
    "environment",
    "tags",
    "notes",
    "owner_id",
    "node_id",
    "ssh_template",
)


def to_out(host: Host, artifact_count: int = 0) -> HostOut:
    return HostOut(
        id=host.id,
        hostname=host.hostname,
        address=host.address,
        ssh_port=host.ssh_port,
        ssh_user=host.ssh_user,
        bastion=host.bastion,
        environment=host.environment,
        tags=validation.unpack_tags(host.tags),
        notes=host.notes,
        owner_id=host.owner_id,
        node_id=host.node_id,
        ssh_template=host.ssh_template,
        artifact_count=artifact_count,
        created_at=host.created_at,
        updated_at=host.updated_at,
    )


async def get_or_404(session: AsyncSession, host_id: int) -> Host:
    host = await repository.get(session, host_id)
    if host is None:
        raise NotFoundError(f"No host with id {host_id}.", details={"host_id": host_id})
    return host


async def _check_refs(session: AsyncSession, owner_id: int | None, node_id: int | None) -> None:
    errors = []
    if owner_id is not None and await session.get(User, owner_id) is None:
        errors.append({"path": "body.owner_id", "message": "no user has this id"})
    if node_id is not None and await session.get(Node, node_id) is None:
        errors.append({"path": "body.node_id", "message": "no node has this id"})
    if errors:
        raise ValidationFailedError(
            f"Invalid value at {errors[0]['path']}: {errors[0]['message']}.",
            details={"errors": errors},
        )


async def _check_unique(session: AsyncSession, hostname: str, host_id: int | None) -> None:
    existing = await repository.by_hostname(session, hostname)
    if existing is not None and existing.id != host_id:
        raise ConflictError(
            f"A host named {hostname} already exists.",
            code="host_exists",
            details={"hostname": hostname, "host_id": existing.id},
        )


def _snapshot(host: Host) -> dict[str, Any]:
    values = {name: getattr(host, name) for name in AUDITED_FIELDS}
    values["tags"] = validation.unpack_tags(host.tags)
    return values


async def create_host(
    session: AsyncSession, body: HostCreate, principal: Principal, meta: RequestMeta
) -> Host:
    owner_id = body.owner_id if body.owner_id is not None else principal.user.id
    await _check_refs(session, owner_id, body.node_id)
    await _check_unique(session, body.hostname, None)
    host = Host(
        hostname=body.hostname,
        address=body.address,
        ssh_port=body.ssh_port,
        ssh_user=body.ssh_user,
        bastion=body.bastion,
        environment=body.environment,
        tags=validation.pack_tags(body.tags),
        notes=body.notes,
        owner_id=owner_id,
        node_id=body.node_id,
        ssh_template=body.ssh_template,
    )
    session.add(host)
    await session.flush()
    await record(
        session,
        action="host.created",
        actor=principal.actor,
        target_type="host",
        target_id=host.id,
        details=_snapshot(host),
        meta=meta,
    )
    return host


async def update_host(
    session: AsyncSession, host: Host, body: HostPatch, actor: Actor, meta: RequestMeta
) -> Host:
    given = body.model_fields_set
    required = {"hostname", "address", "ssh_port", "tags", "notes"}
    nulls = [name for name in required & given if getattr(body, name) is None]
    if nulls:
        errors = [{"path": f"body.{name}", "message": "may not be null"} for name in sorted(nulls)]
        raise ValidationFailedError(
            f"Invalid value at {errors[0]['path']}: may not be null.", details={"errors": errors}
        )
    await _check_refs(
        session,
        body.owner_id if "owner_id" in given else None,
        body.node_id if "node_id" in given else None,
    )
    if body.hostname is not None:
        await _check_unique(session, body.hostname, host.id)
    before = _snapshot(host)
    for name in given:
        value = getattr(body, name)
        setattr(host, name, validation.pack_tags(value) if name == "tags" else value)
    after = _snapshot(host)
    changes = {
        k: {"from": before[k], "to": after[k]} for k in AUDITED_FIELDS if before[k] != after[k]
    }
    if changes:
        await session.flush()
        await record(
            session,
            action="host.updated",
            actor=actor,
            target_type="host",
            target_id=host.id,
            details={"hostname": host.hostname, "changes": changes},
            meta=meta,
        )
    return host


async def delete_host(
    session: AsyncSession, host: Host, actor: Actor, meta: RequestMeta
) -> list[str]:
    """Delete the host and its artifacts' rows; returns the files to remove after commit."""
    from dockyard.artifacts import repository as artifacts_repository

    storage_names = await artifacts_repository.storage_names_of_host(session, host.id)
    await record(
        session,
        action="host.deleted",
        actor=actor,
        target_type="host",
        target_id=host.id,
        details={"hostname": host.hostname, "artifacts": len(storage_names)},
        meta=meta,
    )
    await artifacts_repository.delete_of_host(session, host.id)
    await session.delete(host)
    await session.flush()
    return storage_names


async def bulk_tag(
    session: AsyncSession,
    ids: list[int],
    add: list[str],
    remove: list[str],
    actor: Actor,
    meta: RequestMeta,
) -> int:
    wanted = sorted(set(ids))
    hosts: list[Host] = []
    for start in range(0, len(wanted), 500):
        hosts.extend(await repository.by_ids(session, wanted[start : start + 500]))
    missing = sorted(set(wanted) - {h.id for h in hosts})
    if missing:
        raise NotFoundError(
            f"No host with id {missing[0]}.", details={"missing_ids": missing[:100]}
        )
    updated = 0
    for host in hosts:
        current = validation.unpack_tags(host.tags)
        new = [t for t in current if t not in remove] + [
            t for t in add if t not in current and t not in remove
        ]
        if len(new) > validation.MAX_TAGS:
            raise ValidationFailedError(
                f"Host {host.hostname} would have more than {validation.MAX_TAGS} tags.",
                details={"errors": [{"path": "body.add", "message": "too many tags"}]},
            )
        if new != current:
            host.tags = validation.pack_tags(new)
            updated += 1
    await session.flush()
    await record(
        session,
        action="host.bulk_tagged",
        actor=actor,
        target_type="host",
        details={"ids": wanted[:1000], "count": len(wanted), "add": add, "remove": remove},
        meta=meta,
    )
    return updated


# ---------------------------------------------------------------- SSH


async def global_template(session: AsyncSession) -> SshTemplate | None:
    return await repository.template(session, ssh.GLOBAL_KEY)


async def set_global_template(
    session: AsyncSession, template: str, actor: Actor, meta: RequestMeta
) -> SshTemplate:
    row = await repository.template(session, ssh.GLOBAL_KEY)
    before = row.template if row is not None else ssh.DEFAULT_TEMPLATE
    if row is None:
        row = SshTemplate(key=ssh.GLOBAL_KEY, template=template, updated_by_label=actor.label)
        session.add(row)
    else:
        row.template = template
        row.updated_by_label = actor.label
    await session.flush()
    await record(
        session,
        action="host.ssh_template.updated",
        actor=actor,
        target_type="ssh_template",
        target_id=ssh.GLOBAL_KEY,
        details={"from": before, "to": template},
        meta=meta,
    )
    return row


async def ssh_command(session: AsyncSession, host: Host) -> str:
    template = host.ssh_template
    if template is None:
        row = await global_template(session)
        template = row.template if row is not None else ssh.DEFAULT_TEMPLATE
    return ssh.render(
        template,
        {
            "user": host.ssh_user,
            "host": host.address,
            "port": str(host.ssh_port),
            "bastion": host.bastion,
        },
    )
