"""Nodes: the local node bootstrap, engine facts (cached briefly), agent nodes' lifecycle
(create, enrollment tokens, enrollment, credential rotation and revocation, delete)."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.engine.adapter import DockerEngine, EngineRegistry
from dockyard.engine.addresses import agent_host
from dockyard.engine.schemas import EngineFacts
from dockyard.kit.clock import utcnow
from dockyard.kit.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from dockyard.kit.request_meta import RequestMeta
from dockyard.nodes import credentials, repository
from dockyard.nodes.credentials import TOKEN_PREFIX
from dockyard.nodes.models import Node
from dockyard.nodes.schemas import (
    AgentOut,
    EnrollmentOut,
    EnrollRequest,
    EnrollResponse,
    NodeCreate,
    NodeCreated,
    NodeOut,
    NodePatch,
    RotateOut,
)
from dockyard.settings import Settings

log = structlog.get_logger(__name__)

if TYPE_CHECKING:
    from dockyard.agent.hub import AgentHub
    from dockyard.auth.service import Principal
    from dockyard.runtime import Runtime

FACTS_TTL_S = 3.0
FACTS_STALE_S = 60.0


class NodeService:
    """Node views and the engines behind them."""

    def __init__(self, engines: EngineRegistry, agents: AgentHub | None = None) -> None:
        self.engines = engines
        self.agents = agents
        self._facts: dict[int, tuple[float, EngineFacts]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._refreshing: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def engine_for(self, node: Node) -> DockerEngine:
        return self.engines.get(node.id, node.docker_host)

    def forget(self, node_id: int) -> None:
        """Drop cached facts of a deleted node."""
        self._facts.pop(node_id, None)
        self._locks.pop(node_id, None)

    async def facts(self, node: Node) -> EngineFacts:
        """Engine facts, at most `FACTS_TTL_S` old; concurrent callers share one fetch.

        An agent node's facts (its liveness comes from the hub, not from them) up to
        `FACTS_STALE_S` old are answered at once while a background fetch refreshes them, so
        a list of many agent nodes never waits on each one's tunnel.
        """
        cached = self._facts.get(node.id)
        if cached:
            age = time.monotonic() - cached[0]
            if age < FACTS_TTL_S:
                return cached[1]
            if node.kind == "agent" and age < FACTS_STALE_S and cached[1].reachable:
                if node.id not in self._refreshing:
                    self._refreshing.add(node.id)
                    task = asyncio.create_task(self._refresh(node))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                return cached[1]
        return await self._fetch(node)

    async def _fetch(self, node: Node) -> EngineFacts:
        lock = self._locks.setdefault(node.id, asyncio.Lock())
        async with lock:
            cached = self._facts.get(node.id)
            if cached and time.monotonic() - cached[0] < FACTS_TTL_S:
                return cached[1]
            facts = await self.engine_for(node).facts()
            self._facts[node.id] = (time.monotonic(), facts)
            return facts

    async def _refresh(self, node: Node) -> None:
        try:
            await self._fetch(node)
        finally:
            self._refreshing.discard(node.id)

    async def to_out(self, node: Node) -> NodeOut:
        if node.kind == "agent":
            return await self._agent_out(node)
        facts = await self.facts(node)
        online = facts.reachable
        return NodeOut(
            id=node.id,
            name=node.name,
            kind="local",
            docker_host=node.docker_host,
            labels=node.labels or {},
            status="online" if online else "offline",
            last_seen=facts.checked_at if online else node.last_seen,
            created_at=node.created_at,
            engine=facts,
        )

    async def _agent_out(self, node: Node) -> NodeOut:
        hub = self.agents
        info = hub.session_info(node.id) if hub is not None else None
        online = info is not None and hub is not None and hub.is_online(node.id)
        if online:
            facts = await self.facts(node)
        else:
            self._facts.pop(node.id, None)
            facts = EngineFacts(
                reachable=False,
                error="The node's agent is not connected."
                if node.credential_hash
                else "The node's agent has not enrolled yet.",
                checked_at=utcnow(),
            )
        last_seen = info.last_seen if info is not None else node.last_seen
        agent = AgentOut(
            version=info.agent_version if info is not None else node.agent_version,
            connected_at=info.connected_at if info is not None else None,
            last_seen=last_seen,
            remote_addr=info.remote_addr if info is not None else None,
            docker_host=(info.docker_host if info is not None else None) or node.agent_docker_host,
            hostname=(info.hostname if info is not None else None) or node.agent_hostname,
            replica=info.replica if info is not None else None,
        )
        pending_token = (
            node.enrollment_token_hash is not None
            and node.enrollment_used_at is None
            and node.enrollment_expires_at is not None
        )
        return NodeOut(
            id=node.id,
            name=node.name,
            kind="agent",
            docker_host=node.docker_host,
            labels=node.labels or {},
            status="online" if online else "offline",
            last_seen=last_seen,
            created_at=node.created_at,
            engine=facts,
            agent=agent,
            enrolled=node.credential_hash is not None and node.revoked_at is None,
            revoked_at=node.revoked_at,
            enrollment_expires_at=node.enrollment_expires_at if pending_token else None,
        )


async def ensure_local_node(session: AsyncSession, docker_host: str) -> Node:
    """Create the local node on first start; keep its docker host in step with settings."""
    node = await repository.get_local(session)
    if node is None:
        node = Node(
            name=socket.gethostname()[:128] or "local", kind="local", docker_host=docker_host
        )
        session.add(node)
        await session.flush()
        await record(
            session,
            action="node.created",
            actor=Actor.system(),
            target_type="node",
            target_id=node.id,
            details={"name": node.name, "kind": "local", "docker_host": docker_host},
        )
    elif node.docker_host != docker_host:
        previous = node.docker_host
        node.docker_host = docker_host
        node.updated_at = utcnow()
        await record(
            session,
            action="node.updated",
            actor=Actor.system(),
            target_type="node",
            target_id=node.id,
            details={"docker_host": {"from": previous, "to": docker_host}},
        )
    return node


# ---------------------------------------------------------------- agent nodes


def agent_command(server_url: str, token: str) -> str:
    """What to run on the host to enroll its agent."""
    return (
        f"dockyard agent --server {server_url} --token {token} "
        "--docker-host unix:///var/run/docker.sock --data-dir /var/lib/dockyard-agent"
    )


def _not_found(node_id: int) -> NotFoundError:
    return NotFoundError(f"Node {node_id} does not exist.", code="node_not_found")


async def get_or_404(session: AsyncSession, node_id: int) -> Node:
    node = await repository.get(session, node_id)
    if node is None:
        raise _not_found(node_id)
    return node


def _require_agent(node: Node) -> None:
    if node.kind != "agent":
        raise ConflictError(
            f"Node {node.name} is the local node: it has no agent.", code="node_is_local"
        )


async def _check_name_free(session: AsyncSession, name: str, node_id: int | None) -> None:
    existing = await repository.get_by_name(session, name)
    if existing is not None and existing.id != node_id:
        raise ConflictError(
            f"A node named {name} already exists.",
            code="node_name_taken",
            details={"errors": [{"path": "body.name", "message": "already in use"}]},
        )


def _issue_token(node: Node, settings: Settings) -> tuple[str, datetime]:
    token = credentials.new_enrollment_token(credentials.server_fingerprint(settings))
    expires = utcnow() + timedelta(seconds=settings.agent_enrollment_ttl_s)
    node.enrollment_token_hash = token.hash
    node.enrollment_expires_at = expires
    node.enrollment_used_at = None
    return token.value, expires


async def create_agent_node(
    runtime: Runtime,
    session: AsyncSession,
    body: NodeCreate,
    principal: Principal,
    meta: RequestMeta,
    server_url: str,
) -> NodeCreated:
    """A new agent node and its one-time enrollment token (committed)."""
    await _check_name_free(session, body.name, None)
    node = Node(name=body.name, kind="agent", docker_host="", labels=dict(body.labels))
    session.add(node)
    await session.flush()
    node.docker_host = agent_host(node.id)
    token, _ = _issue_token(node, runtime.settings)
    await record(
        session,
        action="node.created",
        actor=principal.actor,
        target_type="node",
        target_id=node.id,
        details={"name": node.name, "kind": "agent", "labels": node.labels},
        meta=meta,
    )
    try:
        await session.commit()
    except IntegrityError as exc:  # a concurrent create took the name
        await session.rollback()
        raise ConflictError(f"A node named {body.name} already exists.") from exc
    await runtime.agents.add_node(node.id, node.name, node.last_seen)
    await runtime.state.add_node(node.id, node.docker_host, push=True)  # idle until it enrolls
    out = await runtime.nodes.to_out(node)
    return NodeCreated(
        **out.model_dump(), enrollment_token=token, agent_command=agent_command(server_url, token)
    )


async def update_node(
    runtime: Runtime,
    session: AsyncSession,
    node: Node,
    body: NodePatch,
    principal: Principal,
    meta: RequestMeta,
) -> Node:
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != node.name:
        await _check_name_free(session, body.name, node.id)
        changes["name"] = {"from": node.name, "to": body.name}
        node.name = body.name
    if body.labels is not None and body.labels != (node.labels or {}):
        changes["labels"] = {"from": node.labels or {}, "to": body.labels}
        node.labels = dict(body.labels)
    if not changes:
        return node
    node.updated_at = utcnow()
    await record(
        session,
        action="node.updated",
        actor=principal.actor,
        target_type="node",
        target_id=node.id,
        details=changes,
        meta=meta,
    )
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise ConflictError(f"A node named {body.name} already exists.") from exc
    if "name" in changes and node.kind == "agent":
        runtime.agents.rename_node(node.id, node.name)
    return node


async def delete_node(
    runtime: Runtime,
    session: AsyncSession,
    node: Node,
    principal: Principal,
    meta: RequestMeta,
    *,
    forget_services: bool = False,
) -> None:
    """Delete an agent node; with `forget_services`, an offline node's services go too
    (their containers, on a host that is gone, are not touched)."""
    if node.kind == "local":
        raise ConflictError(
            f"Node {node.name} is the local node: it cannot be deleted.", code="node_is_local"
        )
    forgotten: list[str] = []
    count = await repository.service_count(session, node.id)
    if count and forget_services:
        if runtime.agents.is_online(node.id):
            raise ConflictError(
                f"Node {node.name} is online: delete its services normally, so their "
                "containers are removed too.",
                code="node_online",
            )
        from dockyard.access.service import sees_all  # access imports nodes

        if not sees_all(principal):
            raise PermissionDeniedError(
                "Forgetting a node's services needs access to every service.",
                code="permission_denied",
            )
        forgotten = await repository.delete_services(session, node.id)
    elif count:
        raise ConflictError(
            f"Node {node.name} still runs {count} service(s): move or delete them first, "
            "or, if the host is gone for good, delete the node with forget_services=true.",
            code="node_in_use",
            details={"services": count},
        )
    await record(
        session,
        action="node.deleted",
        actor=principal.actor,
        target_type="node",
        target_id=node.id,
        details={"name": node.name, "kind": node.kind, "forgotten_services": forgotten},
        meta=meta,
    )
    for name in forgotten:
        log.info("service_forgotten_with_node", node_id=node.id, service=name)
    node_id = node.id
    await session.delete(node)
    await session.commit()
    await runtime.agents.disconnect(node_id, credentials_revoked_reason())
    await runtime.agents.remove_node(node_id)
    await runtime.state.remove_node(node_id)
    runtime.nodes.forget(node_id)


def credentials_revoked_reason() -> str:
    from dockyard.agent.protocol import REASON_REVOKED

    return REASON_REVOKED


async def new_enrollment_token(
    runtime: Runtime,
    session: AsyncSession,
    node: Node,
    principal: Principal,
    meta: RequestMeta,
    server_url: str,
) -> EnrollmentOut:
    """A fresh token for a node never enrolled, or revoked (its old token stops working)."""
    _require_agent(node)
    if node.credential_hash is not None and node.revoked_at is None:
        raise ConflictError(
            f"Node {node.name} is enrolled: rotate or revoke its credential instead.",
            code="node_enrolled",
        )
    token, expires = _issue_token(node, runtime.settings)
    await record(
        session,
        action="node.enrollment_token_issued",
        actor=principal.actor,
        target_type="node",
        target_id=node.id,
        details={"name": node.name, "expires_at": expires.isoformat()},
        meta=meta,
    )
    await session.commit()
    return EnrollmentOut(
        enrollment_token=token,
        enrollment_expires_at=expires,
        agent_command=agent_command(server_url, token),
    )


async def revoke(
    runtime: Runtime, session: AsyncSession, node: Node, principal: Principal, meta: RequestMeta
) -> Node:
    """Revoke the agent's credential and any pending token; disconnect it at once."""
    _require_agent(node)
    now = utcnow()
    node.revoked_at = now
    node.credential_hash = None
    node.pending_credential_hash = None
    node.enrollment_token_hash = None
    node.enrollment_expires_at = None
    node.updated_at = now
    await record(
        session,
        action="node.credentials_revoked",
        actor=principal.actor,
        target_type="node",
        target_id=node.id,
        details={"name": node.name},
        meta=meta,
    )
    await session.commit()
    await runtime.agents.disconnect(node.id, credentials_revoked_reason())
    return node


