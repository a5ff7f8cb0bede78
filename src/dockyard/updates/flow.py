"""The safe update: pull, recreate only what changed, verify, roll back by itself on failure.

Runs inside a job (`service.update`, `service.rollback`, `service.scheduled_update`). Every
update leaves a `service_updates` row saying, per container, which image it ran before and
after; the previous image is kept (tagged `dockyard-rollback/<service>-<name>:<short id>`)
so a rollback never needs a registry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import update as sql_update

from dockyard.audit.service import Actor, record
from dockyard.engine.adapter import DockerEngine
from dockyard.jobs.models import Job
from dockyard.jobs.runner import JobContext
from dockyard.kit.clock import utcnow
from dockyard.kit.db import publish_after_commit
from dockyard.kit.errors import DockyardError
from dockyard.services import operations as ops
from dockyard.services.compose import container_create_args
from dockyard.services.status import INSTANCE_LABEL, REVISION_LABEL, SERVICE_ID_LABEL
from dockyard.updates import repository
from dockyard.updates.models import ServiceUpdateRecord
from dockyard.updates.schemas import DEFAULT_VERIFY_SETTLE_S, DEFAULT_VERIFY_TIMEOUT_S

log = structlog.get_logger(__name__)
POLL_S = 0.5
ROLLBACK_REPOSITORY = "dockyard-rollback"


class UpdateFailedError(DockyardError):
    """The update did not verify (and was rolled back, or not): the message says why."""

    status_code = 500
    code = "update_failed"


@dataclass(frozen=True)
class VerifyConfig:
    timeout_s: int = DEFAULT_VERIFY_TIMEOUT_S
    settle_s: int = DEFAULT_VERIFY_SETTLE_S
    remove_old_images: bool = False


def short_id(image_id: str | None) -> str:
    """`sha256:0123…` → `0123456789ab` (the form `docker images` shows)."""
    if not image_id:
        return "?"
    return image_id.split(":", 1)[-1][:12]


def short_ref(ref: dict[str, Any] | None) -> str:
    """The digest (or image id) of a from/to entry, shortened for messages."""
    if not ref:
        return "?"
    digest = ref.get("digest")
    if digest:
        return str(digest).split("@", 1)[-1][:19]
    return f"sha256:{short_id(ref.get('image_id'))}"


def rollback_tag(service: str, name: str, image_id: str) -> tuple[str, str]:
    """The repository and tag that keep a previous image from being pruned as dangling."""
    return f"{ROLLBACK_REPOSITORY}/{service}-{name}".lower(), short_id(image_id)


async def load_verify_config(ctx: JobContext, service_id: int) -> VerifyConfig:
    async with ctx.runtime.db.read_session() as session:
        policy = await repository.get_policy(session, service_id)
    if policy is None:
        return VerifyConfig()
    return VerifyConfig(
        timeout_s=policy.verify_timeout_s,
        settle_s=policy.verify_settle_s,
        remove_old_images=policy.remove_old_images,
    )


async def image_facts(engine: DockerEngine, image_id: str | None, reference: str) -> dict[str, Any]:
    """`{"image_id", "digest"}`: the repo digest of `reference`'s repository, if any."""
    if not image_id:
        return {"image_id": None, "digest": None}
    info = await engine.inspect_image(image_id)
    digests = [str(d) for d in (info or {}).get("RepoDigests") or []]
    repo = reference.split("@", 1)[0]
    last_slash = repo.rfind("/")
    if repo.rfind(":") > last_slash:
        repo = repo[: repo.rfind(":")]
    digest = next((d for d in digests if d.split("@", 1)[0] == repo), None)
    return {"image_id": image_id, "digest": digest or (digests[0] if digests else None)}


async def keep_image(engine: DockerEngine, service: str, name: str, image_id: str) -> str:
    """Tag the previous image so cleanups of dangling images never remove it."""
    repo, tag = rollback_tag(service, name, image_id)
    await engine.call(lambda c: c.api.tag(image_id, repo, tag))
    return f"{repo}:{tag}"


