"""Images, volumes and networks of one node, with what uses each of them.

"In use" is computed from one container list (running and stopped containers) plus the
definitions of the Dockyard services placed on the node (latest and deployed revisions), so
an object a stopped service would need again is never called unused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.engine.adapter import DockerEngine
from dockyard.images.schemas import (
    ContainerRef,
    ImageOut,
    NetworkOut,
    ServiceRef,
    VolumeOut,
)
from dockyard.kit.errors import NotFoundError
from dockyard.nodes import repository as nodes_repository
from dockyard.nodes.models import Node
from dockyard.services import repository as services_repository
from dockyard.services.compose import ComposeError, network_name, parse_definition, volume_name
from dockyard.services.compose.docker_args import service_networks
from dockyard.services.models import Service
from dockyard.services.status import INSTANCE_LABEL, SERVICE_ID_LABEL

BUILTIN_NETWORKS = frozenset({"bridge", "host", "none"})


async def node_or_404(session: AsyncSession, node_id: int) -> Node:
    node = await nodes_repository.get(session, node_id)
    if node is None:
        raise NotFoundError(f"Node {node_id} does not exist.", code="node_not_found")
    return node


def parse_time(value: Any) -> datetime | None:
    """Docker's created times: unix seconds (images) or RFC 3339 (volumes, networks)."""
    if value in (None, "", 0):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value)
    if text.startswith("0001-01-01"):
        return None
    # Trim nanoseconds to microseconds for fromisoformat.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def short_id(image_or_object_id: str) -> str:
    return image_or_object_id.removeprefix("sha256:")[:12]


def is_dangling(image: dict[str, Any]) -> bool:
    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    return not tags


@dataclass
class DefinitionRefs:
    """Names the node's service definitions use, each with the services that use it."""

    images: dict[str, list[ServiceRef]] = field(default_factory=dict)
    volumes: dict[str, list[ServiceRef]] = field(default_factory=dict)
    networks: dict[str, list[ServiceRef]] = field(default_factory=dict)


def _add(index: dict[str, list[ServiceRef]], key: str, ref: ServiceRef) -> None:
    refs = index.setdefault(key, [])
    if all(r.id != ref.id for r in refs):
        refs.append(ref)


async def definition_refs(session: AsyncSession, node_id: int) -> DefinitionRefs:
    """Images, volumes and networks named by the latest and deployed revision of each service."""
    refs = DefinitionRefs()
    services = await services_repository.on_node(session, node_id)
    latest = await services_repository.latest_revisions(session, services)
    for service in services:
        ref = ServiceRef(id=service.id, name=service.name)
        revisions = [latest.get(service.id)]
        if service.deployed_revision and service.deployed_revision != service.latest_revision:
            revisions.append(
                await services_repository.revision(session, service.id, service.deployed_revision)
            )
        for rev in revisions:
            if rev is None:
                continue
            try:
                defn = parse_definition(rev.definition, validate=False)
            except ComposeError:
                continue
            for spec in defn.services.values():
                _add(refs.images, spec.image, ref)
                for key in service_networks(spec):
                    _add(
                        refs.networks, network_name(service.name, key, defn.networks.get(key)), ref
                    )
                for mount in spec.volumes:
                    if mount.type == "volume" and mount.source:
                        _add(
                            refs.volumes,
                            volume_name(service.name, mount.source, defn.volumes.get(mount.source)),
                            ref,
                        )
            for key, vspec in defn.volumes.items():
                _add(refs.volumes, volume_name(service.name, key, vspec), ref)
            for key, nspec in defn.networks.items():
                _add(refs.networks, network_name(service.name, key, nspec), ref)
    return refs


