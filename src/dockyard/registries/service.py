"""Registry credentials (encrypted at rest) and image update detection.

The two functions other domains call:

- `check_images(runtime, refs, node_id)`: compare each reference's registry digest (HEAD
  of the manifest) with the node's local image, store and return the results.
- `check_service_updates(runtime, session, service)`: the same for every image of a
  service's deployed definition, comparing against what its containers run.

And for pulls: `auth_config_for(runtime, image)` gives the engine's `auth_config`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.engine.adapter import DockerEngine
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import ConflictError, DockyardError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.kit.secrets_box import SecretBox, SecretBoxError
from dockyard.nodes import repository as nodes_repository
from dockyard.registries import repository
from dockyard.registries.digests import (
    DOCKER_HUB,
    DOCKER_HUB_ALIASES,
    Credentials,
    ImageRef,
    InvalidReferenceError,
    RegistryClient,
    RegistryState,
    is_loopback,
    parse_reference,
    repo_digest_for,
)
from dockyard.registries.models import ImageUpdateCheck, Registry
from dockyard.registries.schemas import (
    ImageUpdateStatus,
    RegistryCreate,
    RegistryOut,
    RegistryPatch,
    RegistryTestRequest,
    RegistryTestResult,
    UpdateCheckResult,
    parse_registry_url,
)
from dockyard.services import repository as services_repository
from dockyard.services.compose import parse_definition
from dockyard.services.models import Service
from dockyard.services.status import COMPOSE_SERVICE_LABEL
from dockyard.users.models import User

log = structlog.get_logger(__name__)


# ---------------------------------------------------------------- credentials


def secret_box(runtime: Any) -> SecretBox:
    return SecretBox(runtime.auth.secret)


def registry_state(runtime: Any) -> RegistryState:
    """Tokens, backoff and the concurrency bound, shared by every check of one server."""
    state: RegistryState | None = getattr(runtime, "_registry_state", None)
    if state is None:
        state = RegistryState(concurrency=runtime.settings.update_check_concurrency)
        setattr(runtime, "_registry_state", state)  # noqa: B010
    return state


def canonical_host(host: str) -> str:
    host = host.lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def registry_url(registry: Registry) -> str:
    if registry.host == DOCKER_HUB:
        return "https://docker.io"
    plain = registry.insecure or is_loopback(registry.host)
    return f"{'http' if plain else 'https'}://{registry.host}"


def to_out(registry: Registry) -> RegistryOut:
    return RegistryOut(
        id=registry.id,
        name=registry.name,
        url=registry_url(registry),
        host=registry.host,
        insecure=registry.insecure,
        username=registry.username,
        has_secret=bool(registry.secret_encrypted),
        created_by_label=registry.created_by_label,
        created_at=registry.created_at,
        updated_at=registry.updated_at,
    )


def _url_error(path: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(
        f"Invalid value at {path}: {message}.",
        details={"errors": [{"path": path, "message": message}]},
    )


def _host_and_insecure(url: str, insecure: bool | None, path: str) -> tuple[str, bool]:
    try:
        host, plain = parse_registry_url(url)
    except ValueError as exc:
        raise _url_error(path, str(exc)) from exc
    host = canonical_host(host)
    if plain is not None:
        # An explicit scheme decides; the flag only matters for a bare host.
        return host, plain
    if insecure is None:
        insecure = is_loopback(host)
    return host, insecure


def credentials_of(runtime: Any, registry: Registry) -> Credentials:
    secret = None
    if registry.secret_encrypted:
        try:
            secret = secret_box(runtime).decrypt(registry.secret_encrypted)
        except SecretBoxError as exc:
            raise DockyardError(
                f"The stored secret of registry {registry.name} cannot be decrypted with the "
                "current secret key; enter it again.",
                code="registry_secret_unreadable",
                status_code=409,
            ) from exc
    return Credentials(username=registry.username, secret=secret, insecure=registry.insecure)


async def get_or_404(session: AsyncSession, registry_id: int) -> Registry:
    registry = await repository.get(session, registry_id)
    if registry is None:
        raise NotFoundError(f"Registry {registry_id} does not exist.", code="registry_not_found")
    return registry


async def _flush_unique(session: AsyncSession, host: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise ConflictError(
            f"A registry for {host} already exists.",
            code="registry_exists",
            details={"host": host},
        ) from exc


async def ping_registry(runtime: Any, host: str, creds: Credentials | None) -> RegistryTestResult:
    """`GET /v2/` with the credentials (Basic or the Bearer token flow)."""
    started = time.monotonic()
    async with _client(runtime, lambda _: _const(creds)) as client:
        status, message = await client.ping(host, creds)
    return RegistryTestResult(
        ok=status == 200,
        status=status,
        message=message if status != 200 else f"Connected to {host}.",
        elapsed_ms=round((time.monotonic() - started) * 1000, 1),
    )


def raise_for_test(host: str, result: RegistryTestResult) -> None:
    """A failed connection test as a clear client error (never a 401: that is ours)."""
    if result.ok:
        return
    auth = result.status in (401, 403)
    raise DockyardError(
        f"Registry {host}: {result.message}.",
        code="registry_auth_failed" if auth else "registry_unreachable",
        status_code=400 if auth else 502,
        details={"registry_status": result.status},
    )


async def create_registry(
    runtime: Any,
    session: AsyncSession,
    body: RegistryCreate,
    *,
    user: User | None,
    actor: Actor,
    meta: RequestMeta | None = None,
) -> Registry:
    """Store a registry (the secret encrypted); with `verify`, only if the test passes."""
    host, insecure = _host_and_insecure(body.url, body.insecure, "body.url")
    if body.verify:
        creds = Credentials(body.username or None, body.password or None, insecure)
        raise_for_test(host, await ping_registry(runtime, host, creds))
    registry = Registry(
        name=body.name,
        host=host,
        insecure=insecure,
        username=body.username or None,
        secret_encrypted=secret_box(runtime).encrypt(body.password) if body.password else None,
        created_by_id=user.id if user else None,
        created_by_label=user.email if user else actor.label,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(registry)
    await _flush_unique(session, host)
    await record(
        session,
        action="registry.create",
        actor=actor,
        target_type="registry",
        target_id=registry.id,
        details={
            "name": registry.name,
            "host": host,
            "insecure": insecure,
            "username": registry.username,
            "has_login": registry.secret_encrypted is not None,
        },
        meta=meta,
    )
    publish_after_commit(session, "registry.changed", {"registry_id": registry.id})
    return registry


async def update_registry(
    runtime: Any,
    session: AsyncSession,
    registry: Registry,
    body: RegistryPatch,
    *,
    actor: Actor,
    meta: RequestMeta | None = None,
) -> Registry:
    changed: list[str] = []
    if body.name is not None and body.name != registry.name:
        registry.name = body.name
        changed.append("name")
    if body.url is not None:
        host, insecure = _host_and_insecure(body.url, body.insecure, "body.url")
        if host != registry.host:
            registry.host = host
            changed.append("host")
        if insecure != registry.insecure:
            registry.insecure = insecure
            changed.append("insecure")
    elif body.insecure is not None and body.insecure != registry.insecure:
        registry.insecure = body.insecure
        changed.append("insecure")
    if "username" in body.model_fields_set and (body.username or None) != registry.username:
        registry.username = body.username or None
        changed.append("username")
    if body.password is not None:
        registry.secret_encrypted = (
            secret_box(runtime).encrypt(body.password) if body.password else None
        )
        changed.append("secret")
    if changed:
        registry.updated_at = utcnow()
        await _flush_unique(session, registry.host)
        await record(
            session,
            action="registry.update",
            actor=actor,
            target_type="registry",
            target_id=registry.id,
            details={"changed": changed, "host": registry.host, "name": registry.name},
            meta=meta,
        )
        publish_after_commit(session, "registry.changed", {"registry_id": registry.id})
    return registry


async def delete_registry(
    session: AsyncSession, registry: Registry, *, actor: Actor, meta: RequestMeta | None = None
) -> None:
    await session.delete(registry)
    await record(
        session,
        action="registry.delete",
        actor=actor,
        target_type="registry",
        target_id=registry.id,
        details={"name": registry.name, "host": registry.host},
        meta=meta,
    )
    publish_after_commit(session, "registry.changed", {"registry_id": registry.id})


async def test_stored_registry(runtime: Any, registry: Registry) -> RegistryTestResult:
    return await ping_registry(runtime, registry.host, credentials_of(runtime, registry))


async def test_credentials(runtime: Any, body: RegistryTestRequest) -> RegistryTestResult:
    host, insecure = _host_and_insecure(body.url, body.insecure, "body.url")
    creds = Credentials(body.username or None, body.password or None, insecure)
    return await ping_registry(runtime, host, creds)


async def credentials_for_host(runtime: Any, host: str) -> Credentials | None:
    """The stored credentials for a registry host (None when none are stored)."""
    async with runtime.db.read_session() as session:
        registry = await repository.by_host(session, canonical_host(host))
    if registry is None:
        return None
    try:
        return credentials_of(runtime, registry)
    except DockyardError:
        log.warning("registry_secret_unreadable", registry=registry.host)
        return Credentials(registry.username, None, registry.insecure)


async def auth_config_for(runtime: Any, image: str) -> dict[str, str] | None:
    """The engine's `auth_config` for pulling `image`, from the matching stored registry."""
    try:
        ref = parse_reference(image)
    except InvalidReferenceError:
        return None
    creds = await credentials_for_host(runtime, ref.registry)
    if creds is None or not creds.username:
        return None
    return {
        "username": creds.username,
        "password": creds.secret or "",
        "serveraddress": ref.registry,
    }