async def remove_kept_image(engine: DockerEngine, kept: str | None, image_id: str | None) -> bool:
    """Remove the rollback tag and the old image; False when it is still in use."""
    try:
        if kept:
            await engine.call(lambda c: c.api.remove_image(kept))
        if image_id and await engine.inspect_image(image_id) is not None:
            await engine.call(lambda c: c.api.remove_image(image_id))
    except DockyardError as exc:
        log.info("old_image_kept", image=image_id, reason=exc.message)
        return False
    return True


def _health_line(state: dict[str, Any]) -> str:
    health = state.get("Health") or {}
    logs = health.get("Log") or []
    status = health.get("Status") or "starting"
    if not logs:
        return status
    last = logs[-1]
    output = " ".join(str(last.get("Output") or "").split())[:160]
    return f"{status}: exit {last.get('ExitCode')}" + (f", {output}" if output else "")


async def verify_container(
    engine: DockerEngine, container_id: str, label: str, cfg: VerifyConfig
) -> str | None:
    """None when the container is good; otherwise why it is not (bounded by the timeouts).

    With a healthcheck: healthy within `timeout_s`. Without: still running, with the same
    restart count and start time, after `settle_s`.
    """
    start = time.monotonic()
    info = await engine.inspect_container(container_id)
    has_health = bool(info["State"].get("Health"))
    restarts = info.get("RestartCount", 0)
    started_at = info["State"].get("StartedAt")
    while True:
        state = info["State"]
        elapsed = time.monotonic() - start
        status = state.get("Status")
        if has_health:
            health = (state.get("Health") or {}).get("Status")
            if health == "healthy":
                return None
            if status in ("exited", "dead"):
                return (
                    f"{label}: exited with code {state.get('ExitCode')} before its healthcheck "
                    "passed"
                )
            if health == "unhealthy":
                return f"{label}: healthcheck reported unhealthy (last: {_health_line(state)})"
            if elapsed >= cfg.timeout_s:
                return (
                    f"{label}: healthcheck did not become healthy within {cfg.timeout_s} s "
                    f"(last: {_health_line(state)})"
                )
        else:
            if status in ("exited", "dead"):
                return (
                    f"{label}: exited with code {state.get('ExitCode')} within "
                    f"{max(1, round(elapsed))} s of starting"
                )
            if (
                status == "restarting"
                or info.get("RestartCount", 0) != restarts
                or state.get("StartedAt") != started_at
            ):
                return f"{label}: restarted within the {cfg.settle_s} s settle period"
            if elapsed >= cfg.settle_s:
                return None
        await asyncio.sleep(POLL_S)
        info = await engine.inspect_container(container_id)


def _create_args(ctx: JobContext, target: ops.Target, name: str) -> Any:
    return container_create_args(
        target.service.name,
        name,
        target.defn.services[name],
        defn=target.defn,
        default_publish_ip=ctx.runtime.settings.default_publish_ip,
        extra_labels={
            INSTANCE_LABEL: target.instance_id,
            SERVICE_ID_LABEL: str(target.service.id),
            REVISION_LABEL: str(target.revision),
        },
        project_dir=target.project_dir,
    )


async def _container_of(target: ops.Target, name: str) -> dict[str, Any] | None:
    containers = (await ops._project_containers(target)).get(name, [])
    running = [c for c in containers if c["State"] == "running"]
    found = running or containers
    return found[0] if found else None


