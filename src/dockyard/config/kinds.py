"""The registry of configuration kinds: how each is exported, validated and applied.

A kind is one type of configuration object (services, hosts, roles...). Each declares:

- `name` (the key under `kinds:` in the document) and `tables` (whose writes are
  configuration changes, for snapshots);
- `export(ctx)`: its objects as plain dicts in one fixed shape, sorted by `key`;
- `normalize(ctx, raw, path)`: validate one imported object (unknown fields refused) and
  return it in the export shape, so "changed" is a plain comparison;
- `create`, `update`, `delete`: apply one object through the domain's normal service
  functions (validation, audit, policy), in the caller's transaction.

To add a kind (templates, health checks, MCP servers, alert rules...), subclass `ConfigKind`
in the domain or here and call `register(...)`; export, import, snapshots and rollback pick
it up. Secrets never appear in a document: a kind exports `secret: {ref: ...}` instead.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.auth.service import Principal
from dockyard.kit.errors import DockyardError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.nodes.models import Node

SECRET_STORED = "stored"  # noqa: S105 (a reference name, not a secret)


@dataclass
class KindContext:
    """What a kind needs: the session, the runtime, and (on import) who is applying."""

    session: AsyncSession
    runtime: Any
    principal: Principal | None = None
    meta: RequestMeta | None = None
    # Callables run after a successful commit (job submissions, file removals).
    after_commit: list[Callable[[], Any]] = field(default_factory=list)
    _nodes: dict[str, Node] | None = None

    @property
    def actor(self) -> Actor:
        return self.principal.actor if self.principal is not None else Actor.system("config")

    async def nodes_by_name(self) -> dict[str, Node]:
        if self._nodes is None:
            rows = (await self.session.execute(select(Node))).scalars().all()
            self._nodes = {n.name: n for n in rows}
        return self._nodes

    async def node_names(self) -> dict[int, str]:
        return {n.id: name for name, n in (await self.nodes_by_name()).items()}

    async def node_id(self, name: str | None, path: str) -> int | None:
        if name is None:
            return None
        node = (await self.nodes_by_name()).get(name)
        if node is None:
            raise invalid(path, f"unknown node {name!r}")
        return node.id


def invalid(path: str, message: str, code: str = "config_invalid") -> ValidationFailedError:
    return ValidationFailedError(
        f"Invalid configuration at {path}: {message}.",
        code=code,
        details={"errors": [{"path": path, "message": message}]},
    )


def validation_error(exc: ValidationError, path: str) -> ValidationFailedError:
    errors = []
    for err in exc.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        errors.append({"path": f"{path}{loc}", "message": message})
    first = errors[0]
    return ValidationFailedError(
        f"Invalid configuration at {first['path']}: {first['message']}.",
        code="config_invalid",
        details={"errors": errors},
    )


def prefixed(exc: DockyardError, path: str) -> DockyardError:
    """The same error with every `details.errors[].path` put under `path`."""
    errors = []
    for err in (exc.details or {}).get("errors", []) or []:
        sub = str(err.get("path") or "")
        sub = sub.removeprefix("body.").removeprefix("body")
        joined = f"{path}.{sub}" if sub and not sub.startswith("[") else f"{path}{sub}"
        errors.append({**err, "path": joined})
    if not errors:
        errors = [{"path": path, "message": exc.message}]
    status = exc.status_code if exc.status_code in (401, 403) else 422
    message = f"Invalid configuration at {errors[0]['path']}: {exc.message}"
    return DockyardError(
        message,
        code=exc.code if status != 422 else "config_invalid",
        status_code=status,
        details={"errors": errors, "cause": exc.code},
    )


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConfigKind:
    """One kind of configuration object. Subclasses set the class attributes."""

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    read_permission: ClassVar[str]
    write_permissions: ClassVar[tuple[str, ...]]
    prunable: ClassVar[bool] = True
    # Applied before kinds with a higher order (roles before users of them...).
    order: ClassVar[int] = 50

    def key(self, item: dict[str, Any]) -> str:
        raise NotImplementedError

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        raise NotImplementedError

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        raise NotImplementedError

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        raise NotImplementedError

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        raise NotImplementedError

    async def export_sorted(self, ctx: KindContext) -> list[dict[str, Any]]:
        return sorted(await self.export(ctx), key=self.key)


def _model(model: type[Item], raw: Any, path: str) -> Item:
    if not isinstance(raw, dict):
        raise invalid(path, "must be a mapping")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, path) from exc


async def _guard(path: str, work: Awaitable[Any]) -> Any:
    try:
        return await work
    except DockyardError as exc:
        raise prefixed(exc, path) from exc


# ---------------------------------------------------------------- roles


class RoleItem(Item):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    parent: str | None = None
    permissions: list[str] = Field(default_factory=list)

    @field_validator("permissions")
    @classmethod
    def _sorted(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class RolesKind(ConfigKind):
    """Custom roles (built-in ones are code, never exported)."""

    name = "roles"
    tables = ("roles",)
    read_permission = "roles:read"
    write_permissions = ("roles:manage",)
    order = 10

    def key(self, item: dict[str, Any]) -> str:
        return str(item["name"])

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        from dockyard.access.models import Role

        rows = (await ctx.session.execute(select(Role).where(Role.builtin.is_(False)))).scalars()
        return [
            RoleItem(
                name=r.name,
                description=r.description or "",
                parent=r.parent,
                permissions=list(r.permissions or []),
            ).model_dump()
            for r in rows
        ]

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        from dockyard.access.permissions import BUILTIN_ROLES

        item = _model(RoleItem, raw, path).model_dump()
        if item["name"] in BUILTIN_ROLES:
            raise invalid(f"{path}.name", "built-in roles cannot be configured")
        return item

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        from dockyard.access import roles
        from dockyard.access.schemas import RoleCreate

        await _guard(
            path,
            roles.create_role(ctx.session, RoleCreate(**item), actor=ctx.actor, meta=ctx.meta),
        )

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        from dockyard.access import roles
        from dockyard.access.schemas import RoleUpdate

        body = RoleUpdate(
            description=item["description"], parent=item["parent"], permissions=item["permissions"]
        )
        await _guard(
            path, roles.update_role(ctx.session, item["name"], body, actor=ctx.actor, meta=ctx.meta)
        )

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        from dockyard.access import roles

        await _guard(
            f"kinds.roles.{current['name']}",
            roles.delete_role(ctx.session, current["name"], actor=ctx.actor, meta=ctx.meta),
        )


# ---------------------------------------------------------------- nodes


class NodeItem(Item):
    name: str = Field(min_length=1, max_length=128)
    labels: dict[str, str] = Field(default_factory=dict)


class NodesKind(ConfigKind):
    """Node names and labels. Nodes are registered with their connection, never imported:
    an unknown node is refused and prune never removes one. Credentials are never exported."""

    name = "nodes"
    tables = ("nodes",)
    read_permission = "nodes:read"
    write_permissions = ("nodes:manage",)
    prunable = False
    order = 20

    def key(self, item: dict[str, Any]) -> str:
        return str(item["name"])

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        rows = (await ctx.session.execute(select(Node))).scalars()
        return [
            NodeItem(
                name=n.name, labels={str(k): str(v) for k, v in (n.labels or {}).items()}
            ).model_dump()
            for n in rows
        ]

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        return _model(NodeItem, raw, path).model_dump()

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        raise invalid(
            f"{path}.name",
            f"node {item['name']!r} is not registered here; add the node first",
        )

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        from dockyard.kit.clock import utcnow

        node = (await ctx.nodes_by_name())[item["name"]]
        node.labels = dict(item["labels"])
        node.updated_at = utcnow()
        await ctx.session.flush()
        await record(
            ctx.session,
            action="node.updated",
            actor=ctx.actor,
            target_type="node",
            target_id=node.id,
            details={"name": node.name, "labels": node.labels, "source": "config"},
            meta=ctx.meta,
        )

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        return None


# ---------------------------------------------------------------- registries


class SecretRef(Item):
    ref: str = Field(
        min_length=1,
        max_length=300,
        description="`stored` (keep the secret stored here) or `env:NAME` (the server's "
        "environment variable NAME).",
    )

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        if value != SECRET_STORED and not (value.startswith("env:") and len(value) > 4):
            raise ValueError("must be `stored` or `env:NAME`")
        return value


class RegistryItem(Item):
    url: str = Field(min_length=1, max_length=300)
    name: str = Field(min_length=1, max_length=100)
    username: str | None = None
    secret: SecretRef | None = None


class RegistriesKind(ConfigKind):
    """Registry logins; the password is never exported (`secret: {ref: stored}`)."""

    name = "registries"
    tables = ("registries",)
    read_permission = "registries:read"
    write_permissions = ("registries:manage",)
    order = 30

    def key(self, item: dict[str, Any]) -> str:
        return str(item["url"])

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        from dockyard.registries.models import Registry
        from dockyard.registries.service import registry_url

        rows = (await ctx.session.execute(select(Registry))).scalars()
        return [
            RegistryItem(
                url=registry_url(r),
                name=r.name,
                username=r.username,
                secret=SecretRef(ref=SECRET_STORED) if r.secret_encrypted else None,
            ).model_dump()
            for r in rows
        ]

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        from dockyard.registries.models import Registry
        from dockyard.registries.service import _host_and_insecure, registry_url

        item = _model(RegistryItem, raw, path).model_dump()
        try:
            host, insecure = _host_and_insecure(item["url"], None, f"{path}.url")
        except DockyardError as exc:
            raise prefixed(exc, path) from exc
        # The canonical URL, as the export writes it.
        item["url"] = registry_url(Registry(host=host, insecure=insecure))
        return item

    def _password(self, item: dict[str, Any], path: str, has_stored: bool) -> str | None:
        secret = item.get("secret")
        if secret is None:
            return ""
        ref = str(secret["ref"])
        if ref == SECRET_STORED:
            if not has_stored:
                raise invalid(
                    f"{path}.secret.ref",
                    "no secret is stored here for this registry; use env:NAME",
                )
            return None  # keep
        value = os.environ.get(ref.removeprefix("env:"))
        if not value:
            raise invalid(f"{path}.secret.ref", f"the environment variable {ref[4:]} is not set")
        return value

    async def _get(self, ctx: KindContext, url: str) -> Any:
        from dockyard.registries.models import Registry
        from dockyard.registries.service import registry_url

        for row in (await ctx.session.execute(select(Registry))).scalars():
            if registry_url(row) == url:
                return row
        return None

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        from dockyard.registries import service as registries
        from dockyard.registries.schemas import RegistryCreate

        password = self._password(item, path, has_stored=False)
        body = RegistryCreate(
            name=item["name"], url=item["url"], username=item["username"], password=password or None
        )
        await _guard(
            path,
            registries.create_registry(
                ctx.runtime,
                ctx.session,
                body,
                user=ctx.principal.user if ctx.principal else None,
                actor=ctx.actor,
                meta=ctx.meta,
            ),
        )

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        from dockyard.registries import service as registries
        from dockyard.registries.schemas import RegistryPatch

        row = await self._get(ctx, current["url"])
        password = self._password(item, path, has_stored=current.get("secret") is not None)
        values: dict[str, Any] = {"name": item["name"], "username": item["username"]}
        if password is not None:
            values["password"] = password
        await _guard(
            path,
            registries.update_registry(
                ctx.runtime,
                ctx.session,
                row,
                RegistryPatch(**values),
                actor=ctx.actor,
                meta=ctx.meta,
            ),
        )

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        from dockyard.registries import service as registries

        row = await self._get(ctx, current["url"])
        await registries.delete_registry(ctx.session, row, actor=ctx.actor, meta=ctx.meta)


# ---------------------------------------------------------------- hosts


class HostItem(Item):
    hostname: str
    address: str
    ssh_port: int = 22
    ssh_user: str | None = None
    bastion: str | None = None
    environment: str | None = None
    tags: list[str] = Field(default_factory=list)
    notes: str = ""
    node: str | None = None
    ssh_template: str | None = None


class HostsKind(ConfigKind):
    """The host inventory (owners are not exported: an import makes the importer the owner)."""

    name = "hosts"
    tables = ("hosts",)
    read_permission = "hosts:read"
    write_permissions = ("hosts:manage",)
    order = 40

    def key(self, item: dict[str, Any]) -> str:
        return str(item["hostname"])

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        from dockyard.hosts import validation
        from dockyard.hosts.models import Host

        names = await ctx.node_names()
        rows = (await ctx.session.execute(select(Host))).scalars()
        return [
            HostItem(
                hostname=h.hostname,
                address=h.address,
                ssh_port=h.ssh_port,
                ssh_user=h.ssh_user,
                bastion=h.bastion,
                environment=h.environment,
                tags=validation.unpack_tags(h.tags),
                notes=h.notes or "",
                node=names.get(h.node_id) if h.node_id is not None else None,
                ssh_template=h.ssh_template,
            ).model_dump()
            for h in rows
        ]

    async def _body(self, ctx: KindContext, item: dict[str, Any], path: str) -> dict[str, Any]:
        values = {k: v for k, v in item.items() if k != "node"}
        values["node_id"] = await ctx.node_id(item["node"], f"{path}.node")
        return values

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        from dockyard.hosts.schemas import HostCreate

        item = _model(HostItem, raw, path).model_dump()
        values = {k: v for k, v in item.items() if k != "node"}
        try:
            body = HostCreate.model_validate(values)
        except ValidationError as exc:
            raise validation_error(exc, path) from exc
        normalized = body.model_dump(include=set(values))
        normalized["node"] = item["node"]
        return HostItem(**normalized).model_dump()

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        from dockyard.hosts import service as hosts
        from dockyard.hosts.schemas import HostCreate

        if ctx.principal is None:
            raise invalid(path, "an import needs a user")
        body = HostCreate(**await self._body(ctx, item, path))
        await _guard(
            path,
            hosts.create_host(ctx.session, body, ctx.principal, ctx.meta or RequestMeta()),
        )

    async def _row(self, ctx: KindContext, hostname: str) -> Any:
        from dockyard.hosts.models import Host

        return (
            await ctx.session.execute(select(Host).where(Host.hostname == hostname))
        ).scalar_one()

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        from dockyard.hosts import service as hosts
        from dockyard.hosts.schemas import HostPatch

        row = await self._row(ctx, current["hostname"])
        body = HostPatch(**await self._body(ctx, item, path))
        await _guard(
            path, hosts.update_host(ctx.session, row, body, ctx.actor, ctx.meta or RequestMeta())
        )

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        from dockyard.artifacts import storage
        from dockyard.hosts import service as hosts

        row = await self._row(ctx, current["hostname"])
        files = await hosts.delete_host(ctx.session, row, ctx.actor, ctx.meta or RequestMeta())
        settings = ctx.runtime.settings
        ctx.after_commit.append(lambda: storage.remove_files(settings, files))


# ---------------------------------------------------------------- services


class ServiceItem(Item):
    name: str
    node: str
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    definition: dict[str, Any]
    update_policy: dict[str, Any] | None = None


class ServicesKind(ConfigKind):
    """Services: definition (the latest revision), labels and the image update policy.

    Applied through the normal service create/update path: definition validation, a new
    revision with source `import`, and the container security policy and quotas for
    callers who are not privileged. Prune deletes a service with a normal delete job.
    """

    name = "services"
    tables = ("services", "service_revisions", "service_update_policies")
    read_permission = "services:read"
    write_permissions = ("services:create", "services:edit")
    order = 60

    def key(self, item: dict[str, Any]) -> str:
        return f"{item['node']}/{item['name']}"

    @staticmethod
    def _policy_dict(body: Any) -> dict[str, Any]:
        from dockyard.updates.schemas import UpdatePolicyIn

        data: dict[str, Any] = UpdatePolicyIn.model_validate(body).model_dump(mode="json")
        return data

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        from dockyard.access.service import can_see_service
        from dockyard.services import repository
        from dockyard.services.models import Service
        from dockyard.updates import service as updates

        names = await ctx.node_names()
        rows = list((await ctx.session.execute(select(Service))).scalars())
        if ctx.principal is not None:
            rows = [s for s in rows if can_see_service(ctx.principal, s)]
        latest = await repository.latest_revisions(ctx.session, rows)
        items = []
        for s in rows:
            policy = await updates.policy_out(ctx.session, s)
            items.append(
                ServiceItem(
                    name=s.name,
                    node=names[s.node_id],
                    description=s.description or "",
                    labels={str(k): str(v) for k, v in (s.labels or {}).items()},
                    definition=latest[s.id].definition if s.id in latest else {},
                    update_policy=self._policy_dict(
                        policy.model_dump(
                            include={
                                "mode",
                                "schedule",
                                "verify",
                                "remove_old_images",
                                "maintenance_window",
                            }
                        )
                    ),
                ).model_dump()
            )
        return items

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        from dockyard.services.definitions import canonical_json, parse_input
        from dockyard.services.schemas import check_service_name

        if isinstance(raw, dict) and raw.get("node") is None:
            # Default: the local node (convenient for hand-written documents).
            from dockyard.nodes import repository as nodes

            local = await nodes.get_local(ctx.session)
            raw = {**raw, "node": local.name if local else ""}
        item = _model(ServiceItem, raw, path).model_dump()
        try:
            check_service_name(item["name"])
        except ValueError as exc:
            raise invalid(f"{path}.name", str(exc)) from exc
        await ctx.node_id(item["node"], f"{path}.node")
        try:
            item["definition"] = canonical_json(
                parse_input(definition=item["definition"], compose=None, env=None)
            )
        except DockyardError as exc:
            raise prefixed(exc, f"{path}.definition") from exc
        try:
            item["update_policy"] = self._policy_dict(item["update_policy"] or {})
        except ValidationError as exc:
            raise validation_error(exc, f"{path}.update_policy") from exc
        return item

    async def _row(self, ctx: KindContext, item: dict[str, Any]) -> Any:
        from dockyard.services import repository

        node_id = (await ctx.nodes_by_name())[item["node"]].id
        return await repository.get_by_name(ctx.session, node_id, item["name"])

    async def _policy(
        self, ctx: KindContext, service: Any, item: dict[str, Any], path: str
    ) -> None:
        from dockyard.updates import service as updates
        from dockyard.updates.schemas import UpdatePolicyIn

        current = await updates.policy_out(ctx.session, service)
        current_dict = self._policy_dict(
            current.model_dump(
                include={"mode", "schedule", "verify", "remove_old_images", "maintenance_window"}
            )
        )
        if current_dict == item["update_policy"]:
            return
        await _guard(
            f"{path}.update_policy",
            updates.put_policy(
                ctx.session,
                service,
                UpdatePolicyIn.model_validate(item["update_policy"]),
                actor=ctx.actor,
                meta=ctx.meta,
            ),
        )

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        from dockyard.quotas.service import policy_context
        from dockyard.services import service as services
        from dockyard.services.schemas import ServiceCreate

        if ctx.principal is None:
            raise invalid(path, "an import needs a user")
        body = ServiceCreate(
            name=item["name"],
            description=item["description"],
            node_id=(await ctx.nodes_by_name())[item["node"]].id,
            labels=item["labels"],
            definition=item["definition"],
            source="import",
        )
        policy = await policy_context(
            ctx.session, ctx.principal, ctx.runtime.settings, service_name=item["name"]
        )
        service = await _guard(
            path,
            services.create_service(
                ctx.session,
                body,
                user=ctx.principal.user,
                actor=ctx.actor,
                meta=ctx.meta,
                origin="import",
                policy=policy,
            ),
        )
        await self._policy(ctx, service, item, path)

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        from dockyard.access.service import can_see_service
        from dockyard.quotas.service import policy_context
        from dockyard.services import service as services
        from dockyard.services.schemas import ServiceUpdate

        if ctx.principal is None:
            raise invalid(path, "an import needs a user")
        service = await self._row(ctx, current)
        if not can_see_service(ctx.principal, service):
            raise invalid(path, "you may not change this service")
        body = ServiceUpdate(
            description=item["description"],
            labels=item["labels"],
            definition=item["definition"] if item["definition"] != current["definition"] else None,
            source="import",
        )
        policy = await policy_context(
            ctx.session, ctx.principal, ctx.runtime.settings, service_name=service.name
        )
        await _guard(
            path,
            services.update_service(
                ctx.session,
                service,
                body,
                expected_revision=None,
                user=ctx.principal.user,
                actor=ctx.actor,
                meta=ctx.meta,
                policy=policy,
            ),
        )
        await self._policy(ctx, service, item, path)

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        from dockyard.services import service as services

        service = await self._row(ctx, current)
        job = await services.request_action(ctx.session, service, "delete", actor=ctx.actor)
        runtime = ctx.runtime
        ctx.after_commit.append(lambda: runtime.jobs.submit(job.id))


# ---------------------------------------------------------------- cleanup policies


class CleanupPolicyItem(Item):
    node: str
    enabled: bool = False
    targets: list[str] = Field(default_factory=lambda: ["dangling_images", "build_cache"])
    include_managed: bool = False
    label: str | None = None
    schedule: dict[str, Any] = Field(
        default_factory=lambda: {"frequency": "daily", "time": "03:00", "timezone": "UTC"}
    )


class CleanupPoliciesKind(ConfigKind):
    """Scheduled image cleanup per node (one per node; prune never removes one)."""

    name = "cleanup_policies"
    tables = ("cleanup_policies",)
    read_permission = "images:read"
    write_permissions = ("images:cleanup",)
    prunable = False
    order = 70

    def key(self, item: dict[str, Any]) -> str:
        return str(item["node"])

    @staticmethod
    def _dump(node: str, body: Any) -> dict[str, Any]:
        from dockyard.images.schemas import CleanupPolicyIn

        policy = CleanupPolicyIn.model_validate(body).model_dump(mode="json")
        return CleanupPolicyItem(node=node, **policy).model_dump()

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        from dockyard.images import policy

        items = []
        nodes = await ctx.nodes_by_name()
        policies = await policy.configured(ctx.session, (node.id for node in nodes.values()))
        for name, node in nodes.items():
            out = policies[node.id]
            items.append(
                self._dump(
                    name,
                    out.model_dump(
                        include={"enabled", "targets", "include_managed", "label", "schedule"}
                    ),
                )
            )
        return items

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        item = _model(CleanupPolicyItem, raw, path).model_dump()
        await ctx.node_id(item["node"], f"{path}.node")
        try:
            return self._dump(item["node"], {k: v for k, v in item.items() if k != "node"})
        except ValidationError as exc:
            raise validation_error(exc, path) from exc

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        raise invalid(f"{path}.node", f"unknown node {item['node']!r}")

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        from dockyard.images import policy
        from dockyard.images.schemas import CleanupPolicyIn

        node_id = (await ctx.nodes_by_name())[item["node"]].id
        body = CleanupPolicyIn.model_validate({k: v for k, v in item.items() if k != "node"})
        await _guard(path, policy.put(ctx.session, node_id, body, actor=ctx.actor, meta=ctx.meta))

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        return None


# ---------------------------------------------------------------- alerts


class AlertChannelItem(Item):
    name: str
    type: str
    config: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    # Secret config fields by reference: `{field: {ref: stored | env:NAME}}`.
    secrets: dict[str, SecretRef] = Field(default_factory=dict)


class AlertChannelsKind(ConfigKind):
    """Alert channels; secret fields (webhook secret/headers, Slack URL, SMTP password) are
    exported by reference only."""

    name = "alert_channels"
    tables = ("alert_channels",)
    read_permission = "alerts:read"
    write_permissions = ("alerts:manage",)
    order = 80

    def key(self, item: dict[str, Any]) -> str:
        return str(item["name"])

    async def _rows(self, ctx: KindContext) -> dict[str, Any]:
        from dockyard.alerts.models import AlertChannel

        rows = (await ctx.session.execute(select(AlertChannel))).scalars()
        return {r.name: r for r in rows}

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        from dockyard.alerts import service as alerts

        items = []
        for row in (await self._rows(ctx)).values():
            try:
                stored = alerts.read_secrets(ctx.runtime, row)
            except DockyardError:
                stored = {}
            items.append(
                AlertChannelItem(
                    name=row.name,
                    type=row.type,
                    config=dict(row.config or {}),
                    enabled=row.enabled,
                    secrets={k: SecretRef(ref=SECRET_STORED) for k, v in stored.items() if v},
                ).model_dump()
            )
        return items

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        from dockyard.alerts.schemas import SECRET_FIELDS

        item = _model(AlertChannelItem, raw, path).model_dump()
        if item["type"] not in SECRET_FIELDS:
            raise invalid(f"{path}.type", f"must be one of {', '.join(sorted(SECRET_FIELDS))}")
        for field_name in item["secrets"]:
            if field_name not in SECRET_FIELDS[item["type"]]:
                raise invalid(f"{path}.secrets.{field_name}", "not a secret field of this type")
        for field_name in SECRET_FIELDS[item["type"]]:
            if field_name in item["config"]:
                raise invalid(
                    f"{path}.config.{field_name}",
                    "a secret: give it by reference under `secrets` ({ref: env:NAME})",
                )
        return item

    def _config(self, item: dict[str, Any], path: str, stored: set[str]) -> dict[str, Any]:
        config = dict(item["config"])
        for field_name, ref in item["secrets"].items():
            value = str(ref["ref"])
            if value == SECRET_STORED:
                if field_name not in stored:
                    raise invalid(
                        f"{path}.secrets.{field_name}.ref",
                        "no secret is stored here for this channel; use env:NAME",
                    )
                continue  # save_channel keeps the stored value of a missing secret field
            env = os.environ.get(value.removeprefix("env:"))
            if not env:
                raise invalid(
                    f"{path}.secrets.{field_name}.ref",
                    f"the environment variable {value[4:]} is not set",
                )
            config[field_name] = env
        return config

    async def _save(
        self, ctx: KindContext, item: dict[str, Any], path: str, row: Any, stored: set[str]
    ) -> None:
        from dockyard.alerts import service as alerts
        from dockyard.alerts.schemas import ChannelIn

        try:
            body = ChannelIn.model_validate(
                {
                    "name": item["name"],
                    "type": item["type"],
                    "config": self._config(item, path, stored),
                    "enabled": item["enabled"],
                }
            )
        except ValidationError as exc:
            raise validation_error(exc, path) from exc
        await _guard(
            path,
            alerts.save_channel(
                ctx.runtime,
                ctx.session,
                body,
                ctx.actor,
                ctx.meta,
                channel_id=row.id if row is not None else None,
            ),
        )

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        await self._save(ctx, item, path, None, set())

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        row = (await self._rows(ctx))[current["name"]]
        stored = set(current["secrets"]) if current["type"] == item["type"] else set()
        await self._save(ctx, item, path, row, stored)

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        from dockyard.alerts import service as alerts

        row = (await self._rows(ctx))[current["name"]]
        await alerts.delete_channel(ctx.session, row.id, ctx.actor, ctx.meta)


_Names = dict[int, str]


class AlertScopeItem(Item):
    type: str = "all"
    # Node names, services as `node/name`; other scope types keep their ids.
    ids: list[str | int] = Field(default_factory=list)


class AlertRuleItem(Item):
    name: str
    condition: dict[str, Any]
    scope: AlertScopeItem = Field(default_factory=AlertScopeItem)
    for_s: int = 0
    cooldown_s: int = 300
    channels: list[str] = Field(default_factory=list)
    enabled: bool = True


class AlertRulesKind(ConfigKind):
    """Alert rules; channels by name, node and service scopes by name (`node/service`)."""

    name = "alert_rules"
    tables = ("alert_rules",)
    read_permission = "alerts:read"
    write_permissions = ("alerts:manage",)
    order = 85

    def key(self, item: dict[str, Any]) -> str:
        return str(item["name"])

    async def _maps(self, ctx: KindContext) -> tuple[_Names, _Names, _Names]:
        from dockyard.alerts.models import AlertChannel
        from dockyard.services.models import Service

        nodes = await ctx.node_names()
        services = {
            s.id: f"{nodes.get(s.node_id, '?')}/{s.name}"
            for s in (await ctx.session.execute(select(Service))).scalars()
        }
        channels = {
            c.id: c.name for c in (await ctx.session.execute(select(AlertChannel))).scalars()
        }
        return nodes, services, channels

    async def _rows(self, ctx: KindContext) -> dict[str, Any]:
        from dockyard.alerts.models import AlertRule

        return {r.name: r for r in (await ctx.session.execute(select(AlertRule))).scalars()}

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        nodes, services, channels = await self._maps(ctx)
        items = []
        for row in (await self._rows(ctx)).values():
            scope = dict(row.scope or {})
            kind = str(scope.get("type") or "all")
            names = {"node": nodes, "service": services}.get(kind)
            ids = [names.get(i, str(i)) if names else i for i in scope.get("ids") or []]
            items.append(
                AlertRuleItem(
                    name=row.name,
                    condition=dict(row.condition),
                    scope=AlertScopeItem(type=kind, ids=sorted(ids, key=str)),
                    for_s=row.for_s,
                    cooldown_s=row.cooldown_s,
                    channels=sorted(channels[c] for c in row.channels or [] if c in channels),
                    enabled=row.enabled,
                ).model_dump()
            )
        return items

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        item = _model(AlertRuleItem, raw, path).model_dump()
        item["scope"]["ids"] = sorted(item["scope"]["ids"], key=str)
        item["channels"] = sorted(set(item["channels"]))
        return item

    async def _body(self, ctx: KindContext, item: dict[str, Any], path: str) -> Any:
        from dockyard.alerts.schemas import RuleIn

        nodes, services, channels = await self._maps(ctx)
        by_name = {"node": nodes, "service": services}.get(item["scope"]["type"])
        ids: list[Any] = []
        for index, ref in enumerate(item["scope"]["ids"]):
            if by_name is None:
                ids.append(ref)
                continue
            found = [i for i, n in by_name.items() if n == ref]
            if not found:
                raise invalid(f"{path}.scope.ids[{index}]", f"unknown {item['scope']['type']}")
            ids.append(found[0])
        channel_ids = []
        for index, name in enumerate(item["channels"]):
            found = [i for i, n in channels.items() if n == name]
            if not found:
                raise invalid(f"{path}.channels[{index}]", f"unknown alert channel {name!r}")
            channel_ids.append(found[0])
        values = {**item, "scope": {"type": item["scope"]["type"], "ids": ids}}
        values["channels"] = channel_ids
        try:
            return RuleIn.model_validate(values)
        except ValidationError as exc:
            raise validation_error(exc, path) from exc

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        from dockyard.alerts import service as alerts

        body = await self._body(ctx, item, path)
        await _guard(path, alerts.save_rule(ctx.session, body, ctx.actor, ctx.meta))

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        from dockyard.alerts import service as alerts

        row = (await self._rows(ctx))[current["name"]]
        body = await self._body(ctx, item, path)
        await _guard(path, alerts.save_rule(ctx.session, body, ctx.actor, ctx.meta, rule_id=row.id))

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        from dockyard.alerts import service as alerts

        row = (await self._rows(ctx))[current["name"]]
        await alerts.delete_rule(ctx.session, row.id, ctx.actor, ctx.meta)


# ---------------------------------------------------------------- MCP servers


class McpServerItem(Item):
    name: str
    url: str
    transport: str = "streamable_http"
    description: str = ""
    service: str | None = None  # `node/name`
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    check_interval_s: int = 60
    timeout_s: float = 10.0
    # Request headers (Authorization...) by reference only: `{name: {ref: ...}}`.
    headers: dict[str, SecretRef] = Field(default_factory=dict)


class McpServersKind(ConfigKind):
    """MCP servers in the registry; their headers (auth) by reference only."""

    name = "mcp_servers"
    tables = ("mcp_servers",)
    read_permission = "mcp:read"
    write_permissions = ("mcp:manage",)
    order = 90

    def key(self, item: dict[str, Any]) -> str:
        return str(item["name"])

    async def _rows(self, ctx: KindContext) -> dict[str, Any]:
        from dockyard.mcp_registry.models import McpServer

        return {r.name: r for r in (await ctx.session.execute(select(McpServer))).scalars()}

    async def _service_names(self, ctx: KindContext) -> dict[int, str]:
        from dockyard.services.models import Service

        nodes = await ctx.node_names()
        return {
            s.id: f"{nodes.get(s.node_id, '?')}/{s.name}"
            for s in (await ctx.session.execute(select(Service))).scalars()
        }

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        services = await self._service_names(ctx)
        return [
            McpServerItem(
                name=r.name,
                url=r.url,
                transport=r.transport,
                description=r.description or "",
                service=services.get(r.service_id) if r.service_id is not None else None,
                enabled=r.enabled,
                tags=list(r.tags or []),
                check_interval_s=r.check_interval_s,
                timeout_s=r.timeout_s,
                headers={h: SecretRef(ref=SECRET_STORED) for h in r.header_names or []},
            ).model_dump()
            for r in (await self._rows(ctx)).values()
        ]

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        return _model(McpServerItem, raw, path).model_dump()

    async def _values(
        self, ctx: KindContext, item: dict[str, Any], path: str, row: Any
    ) -> dict[str, Any]:
        from dockyard.mcp_registry.service import decrypt_headers

        values = {k: v for k, v in item.items() if k not in ("service", "headers")}
        values["service_id"] = None
        if item["service"] is not None:
            services = await self._service_names(ctx)
            found = [i for i, n in services.items() if n == item["service"]]
            if not found:
                raise invalid(f"{path}.service", f"unknown service {item['service']!r}")
            values["service_id"] = found[0]
        refs = item["headers"]
        stored_names = set(row.header_names or []) if row is not None else set()
        if (
            row is not None
            and set(refs) == stored_names
            and all(r["ref"] == SECRET_STORED for r in refs.values())
        ):
            return values  # headers unchanged: keep the stored ones
        stored = decrypt_headers(ctx.runtime, row) if row is not None and stored_names else {}
        headers: dict[str, str] = {}
        for header, ref in refs.items():
            value = str(ref["ref"])
            if value == SECRET_STORED:
                if header not in stored:
                    raise invalid(
                        f"{path}.headers.{header}.ref",
                        "no value is stored here for this header; use env:NAME",
                    )
                headers[header] = stored[header]
                continue
            env = os.environ.get(value.removeprefix("env:"))
            if not env:
                raise invalid(
                    f"{path}.headers.{header}.ref",
                    f"the environment variable {value[4:]} is not set",
                )
            headers[header] = env
        values["headers"] = headers
        return values

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        from dockyard.mcp_registry import service as mcp
        from dockyard.mcp_registry.schemas import McpServerCreate

        values = await self._values(ctx, item, path, None)
        try:
            body = McpServerCreate.model_validate(values)
        except ValidationError as exc:
            raise validation_error(exc, path) from exc
        await _guard(
            path, mcp.create_server(ctx.runtime, ctx.session, body, actor=ctx.actor, meta=ctx.meta)
        )

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        from dockyard.mcp_registry import service as mcp
        from dockyard.mcp_registry.schemas import McpServerPatch

        row = (await self._rows(ctx))[current["name"]]
        values = await self._values(ctx, item, path, row)
        try:
            body = McpServerPatch.model_validate(values)
        except ValidationError as exc:
            raise validation_error(exc, path) from exc
        await _guard(
            path,
            mcp.update_server(ctx.runtime, ctx.session, row, body, actor=ctx.actor, meta=ctx.meta),
        )
        await ctx.session.flush()

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        from dockyard.mcp_registry import service as mcp

        row = (await self._rows(ctx))[current["name"]]
        await mcp.delete_server(ctx.session, row, actor=ctx.actor, meta=ctx.meta)


# ---------------------------------------------------------------- health checks


class HealthCheckItem(Item):
    name: str
    kind: str
    # As the API takes it, except: docker `service_id`/`node_id` become `service`
    # (`node/name`) and `node`; http `headers` values are references (`{ref: ...}`).
    target: dict[str, Any]
    interval_s: int = 60
    timeout_s: float = 10.0
    retries: int = 1
    # `service_id` becomes `service` (`node/name`).
    remediation: dict[str, Any] | None = None
    enabled: bool = True


class HealthChecksKind(ConfigKind):
    """Health checks, matched by name (keep names unique); header values by reference."""

    name = "health_checks"
    tables = ("health_checks",)
    read_permission = "health:read"
    write_permissions = ("health:manage",)
    order = 95

    def key(self, item: dict[str, Any]) -> str:
        return str(item["name"])

    async def _rows(self, ctx: KindContext) -> dict[str, Any]:
        from dockyard.health.models import HealthCheck

        rows = (await ctx.session.execute(select(HealthCheck).order_by(HealthCheck.id))).scalars()
        return {r.name: r for r in rows}

    async def _services(self, ctx: KindContext) -> dict[int, str]:
        from dockyard.services.models import Service

        nodes = await ctx.node_names()
        return {
            s.id: f"{nodes.get(s.node_id, '?')}/{s.name}"
            for s in (await ctx.session.execute(select(Service))).scalars()
        }

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        services = await self._services(ctx)
        nodes = await ctx.node_names()
        items = []
        for row in (await self._rows(ctx)).values():
            target = dict(row.target or {})
            if "service_id" in target:
                sid = target.pop("service_id")
                target["service"] = services.get(sid, str(sid)) if sid is not None else None
            if "node_id" in target:
                nid = target.pop("node_id")
                target["node"] = nodes.get(nid, str(nid)) if nid is not None else None
            if row.kind == "http" and target.get("headers"):
                target["headers"] = {h: {"ref": SECRET_STORED} for h in target["headers"]}
            remediation = dict(row.remediation) if row.remediation else None
            if remediation is not None and "service_id" in remediation:
                sid = remediation.pop("service_id")
                remediation["service"] = services.get(sid, str(sid)) if sid is not None else None
            items.append(
                HealthCheckItem(
                    name=row.name,
                    kind=row.kind,
                    target=target,
                    interval_s=row.interval_s,
                    timeout_s=row.timeout_s,
                    retries=row.retries,
                    remediation=remediation,
                    enabled=row.enabled,
                ).model_dump()
            )
        return items

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        return _model(HealthCheckItem, raw, path).model_dump()

    async def _api_values(
        self, ctx: KindContext, item: dict[str, Any], path: str, row: Any
    ) -> dict[str, Any]:
        services = await self._services(ctx)

        def service_id(name: Any, where: str) -> int | None:
            if name is None:
                return None
            found = [i for i, n in services.items() if n == name]
            if not found:
                raise invalid(where, f"unknown service {name!r}")
            return found[0]

        target = dict(item["target"])
        if "service" in target:
            target["service_id"] = service_id(target.pop("service"), f"{path}.target.service")
        if "node" in target:
            target["node_id"] = await ctx.node_id(target.pop("node"), f"{path}.target.node")
        if item["kind"] == "http" and isinstance(target.get("headers"), dict):
            stored = dict((row.target or {}).get("headers") or {}) if row is not None else {}
            headers: dict[str, str] = {}
            for header, ref in target["headers"].items():
                where = f"{path}.target.headers.{header}"
                value = ref.get("ref") if isinstance(ref, dict) else None
                if not isinstance(value, str):
                    raise invalid(where, "give header values by reference: {ref: env:NAME}")
                if value == SECRET_STORED:
                    if header not in stored:
                        raise invalid(f"{where}.ref", "no value is stored here; use env:NAME")
                    headers[header] = stored[header]
                elif value.startswith("env:") and os.environ.get(value[4:]):
                    headers[header] = os.environ[value[4:]]
                else:
                    raise invalid(f"{where}.ref", "must be `stored` or a set `env:NAME`")
            target["headers"] = headers
        remediation = dict(item["remediation"]) if item["remediation"] else None
        if remediation is not None and "service" in remediation:
            remediation["service_id"] = service_id(
                remediation.pop("service"), f"{path}.remediation.service"
            )
        return {**item, "target": target, "remediation": remediation}

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        from dockyard.health import service as health
        from dockyard.health.schemas import HealthCheckCreate

        values = await self._api_values(ctx, item, path, None)
        try:
            body = HealthCheckCreate.model_validate(values)
        except ValidationError as exc:
            raise validation_error(exc, path) from exc
        user_id = ctx.principal.user.id if ctx.principal is not None else None
        await _guard(
            path,
            health.create_check(
                ctx.session,
                body,
                box=health.header_box(ctx.runtime.auth.secret),
                user_id=user_id,
                actor=ctx.actor,
                meta=ctx.meta,
            ),
        )

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        from dockyard.health import service as health
        from dockyard.health.schemas import HealthCheckPatch

        row = (await self._rows(ctx))[current["name"]]
        if item["kind"] != row.kind:
            raise invalid(f"{path}.kind", "the kind of a check cannot change; rename it")
        values = await self._api_values(ctx, item, path, row)
        values.pop("kind")
        try:
            body = HealthCheckPatch.model_validate(values)
        except ValidationError as exc:
            raise validation_error(exc, path) from exc
        await _guard(
            path,
            health.update_check(
                ctx.session,
                row,
                body,
                box=health.header_box(ctx.runtime.auth.secret),
                actor=ctx.actor,
                meta=ctx.meta,
            ),
        )

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        from dockyard.health import service as health

        row = (await self._rows(ctx))[current["name"]]
        await health.delete_check(ctx.session, row, actor=ctx.actor, meta=ctx.meta)


# ---------------------------------------------------------------- templates


class TemplatesKind(ConfigKind):
    """Templates added here (imported or created); the built-in starter catalog ships with
    the package and is never exported. Matched by slug; the shape is Dockyard's template
    format (`TemplateIn`)."""

    name = "templates"
    tables = ("templates",)
    read_permission = "templates:read"
    write_permissions = ("templates:manage",)
    order = 55

    def key(self, item: dict[str, Any]) -> str:
        return str(item["slug"])

    async def _rows(self, ctx: KindContext) -> dict[str, Any]:
        from dockyard.templates.models import Template

        rows = (await ctx.session.execute(select(Template))).scalars()
        return {r.slug: r for r in rows}

    async def export(self, ctx: KindContext) -> list[dict[str, Any]]:
        from dockyard.templates.service import to_in

        return [
            to_in(r).model_dump(mode="json")
            for r in (await self._rows(ctx)).values()
            if not r.builtin
        ]

    async def normalize(self, ctx: KindContext, raw: Any, path: str) -> dict[str, Any]:
        from dockyard.templates.schemas import TemplateIn

        if not isinstance(raw, dict):
            raise invalid(path, "must be a mapping")
        if not raw.get("slug"):
            raise invalid(f"{path}.slug", "required (templates are matched by slug)")
        try:
            body = TemplateIn.model_validate(raw)
        except ValidationError as exc:
            raise validation_error(exc, path) from exc
        item: dict[str, Any] = body.model_dump(mode="json")
        item["category"] = str(item["category"]).strip().lower()
        return item

    async def create(self, ctx: KindContext, item: dict[str, Any], path: str) -> None:
        from dockyard.templates import service as templates
        from dockyard.templates.schemas import TemplateIn

        existing = (await self._rows(ctx)).get(item["slug"])
        if existing is not None and existing.builtin:
            raise invalid(f"{path}.slug", "a built-in template has this slug")
        body = TemplateIn.model_validate(item)
        await _guard(
            path, templates.create_template(ctx.session, body, actor=ctx.actor, meta=ctx.meta)
        )

    async def update(
        self, ctx: KindContext, current: dict[str, Any], item: dict[str, Any], path: str
    ) -> None:
        from dockyard.templates import service as templates
        from dockyard.templates.schemas import TemplateIn

        row = (await self._rows(ctx))[current["slug"]]
        body = TemplateIn.model_validate(item)
        await _guard(
            path,
            templates.update_template(ctx.session, row, body, actor=ctx.actor, meta=ctx.meta),
        )

    async def delete(self, ctx: KindContext, current: dict[str, Any]) -> None:
        from dockyard.templates import service as templates

        row = (await self._rows(ctx))[current["slug"]]
        await templates.delete_template(ctx.session, row, actor=ctx.actor, meta=ctx.meta)


# ---------------------------------------------------------------- the registry

KINDS: dict[str, ConfigKind] = {}


def register(kind: ConfigKind) -> None:
    """Add a kind (the extension point for templates, health checks, MCP servers, alerts)."""
    KINDS[kind.name] = kind


for _kind in (
    RolesKind(),
    NodesKind(),
    RegistriesKind(),
    HostsKind(),
    ServicesKind(),
    CleanupPoliciesKind(),
    AlertChannelsKind(),
    AlertRulesKind(),
    McpServersKind(),
    HealthChecksKind(),
    TemplatesKind(),
):
    register(_kind)


def config_tables() -> frozenset[str]:
    """Every table whose committed writes are configuration changes."""
    return frozenset(t for kind in KINDS.values() for t in kind.tables)


def ordered(names: list[str] | None = None) -> list[ConfigKind]:
    """The kinds (all, or those named) in apply order."""
    kinds = [KINDS[n] for n in names] if names is not None else list(KINDS.values())
    return sorted(kinds, key=lambda k: (k.order, k.name))