# ---------------------------------------------------------------- update detection


async def _const(value: Credentials | None) -> Credentials | None:
    return value


def _client(runtime: Any, credentials_for: Any) -> RegistryClient:
    settings = runtime.settings
    return RegistryClient(
        registry_state(runtime),
        credentials_for=credentials_for,
        timeout_s=settings.update_check_timeout_s,
        jitter_s=settings.update_check_jitter_s,
    )


@dataclass
class _Local:
    ref: ImageRef | None
    current: str | None
    error: str | None


async def _local_digest(engine: DockerEngine, image: str, running_image_id: str | None) -> _Local:
    try:
        ref = parse_reference(image)
    except InvalidReferenceError as exc:
        return _Local(None, None, f"invalid image reference: {exc}")
    info = None
    if running_image_id:
        info = await engine.inspect_image(running_image_id)
    if info is None:
        info = await engine.inspect_image(image)
    if ref.pinned:
        return _Local(ref, ref.digest, None)
    if info is None:
        return _Local(ref, None, "the image is not on the node")
    current = repo_digest_for(ref, list(info.get("RepoDigests") or []))
    if current is None:
        return _Local(
            ref, None, "the local image has no digest from this registry (built locally?)"
        )
    return _Local(ref, current, None)


async def check_images(
    runtime: Any,
    refs: list[str],
    node_id: int,
    *,
    max_age_s: float | None = None,
    running_image_ids: dict[str, str] | None = None,
) -> list[ImageUpdateStatus]:
    """Check each image reference on a node for a newer registry digest; store the results.

    Never pulls. `max_age_s` reuses a stored check that young whose local digest is
    unchanged (default: the `update_check_cache_ttl_s` setting; 0 always asks the
    registry). `running_image_ids` maps a reference to the image id a container runs, so
    "current" is what runs rather than what the tag points to locally.
    """
    images = list(dict.fromkeys(refs))
    if not images:
        return []
    async with runtime.db.read_session() as session:
        node = await nodes_repository.get(session, node_id)
        if node is None:
            raise NotFoundError(f"Node {node_id} does not exist.", code="node_not_found")
        stored = {c.image: c for c in await repository.checks_for(session, [node_id], images)}
    engine = runtime.nodes.engine_for(node)
    running = running_image_ids or {}
    locals_ = await asyncio.gather(
        *(_local_digest(engine, image, running.get(image)) for image in images)
    )
    ttl = runtime.settings.update_check_cache_ttl_s if max_age_s is None else max_age_s
    now = utcnow()
    results: dict[str, ImageUpdateStatus] = {}
    to_ask: list[tuple[str, ImageRef, str | None]] = []
    for image, local in zip(images, locals_, strict=True):
        if local.ref is None:
            results[image] = ImageUpdateStatus(
                image=image,
                current_digest=None,
                remote_digest=None,
                update_available=None,
                checked_at=now,
                error=local.error,
            )
        elif local.ref.pinned:
            results[image] = ImageUpdateStatus(
                image=image,
                current_digest=local.current,
                remote_digest=local.current,
                update_available=False,
                pinned=True,
                checked_at=now,
            )
        else:
            cached = stored.get(image)
            if (
                ttl > 0
                and cached is not None
                and cached.error is None
                and cached.current_digest == local.current
                and cached.remote_digest is not None
                and now - cached.checked_at < timedelta(seconds=ttl)
            ):
                results[image] = status_of_row(cached)
            else:
                to_ask.append((image, local.ref, local.current))

    if to_ask:
        creds_cache: dict[str, Credentials | None] = {}
        lock = asyncio.Lock()

        async def credentials_for(host: str) -> Credentials | None:
            async with lock:
                if host not in creds_cache:
                    creds_cache[host] = await credentials_for_host(runtime, host)
                return creds_cache[host]

        async with _client(runtime, credentials_for) as client:
            answers = await asyncio.gather(*(client.remote_digest(ref) for _, ref, _ in to_ask))
        checked_at = utcnow()
        rows: list[dict[str, Any]] = []
        for (image, _ref, current), answer in zip(to_ask, answers, strict=True):
            local_error = next(
                (loc.error for img, loc in zip(images, locals_, strict=True) if img == image),
                None,
            )
            error = answer.error or local_error
            available = answer.digest != current if answer.digest is not None and current else None
            status = ImageUpdateStatus(
                image=image,
                current_digest=current,
                remote_digest=answer.digest,
                update_available=available,
                checked_at=checked_at,
                error=error,
            )
            results[image] = status
            rows.append(
                {
                    "node_id": node_id,
                    "image": image[:512],
                    "current_digest": current,
                    "remote_digest": answer.digest,
                    "update_available": available,
                    "checked_at": checked_at,
                    "error": error[:2000] if error else None,
                }
            )
        async with runtime.db.session() as session:
            await repository.upsert_checks(session, rows)
            publish_after_commit(
                session, "images.update_checked", {"node_id": node_id, "images": len(rows)}
            )
            await session.commit()
    return [results[image] for image in images]