async def recreate_from_image(ctx: JobContext, target: ops.Target, name: str, image_id: str) -> str:
    """Replace `name`'s container by one with the same configuration on `image_id`."""
    spec = target.defn.services[name]
    args = dataclasses.replace(_create_args(ctx, target, name), image=image_id)
    for c in (await ops._project_containers(target)).get(name, []):
        if c["State"] in ("running", "restarting", "paused"):
            await ops._step(
                ctx,
                f"Stopping {ops._name(c)}",
                target.engine.stop_container(c["Id"], grace_s=ops._grace_s(spec)),
            )
        await ops._step(
            ctx, f"Removing {ops._name(c)}", target.engine.remove_container(c["Id"], force=True)
        )
    new_id = await ops._step(
        ctx, f"Creating {args.name} from {short_id(image_id)}", ops._create_and_start(target, args)
    )
    await ctx.progress(f"Recreated {args.name} from image {short_id(image_id)} ({new_id[:12]})")
    return new_id


async def _verify(
    ctx: JobContext, target: ops.Target, name: str, cfg: VerifyConfig
) -> tuple[str | None, bool]:
    """(failure reason or None, whether the container has a healthcheck)."""
    container = await _container_of(target, name)
    if container is None:
        return f"{name}: the container is missing after the recreate", False
    info = await target.engine.inspect_container(container["Id"])
    has_health = bool(info["State"].get("Health"))
    what = (
        f"healthy (up to {cfg.timeout_s} s)"
        if has_health
        else f"running without restarts for {cfg.settle_s} s"
    )
    await ctx.progress(f"Verifying {name}: waiting until it is {what}")
    reason = await verify_container(target.engine, container["Id"], name, cfg)
    if reason is None:
        await ctx.progress(f"{name} is {'healthy' if has_health else 'running'}")
    else:
        await ctx.progress(reason, level="warning")
    return reason, has_health


async def _set_job_result(ctx: JobContext, result: dict[str, Any]) -> None:
    """Store the result of a job that is about to fail (the runner keeps it)."""
    async with ctx.runtime.db.session() as session:
        await session.execute(sql_update(Job).where(Job.id == ctx.job_id).values(result=result))
        await session.commit()


async def _start_record(
    ctx: JobContext, service_id: int, *, kind: str, triggered_by: str, containers: dict[str, Any]
) -> int:
    async with ctx.runtime.db.session() as session:
        row = ServiceUpdateRecord(
            service_id=service_id,
            job_id=ctx.job_id,
            kind=kind,
            started_at=utcnow(),
            containers=containers,
            result="running",
            rolled_back=False,
            triggered_by=triggered_by,
            actor_label=ctx.actor.label,
        )
        session.add(row)
        publish_after_commit(session, "service.update", {"service_id": service_id})
        await session.commit()
        return row.id


async def _finish_record(
    ctx: JobContext,
    update_id: int,
    *,
    service_id: int,
    result: str,
    containers: dict[str, Any],
    reason: str | None = None,
    rolled_back: bool = False,
    event: tuple[str, dict[str, Any]] | None = None,
    audit: tuple[str, dict[str, Any]] | None = None,
) -> None:
    async with ctx.runtime.db.session() as session:
        row = await session.get(ServiceUpdateRecord, update_id)
        if row is not None:
            row.result = result
            row.reason = reason
            row.rolled_back = rolled_back
            row.containers = containers
            row.finished_at = utcnow()
        if audit is not None:
            await record(
                session,
                action=audit[0],
                actor=ctx.actor,
                outcome="failure",
                target_type="service",
                target_id=service_id,
                details={"job_id": ctx.job_id, "update_id": update_id, **audit[1]},
            )
        publish_after_commit(session, "service.update", {"service_id": service_id})
        publish_after_commit(session, "service.status", {"service_id": service_id})
        if event is not None:
            publish_after_commit(session, event[0], event[1])
        await session.commit()


def _changed(containers: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: c for n, c in containers.items() if c.get("changed")}


