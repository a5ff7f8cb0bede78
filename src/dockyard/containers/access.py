"""Which containers a caller may open: admins any container, others their services' ones."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from dockyard.access.service import sees_all, service_permissions
from dockyard.audit.service import record
from dockyard.auth.service import Principal
from dockyard.engine.adapter import DockerEngine
from dockyard.engine.errors import EngineNotFoundError
from dockyard.kit.errors import NotFoundError, PermissionDeniedError
from dockyard.kit.request_meta import request_meta
from dockyard.nodes import repository as nodes_repository
from dockyard.runtime import Runtime
from dockyard.services import repository as services_repository

EXEC_PERMISSION = "services:exec"


@dataclass(frozen=True)
class ContainerTarget:
    node_id: int
    container: str
    engine: DockerEngine
    service_id: int | None


def _unknown(container: str) -> NotFoundError:
    # The same answer for a container that does not exist and one the caller cannot see.
    return NotFoundError(
        f"No container {container[:64]!r} on this node.", code="container_not_found"
    )


async def _deny(
    principal: Principal,
    conn: HTTPConnection,
    runtime: Runtime,
    *,
    service_id: int | None,
    container: str,
    reason: str,
) -> None:
    async with runtime.db.session() as session:
        await record(
            session,
            action="access.denied",
            actor=principal.actor,
            outcome="denied",
            target_type="service" if service_id is not None else "container",
            target_id=service_id if service_id is not None else container[:64],
            details={
                "permission": EXEC_PERMISSION,
                "path": conn.url.path,
                "reason": reason,
                "container": container[:64],
            },
            meta=request_meta(conn, runtime.settings.trusted_proxies),
        )
        await session.commit()


async def _full_id(engine: DockerEngine, ref: str) -> str:
    """The container's full id, for its exact name, full id or an id prefix of 12+.

    Shorter id prefixes are refused: a stray `0` must not pick whichever container's id
    happens to start with it.
    """
    try:
        info = await engine.inspect_container(ref)
    except EngineNotFoundError:
        raise _unknown(ref) from None
    full = str(info.get("Id") or "")
    name = str(info.get("Name") or "").lstrip("/")
    if ref == name or (len(ref) >= 12 and full.startswith(ref)):
        return full
    raise _unknown(ref)


async def resolve_container(
    runtime: Runtime,
    principal: Principal,
    node_id: int,
    container: str,
    conn: HTTPConnection,
    permission: str = EXEC_PERMISSION,
) -> ContainerTarget:
    """The container's engine if the caller may use `permission` on it.

    `container` is an exact name, a full id or an id prefix of at least 12 characters; the
    target names the full id. Callers who see everything (admins) may open any container
    of the node, unmanaged ones too. Others only containers of services they see (found
    through the state cache's `io.dockyard.service-id` label) and on which they hold the
    permission: 404 for what they cannot see (audited), 403 (audited) for what they see
    without the permission.
    """
    if (
        not container
        or len(container) > 128
        or not all(ch.isalnum() or ch in "_.-" for ch in container)
    ):
        raise _unknown(container)
    async with runtime.db.read_session() as session:
        node = await nodes_repository.get(session, node_id)
        if node is None:
            raise NotFoundError(f"Node {node_id} does not exist.", code="node_not_found")
        engine = runtime.nodes.engine_for(node)
        container = await _full_id(engine, container)
        service_id = runtime.state.container_service(node_id, container)
        if sees_all(principal) and principal.can(permission):
            return ContainerTarget(node_id, container, engine, service_id)
        service = (
            await services_repository.get(session, service_id) if service_id is not None else None
        )
    held = (
        service_permissions(
            principal, service_id=service.id, node_id=service.node_id, owner_id=service.owner_id
        )
        if service is not None and service.node_id == node_id
        else None
    )
    if held is None:
        await _deny(
            principal,
            conn,
            runtime,
            service_id=service_id,
            container=container,
            reason="not_visible",
        )
        raise _unknown(container)
    if permission not in held:
        await _deny(
            principal,
            conn,
            runtime,
            service_id=service_id,
            container=container,
            reason="permission",
        )
        raise PermissionDeniedError(
            f"You do not have the '{permission}' permission on this service.",
            details={"permission": permission},
        )
    return ContainerTarget(node_id, container, engine, service_id)