def status_of_row(row: ImageUpdateCheck) -> ImageUpdateStatus:
    return ImageUpdateStatus(
        image=row.image,
        current_digest=row.current_digest,
        remote_digest=row.remote_digest,
        update_available=row.update_available,
        checked_at=row.checked_at,
        error=row.error,
    )


def summarize(statuses: Sequence[ImageUpdateStatus]) -> bool | None:
    """true if any image has an update, false if all were decided without one, else null."""
    if any(s.update_available for s in statuses):
        return True
    if statuses and all(s.update_available is False for s in statuses):
        return False
    return None


async def service_images(session: AsyncSession, service: Service) -> dict[str, list[str]]:
    """Image reference -> the compose services using it (deployed, else latest revision)."""
    number = service.deployed_revision or service.latest_revision
    revision = await services_repository.revision(session, service.id, number)
    if revision is None:
        return {}
    defn = parse_definition(revision.definition, validate=False)
    images: dict[str, list[str]] = {}
    for name, spec in sorted(defn.services.items()):
        images.setdefault(spec.image, []).append(name)
    return images


def running_image_ids(
    runtime: Any, service: Service, images: dict[str, list[str]]
) -> dict[str, str]:
    """Reference -> the image id a container of the service runs (from the state cache)."""
    by_service: dict[str, str] = {}
    for c in runtime.service_views.source.containers_for_service(service.node_id, service.id):
        name = c.labels.get(COMPOSE_SERVICE_LABEL)
        if name and c.image_id and (name not in by_service or c.state == "running"):
            by_service[name] = c.image_id
    out: dict[str, str] = {}
    for image, names in images.items():
        for name in names:
            if name in by_service:
                out[image] = by_service[name]
                break
    return out