async def _roll_back(
    ctx: JobContext,
    target: ops.Target,
    names: list[str],
    containers: dict[str, Any],
    cfg: VerifyConfig,
) -> tuple[str | None, bool]:
    """Put `names` back on their previous image and verify; (failure or None, any healthcheck)."""
    any_health = False
    for name in names:
        old_id = containers[name]["from"]["image_id"]
        if not old_id:
            # There was no container before: remove the new one rather than leave it broken.
            current = await _container_of(target, name)
            if current is not None:
                await target.engine.remove_container(current["Id"], force=True)
            continue
        current = await _container_of(target, name)
        if current is not None and current.get("ImageID") == old_id:
            if current["State"] != "running":
                await target.engine.start_container(current["Id"])
        else:
            await recreate_from_image(ctx, target, name, old_id)
        reason, has_health = await _verify(ctx, target, name, cfg)
        any_health = any_health or has_health
        if reason is not None:
            return reason, any_health
    return None, any_health


async def run_update(
    ctx: JobContext, *, triggered_by: str = "user", schedule: str | None = None
) -> dict[str, Any]:
    """Pull, recreate the containers whose image changed (in order), verify, roll back."""
    target = await ops._load(ctx, None)
    svc = target.service
    if svc.deployed_revision is None:
        # Nothing runs yet: an update is a deploy that pulls every image.
        return await ops._deploy(ctx, target, force_pull=True)
    cfg = await load_verify_config(ctx, svc.id)
    engine = target.engine
    await ctx.progress(f"Updating the images of {svc.name} (revision {target.revision})")
    await ops._ensure_networks(ctx, target)
    await ops._ensure_volumes(ctx, target)
    current = await ops._project_containers(target)
    order = ops.dependency_order(target.defn)
    for image in sorted({spec.image for spec in target.defn.services.values()}):
        policies = {s.pull_policy for s in target.defn.services.values() if s.image == image}
        if "never" in policies:
            continue
        await ops._pull(ctx, engine, image)
    image_ids = await ops._ensure_images(ctx, target, force_pull=False)

    containers: dict[str, Any] = {}
    for name in order:
        spec = target.defn.services[name]
        existing = current.get(name, [])
        running = [c for c in existing if c["State"] == "running"] or existing
        old_id = str(running[0]["ImageID"]) if running else None
        new_id = image_ids[spec.image]
        containers[name] = {
            "container": ops._name(running[0]) if running else None,
            "image": spec.image,
            "changed": old_id != new_id,
            "from": await image_facts(engine, old_id, spec.image),
            "to": await image_facts(engine, new_id, spec.image),
            "kept_image": None,
        }
    changed = [n for n in order if containers[n]["changed"]]
    update_id = await _start_record(
        ctx, svc.id, kind="update", triggered_by=triggered_by, containers=containers
    )
    base = {"update_id": update_id, "triggered_by": triggered_by}
    if schedule:
        base["schedule"] = schedule
    try:
        return await _apply_update(
            ctx, target, cfg, update_id, base, order, changed, containers, current, image_ids
        )
    except UpdateFailedError:
        raise
    except Exception as exc:  # never leave the history row "running"
        reason = exc.message if isinstance(exc, DockyardError) else f"Unexpected error: {exc}"
        await _finish_record(
            ctx, update_id, service_id=svc.id, result="failed", containers=containers, reason=reason
        )
        raise


