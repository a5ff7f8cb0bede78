"""Cleanup on the real engine: the dry run is exactly what the execution removes.

Every request passes the test's own label, so nothing outside the test is ever touched.
"""

from __future__ import annotations

import os
from typing import Any

import docker.errors
import pytest

from tests.conftest import LiveApp, assert_error, audit_rows
from tests.integration.images.conftest import Run, create_service, wait_job
from tests.integration.images.test_images import sleeper

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")
ALL = [
    "stopped_containers",
    "dangling_images",
    "unused_images",
    "unused_volumes",
    "unused_networks",
    "build_cache",
]


async def dry_run(api: LiveApp, node_id: int, run: Run, **body: Any) -> dict[str, Any]:
    payload = {"dry_run": True, "targets": ALL, "label": run.label, **body}
    response = await api.client.post(f"/api/v1/nodes/{node_id}/cleanup", json=payload)
    assert response.status_code == 200, response.text
    plan: dict[str, Any] = response.json()
    return plan


async def execute(api: LiveApp, node_id: int, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(
        f"/api/v1/nodes/{node_id}/cleanup", json={"dry_run": False, **body}
    )
    assert response.status_code == 202, response.text
    job = await wait_job(api, response.json()["job"]["id"])
    assert job["kind"] == "images.cleanup"
    return job


def exists(client: Any, kind: str, ident: str) -> bool:
    getter = {
        "container": client.containers.get,
        "image": client.images.get,
        "volume": client.volumes.get,
        "network": client.networks.get,
    }[kind]
    try:
        getter(ident)
    except docker.errors.NotFound:
        return False
    return True


async def test_dry_run_equals_execution_and_protects_what_is_used(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any
) -> None:
    # Removable: a stopped container, a dangling image, an unused tagged image, an unused
    # volume and an unused network, all with this test's label.
    stopped = run.container(IMAGE)
    dangling = run.commit(IMAGE)
    tagged_repo = f"dockyard-test/cleanup-{run.run_id[:12]}"
    unused_image = run.commit(IMAGE, repository=tagged_repo, tag="1")
    free_volume = run.volume()
    free_network = run.network()
    # Kept: a volume, a network and an image a running container uses (a stopped user is
    # covered by test_items_that_came_into_use_are_skipped).
    user_image = run.commit(IMAGE, repository=f"{tagged_repo}-used", tag="1")
    used_volume = run.volume()
    used_network = run.network()
    user = run.container(user_image, volume=used_volume, network=used_network.name, start=True)
    # Kept: a service's volume (named by its definition, even with no container left) and
    # the stopped container of a managed service (unless include_managed).
    svc = run.name("svc")
    run.projects.append(svc)
    compose = sleeper(run.labels) + (
        "    volumes:\n      - data:/data\n"
        f'volumes:\n  data:\n    labels:\n      {"io.dockyard.test-run"}: "{run.run_id}"\n'
    )
    sid = await create_service(images_api, svc, compose)
    stop = await images_api.client.post(f"/api/v1/services/{sid}/stop")
    job = await wait_job(images_api, stop.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    service_volume = f"{svc}_data"
    assert docker_client.volumes.get(service_volume).attrs["Labels"]["io.dockyard.test-run"]

    plan = await dry_run(images_api, node_id, run)
    expected = {
        ("container", stopped.id),
        ("image", dangling),
        ("image", unused_image),
        ("volume", free_volume),
        ("network", free_network.id),
    }
    assert {(i["kind"], i["id"]) for i in plan["items"]} == expected, plan["items"]
    assert plan["count"] == 5
    assert plan["dry_run"] is True
    assert plan["label"] == run.label
    by_id = {i["id"]: i for i in plan["items"]}
    assert by_id[dangling]["target"] == "dangling_images"
    assert by_id[unused_image]["target"] == "unused_images"
    assert by_id[unused_image]["name"] == f"{tagged_repo}:1"
    assert by_id[stopped.id]["name"] == stopped.name
    assert plan["reclaimable_bytes"] == sum(i["size_bytes"] for i in plan["items"])
    assert all(i.get("result") is None for i in plan["items"])
    # Nothing was removed by the dry run.
    assert all(exists(docker_client, kind, ident) for kind, ident in expected)

    managed = await dry_run(
        images_api, node_id, run, targets=["stopped_containers"], include_managed=True
    )
    managed_names = {i["name"] for i in managed["items"]}
    assert managed_names == {stopped.name, f"{svc}-app-1"}

    job = await execute(images_api, node_id, {"plan_id": plan["plan_id"]})
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["plan_id"] == plan["plan_id"]
    assert {(i["kind"], i["id"]) for i in result["items"]} == expected
    assert all(i["result"] == "removed" for i in result["items"]), result["items"]
    assert result["removed"] == 5
    assert result["skipped"] == 0
    assert result["failed"] == 0
    assert not any(exists(docker_client, kind, ident) for kind, ident in expected)
    for kind, ident in [
        ("volume", used_volume),
        ("network", used_network.id),
        ("image", user_image),
        ("container", user.id),
        ("volume", service_volume),
    ]:
        assert exists(docker_client, kind, ident), (kind, ident)
    assert docker_client.images.get(IMAGE)

    # The service's volume stays even once its containers are gone.
    for c in docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={svc}"}
    ):
        c.remove(force=True)
    user.remove(force=True)
    again = await dry_run(images_api, node_id, run)
    ids = {i["id"] for i in again["items"]}
    assert service_volume not in ids
    assert {used_volume, used_network.id, user_image} <= ids

    assert_error(
        await images_api.client.post(
            f"/api/v1/nodes/{node_id}/cleanup", json={"dry_run": False, "plan_id": plan["plan_id"]}
        ),
        409,
        "cleanup_plan_used",
    )
    planned = await audit_rows(images_api, action="images.cleanup_planned")
    assert any(e.details["plan_id"] == plan["plan_id"] for e in planned)
    done = [e for e in await audit_rows(images_api, action="images.cleanup")]
    assert any(e.details.get("plan_id") == plan["plan_id"] and e.outcome == "success" for e in done)


async def test_items_that_came_into_use_are_skipped(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any
) -> None:
    volume = run.volume()
    network = run.network()
    image = run.commit(IMAGE, repository=f"dockyard-test/cleanup-late-{run.run_id[:12]}", tag="1")
    stopped = run.container(IMAGE)
    gone = run.volume()
    plan = await dry_run(images_api, node_id, run)
    assert {i["id"] for i in plan["items"]} == {volume, network.id, image, stopped.id, gone}

    # Between the dry run and the execution: things come into use or disappear.
    late = run.container(image, volume=volume, network=network.name)
    stopped.start()
    docker_client.volumes.get(gone).remove()

    job = await execute(images_api, node_id, {"plan_id": plan["plan_id"]})
    assert job["status"] == "succeeded", job
    results = {i["id"]: i for i in job["result"]["items"]}
    for ident in (volume, network.id, image):
        assert results[ident]["result"] == "skipped", results[ident]
        assert late.name in results[ident]["reason"]
    assert results[stopped.id]["result"] == "skipped"
    assert results[stopped.id]["reason"] == "it is running now"
    assert results[gone]["result"] == "skipped"
    assert job["result"]["skipped"] == 5
    assert job["result"]["removed"] == 0
    assert all(
        exists(docker_client, k, i)
        for k, i in [
            ("volume", volume),
            ("network", network.id),
            ("image", image),
            ("container", stopped.id),
        ]
    )
    warnings = [line for line in job["lines"] if line["level"] == "warning"]
    assert len(warnings) == 5


async def test_execute_without_plan_returns_the_list(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any
) -> None:
    volume = run.volume()
    network = run.network()
    keep = run.volume()  # not a chosen target's object: volumes only
    job = await execute(
        images_api,
        node_id,
        {"targets": ["unused_networks"], "label": run.label},
    )
    assert job["status"] == "succeeded", job
    assert [(i["id"], i["result"]) for i in job["result"]["items"]] == [(network.id, "removed")]
    assert not exists(docker_client, "network", network.id)
    assert exists(docker_client, "volume", volume)
    assert exists(docker_client, "volume", keep)
    assert job["result"]["plan_id"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"dry_run": True, "targets": ["bogus"]}, "body.targets.0"),
        ({"dry_run": True, "targets": []}, "body.targets"),
        ({"dry_run": False, "targets": []}, "body.targets"),
        ({"dry_run": True, "targets": ["unused_volumes", "unused_volumes"]}, "body.targets"),
        ({"dry_run": True, "targets": ["unused_volumes"], "label": "bad label"}, "body.label"),
        ({"dry_run": True, "targets": ["unused_volumes"], "plan_id": "abc"}, "body.plan_id"),
        ({"dry_run": "maybe", "targets": ["unused_volumes"]}, "body.dry_run"),
        ({"targets": ["unused_volumes"], "surprise": 1}, "body.surprise"),
    ],
)
async def test_bad_cleanup_requests_are_422_and_remove_nothing(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any, body: dict[str, Any], path: str
) -> None:
    volume = run.volume()
    body = {**body}
    body.setdefault("label", run.label)
    response = await images_api.client.post(f"/api/v1/nodes/{node_id}/cleanup", json=body)
    error = assert_error(response, 422)
    assert any(e["path"] == path for e in error["details"]["errors"]), error
    assert exists(docker_client, "volume", volume)