async def check_service_updates(
    runtime: Any, session: AsyncSession, service: Service, *, max_age_s: float | None = 0
) -> UpdateCheckResult:
    """Check every image of `service` against its registry (never pulls).

    `session` is only read (pass a read session); results are stored in their own
    transaction. By default the registry is always asked (`max_age_s=0`).
    """
    images = await service_images(session, service)
    statuses = await check_images(
        runtime,
        list(images),
        service.node_id,
        max_age_s=max_age_s,
        running_image_ids=running_image_ids(runtime, service, images),
    )
    return UpdateCheckResult(
        service_id=service.id,
        images=statuses,
        checked_at=max((s.checked_at for s in statuses), default=utcnow()),
        update_available=summarize(statuses),
    )


async def stored_update_flags(
    session: AsyncSession, pairs: Sequence[tuple[int, Sequence[str]]]
) -> list[bool | None]:
    """For each (node_id, images) the stored `update_available` summary (one query)."""
    index = await repository.update_index(session, {node for node, _ in pairs})
    return [repository.update_flag(index, node, images) for node, images in pairs]


async def check_all_services(
    runtime: Any, *, node_id: int | None = None, progress: Any = None
) -> dict[str, Any]:
    """Check every service (optionally of one node); returns a summary for the job."""
    async with runtime.db.read_session() as session:
        stmt = select(Service).order_by(Service.id)
        if node_id is not None:
            stmt = stmt.where(Service.node_id == node_id)
        services = (await session.execute(stmt)).scalars().all()
        plans = [(s, await service_images(session, s)) for s in services]
    by_node: dict[int, dict[str, str]] = {}
    images_by_node: dict[int, list[str]] = {}
    for service, images in plans:
        images_by_node.setdefault(service.node_id, []).extend(images)
        by_node.setdefault(service.node_id, {}).update(running_image_ids(runtime, service, images))
    statuses: dict[tuple[int, str], ImageUpdateStatus] = {}
    for node, refs in images_by_node.items():
        for status in await check_images(
            runtime, refs, node, max_age_s=0, running_image_ids=by_node.get(node)
        ):
            statuses[(node, status.image)] = status
    updates: list[dict[str, Any]] = []
    errors = 0
    for service, images in plans:
        mine = [statuses[(service.node_id, i)] for i in images if (service.node_id, i) in statuses]
        errors += sum(1 for s in mine if s.error)
        if summarize(mine):
            updates.append({"service_id": service.id, "name": service.name})
            if progress is not None:
                await progress(f"Update available for {service.name}")
    return {
        "services": len(plans),
        "images": len(statuses),
        "updates_available": updates,
        "errors": errors,
    }