async def _apply_update(
    ctx: JobContext,
    target: ops.Target,
    cfg: VerifyConfig,
    update_id: int,
    base: dict[str, Any],
    order: list[str],
    changed: list[str],
    containers: dict[str, Any],
    current: dict[str, list[dict[str, Any]]],
    image_ids: dict[str, str],
) -> dict[str, Any]:
    svc = target.service
    engine = target.engine
    if not changed:
        await ctx.progress(f"Every image of {svc.name} is up to date; nothing was recreated")
        await _finish_record(
            ctx,
            update_id,
            service_id=svc.id,
            result="succeeded",
            containers=containers,
            reason="Every image was already up to date.",
        )
        return {
            **base,
            "rolled_back": False,
            "reason": None,
            "containers": dict.fromkeys(order, "unchanged"),
        }

    for name in changed:
        old_id = containers[name]["from"]["image_id"]
        if old_id:
            try:
                containers[name]["kept_image"] = await keep_image(engine, svc.name, name, old_id)
            except DockyardError as exc:  # still kept while nothing prunes it
                await ctx.progress(
                    f"Could not tag the previous image of {name}: {exc.message}", level="warning"
                )
    await ctx.progress(
        "Changed: "
        + ", ".join(
            f"{n} {short_ref(containers[n]['from'])} → {short_ref(containers[n]['to'])}"
            for n in changed
        )
    )

    outcome = dict.fromkeys(order, "unchanged")
    touched: list[str] = []
    failure: str | None = None
    timeout_s = ctx.runtime.settings.deploy_wait_timeout_s
    for name in changed:
        try:
            for dependency, cond in sorted(target.defn.services[name].depends_on.items()):
                await ops._wait_for(ctx, target, dependency, cond.condition, timeout_s)
            touched.append(name)
            outcome[name] = await ops._converge_service(
                ctx, target, name, current.get(name, []), image_ids
            )
        except DockyardError as exc:
            failure = f"{name}: {exc.message}"
            await ctx.progress(failure, level="warning")
            break
        failure, _ = await _verify(ctx, target, name, cfg)
        if failure is not None:
            break

    if failure is None:
        removed: list[str] = []
        if cfg.remove_old_images:
            for name in changed:
                entry = containers[name]
                if await remove_kept_image(engine, entry["kept_image"], entry["from"]["image_id"]):
                    removed.append(name)
                    entry["kept_image"] = None
            if removed:
                await ctx.progress("Removed the previous images of " + ", ".join(removed))
        await _finish_record(
            ctx, update_id, service_id=svc.id, result="succeeded", containers=containers
        )
        async with ctx.runtime.db.session() as session:
            publish_after_commit(session, "service.status", {"service_id": svc.id})
            await session.commit()
        await ctx.progress(f"{svc.name} is updated and verified")
        return {**base, "rolled_back": False, "reason": None, "containers": outcome}

    # ---- automatic rollback -------------------------------------------------------------
    await ctx.progress(f"Verification failed; rolling back {', '.join(touched)}", level="warning")
    rollback_error: str | None
    try:
        rollback_error, any_health = await _roll_back(ctx, target, touched, containers, cfg)
    except DockyardError as exc:
        rollback_error, any_health = exc.message, False
    digests = {
        n: {"from": containers[n]["from"]["digest"], "to": containers[n]["to"]["digest"]}
        for n in changed
    }
    event_data = {
        "service_id": svc.id,
        "service": svc.name,
        "update_id": update_id,
        "job_id": ctx.job_id,
        "reason": failure,
        "images": digests,
        "triggered_by": base["triggered_by"],
    }
    if rollback_error is None:
        back_to = ", ".join(f"{n} {short_ref(containers[n]['from'])}" for n in touched)
        state = "running and healthy" if any_health else "running"
        message = f"{failure}; rolled back to {back_to}, which is {state}"
        await _finish_record(
            ctx,
            update_id,
            service_id=svc.id,
            result="rolled_back",
            containers=containers,
            reason=failure,
            rolled_back=True,
            event=("update.rolled_back", event_data),
            audit=("service.update.rolled_back", {"reason": failure, "images": digests}),
        )
        result = {**base, "rolled_back": True, "reason": failure, "message": message}
    else:
        message = f"{failure}; the rollback also failed: {rollback_error}"
        await _finish_record(
            ctx,
            update_id,
            service_id=svc.id,
            result="failed",
            containers=containers,
            reason=message,
            rolled_back=False,
            event=("update.rollback_failed", {**event_data, "rollback_error": rollback_error}),
            audit=(
                "service.update.rollback_failed",
                {"reason": failure, "rollback_error": rollback_error, "images": digests},
            ),
        )
        result = {**base, "rolled_back": False, "reason": message, "message": message}
    await _set_job_result(ctx, result)
    raise UpdateFailedError(message)


