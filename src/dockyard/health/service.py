"""Health check logic: CRUD, probing, recording results, status transitions (events and
audit), remediation through the service jobs, uptime and history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.audit.service import Actor, record
from dockyard.health.models import HealthCheck, HealthCheckResult, HealthRemediation
from dockyard.health.probes import (
    HostGuard,
    HttpClients,
    ProbeResult,
    probe_docker,
    probe_http,
    probe_mcp,
    probe_tcp,
)
from dockyard.health.schemas import (
    REDACTED,
    DockerTarget,
    HealthCheckCreate,
    HealthCheckOut,
    HealthCheckPatch,
    HttpTarget,
    McpTarget,
    Remediation,
    TcpTarget,
    Uptime,
    parse_target,
)
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import ConflictError, NotFoundError, ValidationFailedError
from dockyard.kit.request_meta import RequestMeta
from dockyard.kit.secrets_box import SecretBox, SecretBoxError
from dockyard.nodes.models import Node
from dockyard.services import service as services
from dockyard.services.models import Service
from dockyard.services.schemas import ServiceAction

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

log = structlog.get_logger(__name__)

HOURLY_LIMIT_NOTE = "remediation skipped: hourly limit"
WINDOWS = {"h24": timedelta(hours=24), "d7": timedelta(days=7), "d30": timedelta(days=30)}


# ---------------------------------------------------------------- the prober


class Prober:
    """What probing needs in one process: the shared HTTP clients, the host guard and the
    concurrency bound."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.guard = HostGuard(settings.health_allowed_hosts)
        self.clients = HttpClients(settings.health_max_concurrency)
        self.semaphore = asyncio.Semaphore(settings.health_max_concurrency)
        self.box = header_box(runtime.auth.secret)

    async def probe(self, spec: CheckSpec) -> ProbeResult:
        async with self.semaphore:
            return await self._probe(spec)

    async def _probe(self, spec: CheckSpec) -> ProbeResult:
        try:
            target = parse_target(spec.kind, open_target(spec.kind, spec.target, self.box))
            if isinstance(target, HttpTarget):
                return await asyncio.wait_for(
                    probe_http(target, spec.timeout_s, self.clients, self.guard),
                    spec.timeout_s + 1,
                )
            if isinstance(target, TcpTarget):
                return await probe_tcp(target, spec.timeout_s, self.guard)
            if isinstance(target, DockerTarget):
                return probe_docker(target, self.runtime)
            if isinstance(target, McpTarget):
                return await probe_mcp(target, spec.timeout_s, self.runtime, self.guard)
            return ProbeResult(False, None, f"unknown kind {spec.kind}")
        except TimeoutError:
            return ProbeResult(False, None, f"timed out after {spec.timeout_s:g} s")
        except ValidationFailedError as exc:
            return ProbeResult(False, None, f"invalid target: {exc.message}")
        except Exception as exc:  # a probe bug must not stop the runner
            log.exception("health_probe_failed", check_id=spec.id)
            return ProbeResult(False, None, f"probe failed: {type(exc).__name__}")

    async def close(self) -> None:
        await self.clients.close()


def prober_for(runtime: Runtime) -> Prober:
    """The process's prober (created on first use; closed by the runner's stop)."""
    prober = getattr(runtime, "_health_prober", None)
    if prober is None:
        prober = Prober(runtime)
        runtime._health_prober = prober  # type: ignore[attr-defined]
    return prober


async def close_prober(runtime: Runtime) -> None:
    prober = getattr(runtime, "_health_prober", None)
    if prober is not None:
        runtime._health_prober = None  # type: ignore[attr-defined]
        await prober.close()


@dataclass(frozen=True)
class CheckSpec:
    """What the runner needs to probe one check (a snapshot of the row)."""

    id: int
    name: str
    kind: str
    target: dict[str, Any]
    interval_s: int
    timeout_s: float

    @classmethod
    def of(cls, check: HealthCheck) -> CheckSpec:
        return cls(
            check.id, check.name, check.kind, dict(check.target), check.interval_s, check.timeout_s
        )


# ---------------------------------------------------------------- results


@dataclass
class Outcome:
    result: HealthCheckResult
    check_status: str
    transition: str | None
    jobs: list[str] = field(default_factory=list)