async def rotate(
    runtime: Runtime,
    session: AsyncSession,
    node: Node,
    principal: Principal,
    meta: RequestMeta,
    server_url: str,
) -> RotateOut:
    """Online: deliver a new credential over the socket, then drop the old one. Offline:
    the old credential stops working and a fresh enrollment token re-enrolls the agent."""
    _require_agent(node)
    if node.credential_hash is None or node.revoked_at is not None:
        raise ConflictError(
            f"Node {node.name} is not enrolled: issue an enrollment token instead.",
            code="node_not_enrolled",
        )
    if runtime.agents.is_online(node.id):
        credential = credentials.new_credential(node.id)
        new_hash = credentials.hash_secret(credential)
        node.pending_credential_hash = new_hash
        await session.commit()  # the agent may reconnect with it before it answers
        delivered = await runtime.agents.rotate_credential(node.id, credential)
        await session.refresh(node)
        if node.revoked_at is not None:
            raise ConflictError(
                f"Node {node.name} was revoked during the rotation.", code="node_revoked"
            )
        # Confirmed by `rotated`, or already promoted by a reconnect with the new one.
        promoted = node.credential_hash == new_hash
        if promoted or (delivered and node.pending_credential_hash == new_hash):
            now = utcnow()
            node.credential_hash = new_hash
            node.pending_credential_hash = None
            node.credential_rotated_at = now
            node.updated_at = now
            await record(
                session,
                action="node.credentials_rotated",
                actor=principal.actor,
                target_type="node",
                target_id=node.id,
                details={"name": node.name, "delivered": True},
                meta=meta,
            )
            await session.commit()
            return RotateOut(delivered=True)
        if node.pending_credential_hash == new_hash:
            node.pending_credential_hash = None
            await session.commit()
        if runtime.agents.is_online(node.id):
            raise ServiceUnavailableError(
                f"The agent of node {node.name} did not confirm the new credential; "
                "its current one still works. Try again.",
                code="rotation_failed",
            )
    # Offline: the old credential must stop working; a token re-enrolls the agent.
    now = utcnow()
    node.credential_hash = None
    node.pending_credential_hash = None
    node.credential_rotated_at = now
    token, expires = _issue_token(node, runtime.settings)
    node.updated_at = now
    await record(
        session,
        action="node.credentials_rotated",
        actor=principal.actor,
        target_type="node",
        target_id=node.id,
        details={"name": node.name, "delivered": False, "expires_at": expires.isoformat()},
        meta=meta,
    )
    await session.commit()
    return RotateOut(
        delivered=False,
        enrollment_token=token,
        enrollment_expires_at=expires,
        agent_command=agent_command(server_url, token),
    )