async def run_rollback(ctx: JobContext, update_id: int) -> dict[str, Any]:
    """Return each container an update changed to the image it ran before that update."""
    target = await ops._load(ctx, None)
    svc = target.service
    cfg = await load_verify_config(ctx, svc.id)
    async with ctx.runtime.db.read_session() as session:
        source = await repository.get_update(session, svc.id, update_id)
    if source is None:
        raise DockyardError(f"Update {update_id} of {svc.name} does not exist.")
    order = ops.dependency_order(target.defn)
    names = [n for n in order if n in _changed(source.containers)]
    if not names:
        raise DockyardError(f"Update {update_id} changed no container; nothing to roll back.")
    containers: dict[str, Any] = {}
    for name in names:
        old = source.containers[name]
        old_id = old["from"]["image_id"]
        if not old_id or await target.engine.inspect_image(old_id) is None:
            raise DockyardError(
                f"The previous image of {name} ({short_ref(old['from'])}) is no longer on the "
                "node, so this update cannot be rolled back.",
                code="rollback_image_missing",
            )
        now = await _container_of(target, name)
        now_id = str(now["ImageID"]) if now else None
        containers[name] = {
            "container": ops._name(now) if now else None,
            "image": old["image"],
            "changed": now_id != old_id,
            "from": await image_facts(target.engine, now_id, old["image"]),
            "to": dict(old["from"]),
            "kept_image": old.get("kept_image"),
        }
    rollback_id = await _start_record(
        ctx, svc.id, kind="rollback", triggered_by="user", containers=containers
    )
    await ctx.progress(f"Rolling {svc.name} back to the images before update {update_id}")
    failure: str | None = None
    try:
        for name in names:
            if not containers[name]["changed"]:
                await ctx.progress(f"{name} already runs {short_ref(containers[name]['to'])}")
                continue
            await recreate_from_image(ctx, target, name, containers[name]["to"]["image_id"])
            failure, _ = await _verify(ctx, target, name, cfg)
            if failure is not None:
                break
    except DockyardError as exc:
        failure = exc.message
    if failure is not None:
        await _finish_record(
            ctx,
            rollback_id,
            service_id=svc.id,
            result="failed",
            containers=containers,
            reason=failure,
            audit=("service.rollback.failed", {"reason": failure, "from_update": update_id}),
        )
        await _set_job_result(
            ctx, {"update_id": rollback_id, "rolled_back": False, "reason": failure}
        )
        raise UpdateFailedError(f"The rollback failed: {failure}")
    await _finish_record(
        ctx, rollback_id, service_id=svc.id, result="succeeded", containers=containers
    )
    await ctx.progress(f"{svc.name} runs the images it had before update {update_id}")
    return {
        "update_id": rollback_id,
        "from_update": update_id,
        "rolled_back": True,
        "reason": None,
    }


def system_actor(schedule_key: str) -> Actor:
    return Actor.system(f"schedule {schedule_key}")


async def _remove_image(engine: DockerEngine, ref: str) -> None:
    await engine.call(lambda c: c.api.remove_image(ref))


async def remove_rollback_images(engine: DockerEngine, service: str, names: list[str]) -> int:
    """Remove the kept previous images of a deleted service (those no container uses)."""
    repos = {rollback_tag(service, name, "")[0] for name in names}
    images = await engine.call(lambda c: c.api.images(all=False))
    removed = 0
    for image in images:
        for ref in image.get("RepoTags") or []:
            if ref.rsplit(":", 1)[0] in repos:
                try:
                    await _remove_image(engine, ref)
                    removed += 1
                except DockyardError as exc:
                    log.info("rollback_image_kept", image=ref, reason=exc.message)
    return removed
