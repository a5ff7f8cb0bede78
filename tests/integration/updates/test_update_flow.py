"""Safe updates on the real engine with the local registry: update, automatic rollback,
manual rollback, only-changed recreation, old-image removal."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from tests.conftest import LiveApp, assert_error, audit_rows, require_env
from tests.integration.services.conftest import act, free_port, http_get, wait_job, wait_status
from tests.integration.updates.conftest import HTTPD, Registry


async def create_service(api: LiveApp, name: str, compose: str) -> int:
    response = await api.client.post("/api/v1/services", json={"name": name, "compose": compose})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def set_policy(api: LiveApp, sid: int, **extra: Any) -> dict[str, Any]:
    body = {"mode": "off", "verify": {"timeout_s": 20, "settle_s": 2}, **extra}
    response = await api.client.put(f"/api/v1/services/{sid}/update-policy", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def container(docker_client: Any, name: str) -> Any:
    return docker_client.containers.get(name)


async def history(api: LiveApp, sid: int) -> list[dict[str, Any]]:
    response = await api.client.get(f"/api/v1/services/{sid}/updates")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_update_then_broken_image_rolls_back_then_manual_rollback(
    updates_api: LiveApp, registry: Registry, docker_client: Any
) -> None:
    api = updates_api
    repo = registry.repo()
    v1 = registry.push(repo, require_env("DOCKYARD_TEST_IMAGE"), HTTPD)
    name = f"u-{secrets.token_hex(4)}"
    registry.services.append(name)
    port = free_port()
    compose = f"""
services:
  web:
    image: {repo}:latest
    stop_grace_period: 1s
    ports:
      - "{port}:80"
"""
    sid = await create_service(api, name, compose)
    await set_policy(api, sid)
    assert (await act(api, sid, "deploy"))["status"] == "succeeded"
    await wait_status(api, sid, lambda s: s["status"] == "running")
    assert http_get(port).text.strip() == "dockyard-test v1"
    first_id = container(docker_client, f"{name}-web-1").id

    # v2 under the same tag; the local tag still points at v1, so the update must pull.
    v2 = registry.push(repo, require_env("DOCKYARD_TEST_IMAGE_V2"), HTTPD)
    registry.retag_latest(repo, v1)
    job = await act(api, sid, "update")
    assert job["status"] == "succeeded", job
    assert job["result"]["rolled_back"] is False
    web = container(docker_client, f"{name}-web-1")
    assert web.id != first_id
    assert web.image.id == v2
    assert http_get(port).text.strip() == "dockyard-test v2"
    [row] = await history(api, sid)
    assert row["result"] == "succeeded"
    assert row["kind"] == "update"
    assert row["job_id"] == job["id"]
    change = row["containers"]["web"]
    assert change["changed"] is True
    assert change["from"]["image_id"] == v1
    assert change["to"]["image_id"] == v2
    assert change["from"]["digest"].startswith(repo + "@sha256:")
    assert change["to"]["digest"].startswith(repo + "@sha256:")
    assert change["from"]["digest"] != change["to"]["digest"]
    # The previous image is kept under a rollback tag.
    assert docker_client.images.get(change["kept_image"]).id == v1
    assert row["can_rollback"] is True

    # A broken v3 (exits at once): the update rolls back to v2 by itself.
    registry.push(repo, require_env("DOCKYARD_TEST_IMAGE_V2"), ["sh", "-c", "exit 1"])
    registry.retag_latest(repo, v2)
    async with api.runtime.events.subscribe() as events:
        job = await act(api, sid, "update")
        seen = []
        while not events.queue.empty():
            seen.append(events.queue.get_nowait())
    assert job["status"] == "failed", job
    assert job["result"]["rolled_back"] is True
    assert job["result"]["reason"].startswith("web: exited with code 1")
    assert "rolled back to web" in job["error"], job["error"]
    assert "which is running" in job["error"]
    web = container(docker_client, f"{name}-web-1")
    assert web.image.id == v2
    assert web.status == "running"
    assert http_get(port).text.strip() == "dockyard-test v2"
    rolled = [e for e in seen if e.type == "update.rolled_back"]
    assert len(rolled) == 1, [e.type for e in seen]
    assert rolled[0].data["service_id"] == sid
    assert rolled[0].data["reason"] == job["result"]["reason"]
    assert rolled[0].data["images"]["web"]["from"] == change["to"]["digest"]
    newest = (await history(api, sid))[0]
    assert newest["result"] == "rolled_back"
    assert newest["rolled_back"] is True
    assert newest["reason"] == job["result"]["reason"]
    audits = await audit_rows(api, action="service.update.rolled_back", target_id=str(sid))
    assert len(audits) == 1
    assert audits[0].details["reason"] == job["result"]["reason"]

    # Manual rollback: back to the image before the last successful update (v1).
    response = await api.client.post(f"/api/v1/services/{sid}/rollback")
    assert response.status_code == 202, response.text
    job = await wait_job(api, response.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    web = container(docker_client, f"{name}-web-1")
    assert web.image.id == v1
    assert http_get(port).text.strip() == "dockyard-test v1"
    rows = await history(api, sid)
    assert [r["kind"] for r in rows] == ["rollback", "update", "update"]
    assert rows[0]["result"] == "succeeded"
    assert rows[0]["containers"]["web"]["to"]["image_id"] == v1
    actions = [r.action for r in await audit_rows(api, target_id=str(sid))]
    assert "service.update" in actions
    assert "service.rollback" in actions

    # Unknown update: 404; someone else's permissions are covered by the route test.
    assert_error(
        await api.client.post(f"/api/v1/services/{sid}/rollback", json={"update_id": 999999}),
        404,
        "update_not_found",
    )
    # Deleting the service removes the images it kept for rollbacks.
    assert docker_client.images.list(name=f"dockyard-rollback/{name}-web")
    assert (await act(api, sid, "delete"))["status"] == "succeeded"
    assert not docker_client.images.list(name=f"dockyard-rollback/{name}-web")


async def test_only_changed_containers_are_recreated_and_old_images_removed(
    updates_api: LiveApp, registry: Registry, docker_client: Any
) -> None:
    api = updates_api
    repo_a, repo_b = registry.repo("a"), registry.repo("b")
    a1 = registry.push(repo_a, require_env("DOCKYARD_TEST_IMAGE"), HTTPD)
    b1 = registry.push(repo_b, require_env("DOCKYARD_TEST_IMAGE"), HTTPD)
    name = f"u-{secrets.token_hex(4)}"
    registry.services.append(name)
    port = free_port()
    compose = f"""