@dataclass
class Usage:
    """Every container of the node, indexed by the objects it uses."""

    containers: list[dict[str, Any]]
    service_names: dict[int, str]
    instance_id: str
    by_image: dict[str, list[ContainerRef]] = field(default_factory=dict)
    by_volume: dict[str, list[ContainerRef]] = field(default_factory=dict)
    by_network: dict[str, list[ContainerRef]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for container in self.containers:
            ref = self.ref(container)
            self.by_image.setdefault(str(container.get("ImageID") or ""), []).append(ref)
            for mount in container.get("Mounts") or []:
                if mount.get("Type") == "volume" and mount.get("Name"):
                    self.by_volume.setdefault(str(mount["Name"]), []).append(ref)
            networks = ((container.get("NetworkSettings") or {}).get("Networks")) or {}
            for net_name, net in networks.items():
                self.by_network.setdefault(str(net_name), []).append(ref)
                if net and net.get("NetworkID"):
                    self.by_network.setdefault(str(net["NetworkID"]), []).append(ref)

    def service_id(self, container: dict[str, Any]) -> int | None:
        """The Dockyard service of this installation that owns the container."""
        labels = container.get("Labels") or {}
        if labels.get(INSTANCE_LABEL) != self.instance_id:
            return None
        try:
            return int(labels.get(SERVICE_ID_LABEL, ""))
        except ValueError:
            return None

    def ref(self, container: dict[str, Any]) -> ContainerRef:
        names = container.get("Names") or []
        sid = self.service_id(container)
        return ContainerRef(
            id=short_id(str(container.get("Id", ""))),
            name=str(names[0]).lstrip("/") if names else short_id(str(container.get("Id", ""))),
            state=str(container.get("State") or "unknown"),
            service_id=sid,
            service_name=self.service_names.get(sid) if sid is not None else None,
        )

    @staticmethod
    def services_of(refs: Iterable[ContainerRef]) -> list[ServiceRef]:
        seen: dict[int, ServiceRef] = {}
        for ref in refs:
            if ref.service_id is not None and ref.service_id not in seen:
                seen[ref.service_id] = ServiceRef(
                    id=ref.service_id, name=ref.service_name or f"service {ref.service_id}"
                )
        return list(seen.values())


async def usage(session: AsyncSession, engine: DockerEngine, instance_id: str) -> Usage:
    containers = await engine.list_containers(all=True)
    ids: set[int] = set()
    for c in containers:
        labels = c.get("Labels") or {}
        if labels.get(INSTANCE_LABEL) == instance_id:
            with contextlib.suppress(ValueError):
                ids.add(int(labels.get(SERVICE_ID_LABEL, "")))
    names: dict[int, str] = {}
    if ids:
        rows = await session.execute(select(Service.id, Service.name).where(Service.id.in_(ids)))
        names = {int(sid): str(name) for sid, name in rows.all()}
    return Usage(containers=containers, service_names=names, instance_id=instance_id)


def _merge(*lists: Iterable[ServiceRef]) -> list[ServiceRef]:
    seen: dict[int, ServiceRef] = {}
    for refs in lists:
        for ref in refs:
            seen.setdefault(ref.id, ref)
    return sorted(seen.values(), key=lambda r: r.name)


# ---- images ----------------------------------------------------------------------------------


def _tag_order(tag: str) -> tuple[bool, str]:
    """Local names (no registry host) before registry ones, then alphabetical."""
    first = tag.split("/", 1)[0]
    on_registry = "/" in tag and ("." in first or ":" in first or first == "localhost")
    return on_registry, tag


def image_out(image: dict[str, Any], use: Usage) -> ImageOut:
    image_id = str(image.get("Id", ""))
    containers = use.by_image.get(image_id, [])
    return ImageOut(
        id=image_id,
        short_id=short_id(image_id),
        repo_tags=sorted(
            (t for t in image.get("RepoTags") or [] if t != "<none>:<none>"), key=_tag_order
        ),
        repo_digests=[d for d in image.get("RepoDigests") or [] if d != "<none>@<none>"],
        size_bytes=int(image.get("Size") or 0),
        created=parse_time(image.get("Created")),
        labels=dict(image.get("Labels") or {}),
        dangling=is_dangling(image),
        in_use=bool(containers),
        containers=containers,
        services=Usage.services_of(containers),
    )


def image_matches(item: ImageOut, search: str | None) -> bool:
    if not search:
        return True
    needle = search.lower()
    haystack = [item.id, *item.repo_tags, *item.repo_digests, *(s.name for s in item.services)]
    return any(needle in h.lower() for h in haystack)


async def list_images(
    session: AsyncSession,
    engine: DockerEngine,
    instance_id: str,
    *,
    search: str | None = None,
    dangling: bool | None = None,
    in_use: bool | None = None,
    label: str | None = None,
) -> list[ImageOut]:
    filters: dict[str, Any] = {}
    if label:
        filters["label"] = [label]
    images = await engine.list_images(filters=filters or None)
    use = await usage(session, engine, instance_id)
    items = [image_out(i, use) for i in images]
    items = [
        i
        for i in items
        if image_matches(i, search)
        and (dangling is None or i.dangling == dangling)
        and (in_use is None or i.in_use == in_use)
    ]
    items.sort(key=lambda i: i.created or datetime.min.replace(tzinfo=UTC), reverse=True)
    return items


# ---- volumes ---------------------------------------------------------------------------------


def volume_out(
    volume: dict[str, Any], use: Usage, refs: DefinitionRefs, sizes: dict[str, int] | None
) -> VolumeOut:
    name = str(volume.get("Name", ""))
    containers = use.by_volume.get(name, [])
    services = _merge(Usage.services_of(containers), refs.volumes.get(name, []))
    return VolumeOut(
        name=name,
        driver=str(volume.get("Driver") or "local"),
        mountpoint=volume.get("Mountpoint"),
        scope=volume.get("Scope"),
        created=parse_time(volume.get("CreatedAt")),
        labels=dict(volume.get("Labels") or {}),
        options=dict(volume.get("Options") or {}),
        size_bytes=sizes.get(name) if sizes is not None else None,
        in_use=bool(containers) or name in refs.volumes,
        containers=containers,
        services=services,
    )


def volume_sizes(df: dict[str, Any]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for volume in df.get("Volumes") or []:
        size = (volume.get("UsageData") or {}).get("Size")
        if isinstance(size, int) and size >= 0:
            sizes[str(volume.get("Name"))] = size
    return sizes


# ---- networks --------------------------------------------------------------------------------


def network_out(network: dict[str, Any], use: Usage, refs: DefinitionRefs) -> NetworkOut:
    net_id = str(network.get("Id", ""))
    name = str(network.get("Name", ""))
    seen: set[str] = set()
    containers: list[ContainerRef] = []
    for ref in [*use.by_network.get(name, []), *use.by_network.get(net_id, [])]:
        if ref.id not in seen:
            seen.add(ref.id)
            containers.append(ref)
    services = _merge(Usage.services_of(containers), refs.networks.get(name, []))
    ipam = (network.get("IPAM") or {}).get("Config") or []
    return NetworkOut(
        id=net_id,
        short_id=short_id(net_id),
        name=name,
        driver=str(network.get("Driver") or ""),
        scope=network.get("Scope"),
        internal=bool(network.get("Internal")),
        attachable=bool(network.get("Attachable")),
        builtin=name in BUILTIN_NETWORKS,
        created=parse_time(network.get("Created")),
        labels=dict(network.get("Labels") or {}),
        subnets=[str(c["Subnet"]) for c in ipam if c.get("Subnet")],
        in_use=bool(containers) or name in refs.networks,
        containers=containers,
        services=services,
    )