# ---------------------------------------------------------------- key rotation


@dataclass
class RekeyResult:
    reencrypted: int
    current: int
    unreadable: list[str]


async def rekey(runtime: Any, old_secret_key: str) -> RekeyResult:
    """Re-encrypt stored registry secrets from `old_secret_key` to the current key.

    Secrets already readable with the current key are left alone; ones readable with
    neither are reported (enter them again). One transaction, audited.
    """
    new_box, old_box = secret_box(runtime), SecretBox(old_secret_key)
    result = RekeyResult(reencrypted=0, current=0, unreadable=[])
    async with runtime.db.session() as session:
        for registry in await repository.all_registries(session):
            if not registry.secret_encrypted:
                continue
            try:
                new_box.decrypt(registry.secret_encrypted)
                result.current += 1
                continue
            except SecretBoxError:
                pass
            try:
                plain = old_box.decrypt(registry.secret_encrypted)
            except SecretBoxError:
                result.unreadable.append(registry.host)
                continue
            registry.secret_encrypted = new_box.encrypt(plain)
            registry.updated_at = utcnow()
            result.reencrypted += 1
        await record(
            session,
            action="registry.rekey",
            actor=Actor.system("cli"),
            target_type="registry",
            details={
                "reencrypted": result.reencrypted,
                "current": result.current,
                "unreadable": result.unreadable,
            },
        )
        await session.commit()
    return result