services:
  backend:
    image: {repo_b}:latest
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      retries: 5
  front:
    image: {repo_a}:latest
    stop_grace_period: 1s
    ports:
      - "{port}:80"
    depends_on:
      backend:
        condition: service_healthy
"""
    sid = await create_service(api, name, compose)
    await set_policy(api, sid, remove_old_images=True)
    assert (await act(api, sid, "deploy"))["status"] == "succeeded"
    await wait_status(api, sid, lambda s: s["status"] == "running")
    backend_id = container(docker_client, f"{name}-backend-1").id
    front_id = container(docker_client, f"{name}-front-1").id

    a2 = registry.push(repo_a, require_env("DOCKYARD_TEST_IMAGE_V2"), HTTPD)
    job = await act(api, sid, "update")
    assert job["status"] == "succeeded", job
    assert job["result"]["containers"] == {"backend": "unchanged", "front": "recreated"}
    assert container(docker_client, f"{name}-backend-1").id == backend_id
    front = container(docker_client, f"{name}-front-1")
    assert front.id != front_id
    assert front.image.id == a2
    assert http_get(port).text.strip() == "dockyard-test v2"
    [row] = await history(api, sid)
    assert row["containers"]["backend"]["changed"] is False
    assert row["containers"]["backend"]["from"]["image_id"] == b1
    assert row["containers"]["front"]["from"]["image_id"] == a1
    # The policy removes the previous image after a verified update...
    assert api.runtime is not None
    engine_images = {i.id for i in docker_client.images.list(all=True)}
    assert a1 not in engine_images
    assert row["can_rollback"] is False
    # ...so a rollback to it is refused with a clear 409.
    error = assert_error(
        await api.client.post(f"/api/v1/services/{sid}/rollback"), 409, "rollback_image_missing"
    )
    assert "front" in error["message"]
    assert "no longer on the node" in error["message"]


async def test_scheduled_auto_update_and_notify_run_now(
    updates_api: LiveApp, registry: Registry, docker_client: Any
) -> None:
    from datetime import timedelta

    from dockyard.schedules.service import claim_due, get_schedule

    api = updates_api
    repo = registry.repo()
    v1 = registry.push(repo, require_env("DOCKYARD_TEST_IMAGE"), HTTPD)
    name = f"u-{secrets.token_hex(4)}"
    registry.services.append(name)
    port = free_port()
    compose = f"""
services:
  web:
    image: {repo}:latest
    stop_grace_period: 1s
    ports:
      - "{port}:80"