# HTTP header values (tokens, API keys) are stored encrypted; this marks a sealed value.
SEALED_PREFIX = "dyenc1:"


def header_box(secret: str) -> SecretBox:
    """The box that seals HTTP checks' header values at rest."""
    return SecretBox(secret, purpose="health-headers")


def open_target(kind: str, target: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    """The target with its header values decrypted, for probing only (never returned)."""
    if kind != "http" or not target.get("headers"):
        return target
    headers: dict[str, str] = {}
    for name, value in target["headers"].items():
        if isinstance(value, str) and value.startswith(SEALED_PREFIX):
            try:
                headers[name] = box.decrypt(value[len(SEALED_PREFIX) :])
            except SecretBoxError:
                # A changed server key: probe without it (the check then fails visibly).
                log.warning("health_header_undecryptable", header=name)
                continue
        else:
            headers[name] = str(value)  # written before values were sealed
    return {**target, "headers": headers}


def public_target(kind: str, target: dict[str, Any]) -> dict[str, Any]:
    """The target as returned: header values are never shown."""
    out = dict(target)
    if kind == "http" and out.get("headers"):
        out["headers"] = {name: REDACTED for name in out["headers"]}
    return out


def _event_data(check: HealthCheck, error: str | None) -> dict[str, Any]:
    """The payload of `health.check.down|up` (the alerts engine scopes rules with the
    service, node and MCP server ids when the check has them)."""
    target = check.target or {}
    rem = check.remediation or {}
    service_id = target.get("service_id") if check.kind == "docker" else None
    return {
        "check_id": check.id,
        "name": check.name,
        "kind": check.kind,
        "target": public_target(check.kind, check.target),
        "status": check.status,
        "error": error,
        "consecutive_failures": check.consecutive_failures,
        "service_id": service_id if service_id is not None else rem.get("service_id"),
        "node_id": target.get("node_id") if check.kind == "docker" else None,
        "mcp_server_id": target.get("mcp_server_id") if check.kind == "mcp" else None,
    }


async def apply_results(
    runtime: Runtime, results: list[tuple[int, ProbeResult, datetime]]
) -> list[Outcome | None]:
    """Record results in one transaction: history rows, counters, transitions (event and
    audit), remediation. Jobs are submitted after the commit. None for a deleted check."""
    outcomes: list[Outcome | None] = []
    async with runtime.db.session() as session:
        ids = sorted({check_id for check_id, _, _ in results})
        rows = (
            (await session.execute(select(HealthCheck).where(HealthCheck.id.in_(ids))))
            .scalars()
            .all()
        )
        checks = {c.id: c for c in rows}
        for check_id, probe, at in results:
            check = checks.get(check_id)
            if check is None:
                outcomes.append(None)
                continue
            outcomes.append(await _apply_one(session, check, probe, at))
        await session.commit()
    for outcome in outcomes:
        for job_id in outcome.jobs if outcome else ():
            runtime.jobs.submit(job_id)
    return outcomes


async def _apply_one(
    session: AsyncSession, check: HealthCheck, probe: ProbeResult, at: datetime
) -> Outcome:
    row = HealthCheckResult(
        check_id=check.id,
        status="up" if probe.ok else "down",
        latency_ms=probe.latency_ms,
        error=probe.error,
        checked_at=at,
    )
    session.add(row)
    check.last_checked_at = at
    check.last_latency_ms = probe.latency_ms
    check.last_error = probe.error
    transition: str | None = None
    previous = check.status
    if probe.ok:
        check.consecutive_failures = 0
        if previous != "up":
            check.status = "up"
            check.status_changed_at = at
            if previous == "down":
                transition = "up"
    else:
        check.consecutive_failures += 1
        if check.consecutive_failures >= check.retries and previous != "down":
            check.status = "down"
            check.status_changed_at = at
            transition = "down"
    if transition is not None:
        publish_after_commit(session, f"health.check.{transition}", _event_data(check, probe.error))
        await record(
            session,
            action=f"health_check.{transition}",
            actor=Actor.system(f"health-check:{check.id}"),
            outcome="success" if transition == "up" else "failure",
            target_type="health_check",
            target_id=check.id,
            details={
                "name": check.name,
                "kind": check.kind,
                "from": previous,
                "error": probe.error,
                "consecutive_failures": check.consecutive_failures,
            },
        )
    outcome = Outcome(result=row, check_status=check.status, transition=transition)
    if not probe.ok and check.remediation:
        await _remediate(session, check, row, outcome, at)
    await session.flush()
    return outcome


def remediation_service_id(check: HealthCheck | HealthCheckCreate, rem: Remediation) -> int | None:
    if rem.service_id is not None:
        return rem.service_id
    if check.kind == "docker":
        value = check.target.get("service_id")
        return int(value) if value is not None else None
    return None


async def _remediate(
    session: AsyncSession,
    check: HealthCheck,
    row: HealthCheckResult,
    outcome: Outcome,
    at: datetime,
) -> None:
    rem = Remediation.model_validate(check.remediation)
    failures = check.consecutive_failures
    if failures < rem.after_failures or (failures - rem.after_failures) % rem.after_failures:
        return
    actor = Actor.system(f"health-check:{check.id}")
    service_id = remediation_service_id(check, rem)
    base = {"name": check.name, "action": rem.action, "service_id": service_id}
    since = at - timedelta(hours=1)
    used = (
        await session.execute(
            select(func.count())
            .select_from(HealthRemediation)
            .where(HealthRemediation.check_id == check.id, HealthRemediation.created_at > since)
        )
    ).scalar_one()
    service = await session.get(Service, service_id) if service_id is not None else None
    note: str
    if used >= rem.max_per_hour:
        note = HOURLY_LIMIT_NOTE
    elif service is None:
        note = f"remediation skipped: service {service_id} does not exist"
    else:
        action: ServiceAction = "restart" if rem.action == "restart_container" else "deploy"
        try:
            job = await services.request_action(session, service, action, actor=actor)
        except ConflictError as exc:
            note = f"remediation skipped: {exc.message}"
        else:
            session.add(
                HealthRemediation(
                    check_id=check.id, action=rem.action, job_id=job.id, created_at=at
                )
            )
            outcome.jobs.append(job.id)
            note = f"remediation: {rem.action} of {service.name} (job {job.id})"
            row.remediation = note
            await record(
                session,
                action="health_check.remediation",
                actor=actor,
                target_type="health_check",
                target_id=check.id,
                details={
                    **base,
                    "job_id": job.id,
                    "failures": failures,
                    "used_this_hour": used + 1,
                },
            )
            return
    row.remediation = note
    await record(
        session,
        action="health_check.remediation",
        actor=actor,
        outcome="denied",
        target_type="health_check",
        target_id=check.id,
        details={**base, "skipped": note, "failures": failures},
    )


async def run_now(runtime: Runtime, spec: CheckSpec) -> Outcome:
    """Probe one check now and record the result like a scheduled run."""
    probe = await prober_for(runtime).probe(spec)
    outcome = (await apply_results(runtime, [(spec.id, probe, utcnow())]))[0]
    if outcome is None:
        raise NotFoundError(
            f"Health check {spec.id} does not exist.", code="health_check_not_found"
        )
    return outcome


# ---------------------------------------------------------------- CRUD


async def get_or_404(session: AsyncSession, check_id: int) -> HealthCheck:
    check = await session.get(HealthCheck, check_id)
    if check is None:
        raise NotFoundError(
            f"Health check {check_id} does not exist.", code="health_check_not_found"
        )
    return check


async def _local_node_id(session: AsyncSession) -> int:
    node_id = (
        await session.execute(select(func.min(Node.id)).where(Node.kind == "local"))
    ).scalar_one_or_none()
    if node_id is None:
        node_id = (await session.execute(select(func.min(Node.id)))).scalar_one_or_none()
    return int(node_id or 1)


def _invalid(path: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(message, details={"errors": [{"path": path, "message": message}]})


async def _normalized_target(
    session: AsyncSession,
    kind: str,
    target: dict[str, Any],
    box: SecretBox,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    model = parse_target(kind, target)
    if isinstance(model, HttpTarget):
        old_headers = (previous or {}).get("headers") or {}
        sealed: dict[str, str] = {}
        for name, value in model.headers.items():
            if name in old_headers and value in (REDACTED, old_headers[name]):
                sealed[name] = old_headers[name]  # unchanged: keep the stored (sealed) value
            elif value == REDACTED:
                raise _invalid(f"target.headers.{name}", "No value is stored for this header.")
            else:
                sealed[name] = SEALED_PREFIX + box.encrypt(value)
        model.headers = sealed
    if isinstance(model, DockerTarget):
        if model.service_id is not None:
            service = await session.get(Service, model.service_id)
            if service is None:
                raise _invalid("target.service_id", f"Service {model.service_id} does not exist.")
            model.node_id = model.node_id or service.node_id
        if model.node_id is None:
            model.node_id = await _local_node_id(session)
        elif await session.get(Node, model.node_id) is None:
            raise _invalid("target.node_id", f"Node {model.node_id} does not exist.")
    return model.model_dump(mode="json", exclude_none=isinstance(model, DockerTarget))


async def _check_remediation(
    session: AsyncSession, kind: str, target: dict[str, Any], rem: Remediation | None
) -> None:
    if rem is None:
        return
    service_id = rem.service_id
    if service_id is None and kind == "docker":
        service_id = target.get("service_id")
    if service_id is None:
        raise _invalid(
            "remediation.service_id",
            "Remediation needs the service to act on: set remediation.service_id.",
        )
    if await session.get(Service, service_id) is None:
        raise _invalid("remediation.service_id", f"Service {service_id} does not exist.")


def _summary(check: HealthCheck) -> dict[str, Any]:
    return {
        "name": check.name,
        "kind": check.kind,
        "target": public_target(check.kind, check.target),
        "interval_s": check.interval_s,
        "timeout_s": check.timeout_s,
        "retries": check.retries,
        "remediation": check.remediation,
        "enabled": check.enabled,
    }


async def create_check(
    session: AsyncSession,
    body: HealthCheckCreate,
    *,
    box: SecretBox,
    user_id: int | None,
    actor: Actor,
    meta: RequestMeta | None,
) -> HealthCheck:
    """Add a check; HTTP header values are sealed with `box` before they are stored."""
    if body.timeout_s >= body.interval_s:
        raise _invalid("timeout_s", "timeout_s must be shorter than interval_s.")
    target = await _normalized_target(session, body.kind, body.target, box)
    await _check_remediation(session, body.kind, target, body.remediation)
    check = HealthCheck(
        name=body.name,
        kind=body.kind,
        target=target,
        interval_s=body.interval_s,
        timeout_s=body.timeout_s,
        retries=body.retries,
        remediation=body.remediation.model_dump(mode="json") if body.remediation else None,
        enabled=body.enabled,
        status="unknown",
        consecutive_failures=0,
        created_by_id=user_id,
    )
    session.add(check)
    await session.flush()
    await record(
        session,
        action="health_check.create",
        actor=actor,
        target_type="health_check",
        target_id=check.id,
        details=_summary(check),
        meta=meta,
    )
    return check


async def update_check(
    session: AsyncSession,
    check: HealthCheck,
    body: HealthCheckPatch,
    *,
    box: SecretBox,
    actor: Actor,
    meta: RequestMeta | None,
) -> HealthCheck:
    """Change a check; a header given as the redacted placeholder keeps its stored value."""
    fields = body.model_fields_set
    if body.target is not None:
        check.target = await _normalized_target(session, check.kind, body.target, box, check.target)
    for name in ("name", "interval_s", "timeout_s", "retries", "enabled"):
        value = getattr(body, name)
        if name in fields and value is not None:
            setattr(check, name, value)
    if "remediation" in fields:
        await _check_remediation(session, check.kind, check.target, body.remediation)
        check.remediation = body.remediation.model_dump(mode="json") if body.remediation else None
    if check.timeout_s >= check.interval_s:
        raise _invalid("timeout_s", "timeout_s must be shorter than interval_s.")
    if "enabled" in fields and body.enabled is False:
        check.status = "unknown"
        check.consecutive_failures = 0
    check.updated_at = utcnow()
    await session.flush()
    await record(
        session,
        action="health_check.update",
        actor=actor,
        target_type="health_check",
        target_id=check.id,
        details={"changed": sorted(fields), **_summary(check)},
        meta=meta,
    )
    return check


async def delete_check(
    session: AsyncSession, check: HealthCheck, *, actor: Actor, meta: RequestMeta | None
) -> None:
    details = _summary(check)
    await session.execute(delete(HealthCheckResult).where(HealthCheckResult.check_id == check.id))
    await session.execute(delete(HealthRemediation).where(HealthRemediation.check_id == check.id))
    await session.delete(check)
    await record(
        session,
        action="health_check.delete",
        actor=actor,
        target_type="health_check",
        target_id=check.id,
        details=details,
        meta=meta,
    )


# ---------------------------------------------------------------- views


async def uptimes(
    session: AsyncSession, check_ids: list[int], now: datetime | None = None
) -> dict[int, Uptime]:
    """Percent of `up` results per window, in one query."""
    now = now or utcnow()
    if not check_ids:
        return {}
    columns: list[Any] = [HealthCheckResult.check_id]
    for window in WINDOWS.values():
        since = now - window
        recent = HealthCheckResult.checked_at > since
        columns.append(func.sum(case((recent, 1), else_=0)))
        is_up = (HealthCheckResult.status == "up") & recent
        columns.append(func.sum(case((is_up, 1), else_=0)))
    stmt = (
        select(*columns)
        .where(
            HealthCheckResult.check_id.in_(check_ids),
            HealthCheckResult.checked_at > now - WINDOWS["d30"],
        )
        .group_by(HealthCheckResult.check_id)
    )
    found: dict[int, Uptime] = {}
    for row in (await session.execute(stmt)).all():
        values: dict[str, float | None] = {}
        for i, key in enumerate(WINDOWS):
            total, up = int(row[1 + 2 * i] or 0), int(row[2 + 2 * i] or 0)
            values[key] = round(100.0 * up / total, 3) if total else None
        found[int(row[0])] = Uptime(**values)
    empty = Uptime(h24=None, d7=None, d30=None)
    return {cid: found.get(cid, empty) for cid in check_ids}


def to_out(check: HealthCheck, uptime: Uptime) -> HealthCheckOut:
    return HealthCheckOut(
        id=check.id,
        name=check.name,
        kind=check.kind,
        target=public_target(check.kind, check.target),
        interval_s=check.interval_s,
        timeout_s=check.timeout_s,
        retries=check.retries,
        remediation=Remediation.model_validate(check.remediation) if check.remediation else None,
        enabled=check.enabled,
        status=check.status,
        consecutive_failures=check.consecutive_failures,
        last_checked_at=check.last_checked_at,
        last_latency_ms=check.last_latency_ms,
        last_error=check.last_error,
        status_changed_at=check.status_changed_at,
        created_at=check.created_at,
        updated_at=check.updated_at,
        uptime=uptime,
    )


async def latency_series(
    session: AsyncSession, check_id: int, limit: int = 500
) -> list[HealthCheckResult]:
    since = utcnow() - WINDOWS["h24"]
    rows = (
        (
            await session.execute(
                select(HealthCheckResult)
                .where(HealthCheckResult.check_id == check_id, HealthCheckResult.checked_at > since)
                .order_by(HealthCheckResult.checked_at.desc(), HealthCheckResult.id.desc())
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    return list(reversed(rows))


async def history(
    session: AsyncSession, check_id: int, *, limit: int, offset: int
) -> tuple[list[HealthCheckResult], int]:
    where = HealthCheckResult.check_id == check_id
    total = (
        await session.execute(select(func.count()).select_from(HealthCheckResult).where(where))
    ).scalar_one()
    rows = (
        (
            await session.execute(
                select(HealthCheckResult)
                .where(where)
                .order_by(HealthCheckResult.checked_at.desc(), HealthCheckResult.id.desc())
                .limit(limit)
                .offset(offset)
            )
        )
        .scalars()
        .all()
    )
    return list(rows), int(total)


async def purge_history(runtime: Runtime, now: datetime | None = None) -> int:
    """Delete results older than `DOCKYARD_HEALTH_RETENTION_DAYS`; returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=runtime.settings.health_retention_days)
    async with runtime.db.session() as session:
        result = await session.execute(
            delete(HealthCheckResult).where(HealthCheckResult.checked_at < cutoff)
        )
        old_remediations = delete(HealthRemediation).where(
            HealthRemediation.created_at < (now or utcnow()) - timedelta(days=1)
        )
        await session.execute(old_remediations)
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