async def test_unknown_plan_is_404(images_api: LiveApp, node_id: int) -> None:
    response = await images_api.client.post(
        f"/api/v1/nodes/{node_id}/cleanup", json={"dry_run": False, "plan_id": "0" * 32}
    )
    assert_error(response, 404, "cleanup_plan_not_found")


async def test_cleanup_policy_schedules_a_node_cleanup(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any
) -> None:
    base = f"/api/v1/nodes/{node_id}/cleanup-policy"
    default = (await images_api.client.get(base)).json()
    assert default["enabled"] is False
    assert default["next_run_at"] is None
    body = {
        "enabled": True,
        "targets": ["unused_volumes"],
        "label": run.label,
        "schedule": {"frequency": "daily", "time": "04:30", "timezone": "Europe/Berlin"},
    }
    saved = await images_api.client.put(base, json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["enabled"] is True
    assert saved.json()["next_run_at"]
    assert (await images_api.client.get(base)).json()["targets"] == ["unused_volumes"]

    bad = await images_api.client.put(
        base, json={**body, "schedule": {"frequency": "cron", "cron": "0 0 30 2 *"}}
    )
    assert_error(bad, 422)
    bad_tz = await images_api.client.put(
        base,
        json={**body, "schedule": {"frequency": "daily", "time": "03:00", "timezone": "Mars/Base"}},
    )
    assert_error(bad_tz, 422)
    assert (await images_api.client.get(base)).json()["schedule"]["timezone"] == "Europe/Berlin"

    # The scheduled job itself: fire the schedule now, as the scheduler would.
    from dockyard.audit.service import Actor
    from dockyard.schedules import service as schedules

    volume = run.volume()
    runtime = images_api.runtime
    async with runtime.db.session() as session:
        job = await schedules.run_now(session, f"node:{node_id}:cleanup", Actor.system("tests"))
        await session.commit()
    runtime.jobs.submit(job.id)
    done = await wait_job(images_api, job.id)
    assert done["kind"] == "node.scheduled_cleanup"
    assert done["status"] == "succeeded", done
    assert [(i["id"], i["result"]) for i in done["result"]["items"]] == [(volume, "removed")]
    assert not exists(docker_client, "volume", volume)

    off = await images_api.client.put(base, json={**body, "enabled": False})
    assert off.json()["enabled"] is False
    assert off.json()["next_run_at"] is None


async def test_plan_is_stored_and_used_once_on_each_database(
    api: LiveApp, run: Run, docker_client: Any
) -> None:
    api.client.headers.update(api.bearer(await api.token()))
    nodes = (await api.client.get("/api/v1/nodes")).json()["items"]
    node_id = next(n["id"] for n in nodes if n["kind"] == "local")
    volume = run.volume()
    plan = await dry_run(api, node_id, run, targets=["unused_volumes"])
    assert [i["id"] for i in plan["items"]] == [volume]
    job = await execute(api, node_id, {"plan_id": plan["plan_id"]})
    assert job["status"] == "succeeded", job
    assert job["result"]["removed"] == 1
    assert not exists(docker_client, "volume", volume)
    again = await api.client.post(
        f"/api/v1/nodes/{node_id}/cleanup", json={"dry_run": False, "plan_id": plan["plan_id"]}
    )
    assert_error(again, 409, "cleanup_plan_used")