"""
    sid = await create_service(api, name, compose)
    schedule = {"frequency": "daily", "time": "03:00", "timezone": "Europe/Berlin"}
    await set_policy(api, sid, mode="notify", schedule=schedule)
    assert (await act(api, sid, "deploy"))["status"] == "succeeded"
    await wait_status(api, sid, lambda s: s["status"] == "running")
    first_id = container(docker_client, f"{name}-web-1").id

    v2 = registry.push(repo, require_env("DOCKYARD_TEST_IMAGE_V2"), HTTPD)
    registry.retag_latest(repo, v1)
    # Notify, run now: detects the new digest, publishes update.available, changes nothing.
    async with api.runtime.events.subscribe() as events:
        response = await api.client.post(f"/api/v1/services/{sid}/update-policy/run")
        assert response.status_code == 202, response.text
        job = await wait_job(api, response.json()["job"]["id"])
        seen = []
        while not events.queue.empty():
            seen.append(events.queue.get_nowait())
    assert job["status"] == "succeeded", job
    assert job["result"]["update_available"] is True
    assert [e.data["service_id"] for e in seen if e.type == "update.available"] == [sid]
    assert container(docker_client, f"{name}-web-1").id == first_id
    assert await history(api, sid) == []

    # Auto: drive the scheduler's clock past the next run instead of waiting for 03:00.
    policy = await set_policy(api, sid, mode="auto", schedule=schedule)
    due = datetime.fromisoformat(policy["next_run_at"]) + timedelta(seconds=1)
    async with api.runtime.db.session() as session:
        jobs = await claim_due(session, due, "test-scheduler")
        await session.commit()
    mine = [j for j in jobs if j.service_id == sid]
    assert len(mine) == 1
    api.runtime.jobs.submit(mine[0].id)
    job = await wait_job(api, mine[0].id)
    assert job["status"] == "succeeded", job
    assert job["actor_type"] == "system"
    assert job["actor_label"] == f"schedule:service:{sid}:update"
    assert job["result"]["update"]["rolled_back"] is False
    web = container(docker_client, f"{name}-web-1")
    assert web.id != first_id
    assert web.image.id == v2
    assert http_get(port).text.strip() == "dockyard-test v2"
    [row] = await history(api, sid)
    assert row["triggered_by"] == "schedule"
    assert row["containers"]["web"]["to"]["image_id"] == v2
    [audit] = await audit_rows(api, action="service.update.scheduled", target_id=str(sid))
    assert audit.actor_type == "system"
    assert audit.details["schedule"] == f"service:{sid}:update"
    async with api.runtime.db.read_session() as session:
        row_schedule = await get_schedule(session, f"service:{sid}:update")
        assert row_schedule is not None
        assert row_schedule.next_run_at > due.astimezone(UTC)


async def test_unhealthy_new_image_is_rolled_back_by_its_healthcheck(
    updates_api: LiveApp, registry: Registry, docker_client: Any
) -> None:
    api = updates_api
    repo = registry.repo()
    v1 = registry.push(repo, require_env("DOCKYARD_TEST_IMAGE"), HTTPD)
    name = f"u-{secrets.token_hex(4)}"
    registry.services.append(name)
    port = free_port()
    compose = f"""
services:
  web:
    image: {repo}:latest
    stop_grace_period: 1s
    ports:
      - "{port}:80"
"""
    sid = await create_service(api, name, compose)
    await set_policy(api, sid)
    assert (await act(api, sid, "deploy"))["status"] == "succeeded"
    # v2 serves, but its healthcheck fails: the container runs yet never becomes healthy.
    v2 = registry.push(
        repo,
        require_env("DOCKYARD_TEST_IMAGE_V2"),
        HTTPD,
        healthcheck=(
            "HEALTHCHECK --interval=1s --timeout=1s --retries=2 "
            'CMD ["sh", "-c", "echo nope; exit 3"]'
        ),
    )
    registry.retag_latest(repo, v1)
    job = await act(api, sid, "update")
    assert job["status"] == "failed", job
    assert job["result"]["rolled_back"] is True
    reason = job["result"]["reason"]
    assert reason.startswith("web: healthcheck reported unhealthy"), reason
    assert "exit 3" in reason
    assert "nope" in reason
    web = container(docker_client, f"{name}-web-1")
    assert web.image.id == v1
    assert web.image.id != v2
    assert http_get(port).text.strip() == "dockyard-test v1"
    [row] = await history(api, sid)
    assert row["result"] == "rolled_back"
    assert row["containers"]["web"]["to"]["image_id"] == v2