async def enroll(
    runtime: Runtime, session: AsyncSession, body: EnrollRequest, meta: RequestMeta
) -> EnrollResponse:
    """Trade a valid, unused, unexpired enrollment token for the node's credential."""
    invalid = AuthenticationError(
        "The enrollment token is invalid or was already used.", code="invalid_enrollment_token"
    )
    parsed = credentials.parse_enrollment_token(body.token)
    if parsed is None:
        raise invalid
    node = await repository.get_by_enrollment_hash(session, parsed.hash)
    if node is None or node.kind != "agent" or node.enrollment_used_at is not None:
        raise invalid
    if not credentials.matches(TOKEN_PREFIX + parsed.secret, node.enrollment_token_hash):
        raise invalid
    now = utcnow()
    if node.enrollment_expires_at is None or node.enrollment_expires_at <= now:
        await record(
            session,
            action="node.enrollment_failed",
            actor=Actor.anonymous(),
            target_type="node",
            target_id=node.id,
            details={"reason": "expired"},
            meta=meta,
        )
        await session.commit()
        raise AuthenticationError(
            "The enrollment token has expired: create a new one for this node.",
            code="enrollment_token_expired",
        )
    credential = credentials.new_credential(node.id)
    claimed = await repository.claim_enrollment(
        session,
        node.id,
        parsed.hash,
        now=now,
        credential_hash=credentials.hash_secret(credential),
        agent_version=body.agent_version or None,
        agent_docker_host=body.docker_host or None,
        agent_hostname=body.hostname or None,
    )
    if not claimed:
        await session.rollback()
        raise invalid
    await record(
        session,
        action="node.enrolled",
        actor=Actor("node", str(node.id), node.name),
        target_type="node",
        target_id=node.id,
        details={
            "name": node.name,
            "agent_version": body.agent_version,
            "hostname": body.hostname,
            "docker_host": body.docker_host,
        },
        meta=meta,
    )
    await session.commit()
    return EnrollResponse(
        node_id=node.id,
        credential=credential,
        server_fingerprint=credentials.server_fingerprint(runtime.settings),
    )
