"""Images, volumes and networks of a node on the real engine."""

from __future__ import annotations

import io
import os
import secrets
import tarfile
from typing import Any

import docker.errors
import pytest

from tests.conftest import LiveApp, add_user, assert_error, audit_rows, unique_email
from tests.integration.images.conftest import Run, create_service, wait_job

IMAGE = os.environ.get("DOCKYARD_TEST_IMAGE", "dockyard-test/busybox:1")


def sleeper(labels: dict[str, str]) -> str:
    label_lines = "".join(f'\n      {k}: "{v}"' for k, v in labels.items())
    return f"""
services:
  app:
    image: {IMAGE}
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    labels:{label_lines}
"""


async def images(api: LiveApp, node_id: int, **params: Any) -> list[dict[str, Any]]:
    response = await api.client.get(f"/api/v1/nodes/{node_id}/images", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_images_list_used_by_service_search_and_filters(
    images_api: LiveApp, node_id: int, run: Run
) -> None:
    name = run.name("svc")
    run.projects.append(name)
    sid = await create_service(images_api, name, sleeper(run.labels))
    listed = await images(images_api, node_id)
    mine = [i for i in listed if IMAGE in i["repo_tags"]]
    assert len(mine) == 1, [i["repo_tags"] for i in listed]
    image = mine[0]
    assert image["id"].startswith("sha256:")
    assert image["short_id"] == image["id"][7:19]
    assert image["size_bytes"] > 0
    assert image["created"]
    assert image["dangling"] is False
    assert image["in_use"] is True
    assert {"id": sid, "name": name} in image["services"]
    assert any(c["service_id"] == sid and c["name"] == f"{name}-app-1" for c in image["containers"])

    assert IMAGE in {
        t for i in await images(images_api, node_id, search="busybox") for t in i["repo_tags"]
    }
    assert await images(images_api, node_id, search=f"no-such-{secrets.token_hex(4)}") == []
    assert all(i["dangling"] for i in await images(images_api, node_id, dangling=True))
    assert IMAGE not in {
        t for i in await images(images_api, node_id, in_use=False) for t in i["repo_tags"]
    }
    dangling_id = run.commit(IMAGE)
    scoped = await images(images_api, node_id, label=run.label, dangling=True)
    assert [i["id"] for i in scoped] == [dangling_id]
    assert scoped[0]["repo_tags"] == []
    assert scoped[0]["in_use"] is False

    detail = await images_api.client.get(f"/api/v1/nodes/{node_id}/images/{IMAGE}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["id"] == image["id"]
    assert detail.json()["inspect"]["Id"] == image["id"]
    missing = await images_api.client.get(f"/api/v1/nodes/{node_id}/images/nope/none:{run.run_id}")
    assert_error(missing, 404, "image_not_found")
    assert_error(await images_api.client.get("/api/v1/nodes/999999/images"), 404, "node_not_found")


def _unique_image_tar(marker: str) -> bytes:
    """A root filesystem of one file: a layer no engine has yet."""
    data = marker.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("marker.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def test_pull_is_a_job_with_layer_progress(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any
) -> None:
    registry = os.environ["DOCKYARD_TEST_REGISTRY"]
    # A unique image in the local registry that the engine does not have: real layer lines.
    repo = f"{registry}/dockyard-test/imgpull-{run.run_id[:12]}"
    docker_client.api.import_image_from_data(
        _unique_image_tar(run.run_id), repository=repo, tag="1"
    )
    for message in docker_client.api.push(repo, tag="1", stream=True, decode=True):
        assert "error" not in message, message
    docker_client.api.remove_image(f"{repo}:1")
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"{repo}:1")

    response = await images_api.client.post(
        f"/api/v1/nodes/{node_id}/images/pull", json={"reference": f"{repo}:1"}
    )
    assert response.status_code == 202, response.text
    accepted = response.json()["job"]
    assert accepted["kind"] == "images.pull"
    assert accepted["node_id"] == node_id
    job = await wait_job(images_api, accepted["id"])
    run.images.append(job["result"].get("image_id", f"{repo}:1"))
    assert job["status"] == "succeeded", job
    messages = [line["message"] for line in job["lines"]]
    assert messages[0] == f"Pulling {repo}:1"
    assert any(m.endswith(": Pulling fs layer") for m in messages), messages
    assert any(m.endswith(": Pull complete") for m in messages), messages
    assert any(m.startswith("Digest: sha256:") for m in messages), messages
    assert docker_client.images.get(f"{repo}:1").id == job["result"]["image_id"]
    assert job["result"]["repo_digests"]

    # The shared registry image (already local: no layers to fetch, still a clean job).
    reference = f"{os.environ['DOCKYARD_TEST_REGISTRY_IMAGE']}:1"
    response = await images_api.client.post(
        f"/api/v1/nodes/{node_id}/images/pull", json={"reference": reference}
    )
    assert response.status_code == 202, response.text
    job = await wait_job(images_api, response.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    assert any("Digest: sha256:" in line["message"] for line in job["lines"])
    assert (await audit_rows(images_api, action="images.pull"))[-1].outcome == "success"


@pytest.mark.parametrize(
    "reference",
    ["busy box:1", "Dockyard-Test/App:1", "busybox:-bad", "busybox:a b", "", "repo@sha256:12"],
)
async def test_pull_bad_reference_is_422_and_starts_nothing(
    images_api: LiveApp, node_id: int, reference: str
) -> None:
    before = (await images_api.client.get("/api/v1/jobs", params={"kind": "images.pull"})).json()
    response = await images_api.client.post(
        f"/api/v1/nodes/{node_id}/images/pull", json={"reference": reference}
    )
    error = assert_error(response, 422)
    assert any(e["path"].endswith("reference") for e in error["details"]["errors"]), error
    after = (await images_api.client.get("/api/v1/jobs", params={"kind": "images.pull"})).json()
    assert after["total"] == before["total"]


async def test_remove_image_refused_in_use_force_and_unused(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any
) -> None:
    name = run.name("svc")
    run.projects.append(name)
    await create_service(images_api, name, sleeper(run.labels))
    # Our own tag of the shared test image: in use through the service's container.
    copy = f"dockyard-test/busybox-copy:{run.run_id[:12]}"
    docker_client.images.get(IMAGE).tag(copy)
    base = f"/api/v1/nodes/{node_id}/images"
    error = assert_error(await images_api.client.delete(f"{base}/{copy}"), 409, "image_in_use")
    assert f"{name}-app-1" in error["message"]
    assert name in error["message"]
    assert error["details"]["services"][0]["name"] == name
    assert docker_client.images.get(copy)

    forced = await images_api.client.delete(f"{base}/{copy}", params={"force": "true"})
    assert forced.status_code == 204, forced.text
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(copy)
    assert docker_client.images.get(IMAGE)  # only the tag went away

    unused = f"dockyard-test/imgrm-{run.run_id[:12]}:1"
    image_id = run.commit(IMAGE, repository=unused.split(":")[0], tag="1")
    removed = await images_api.client.delete(f"{base}/{unused}")
    assert removed.status_code == 204, removed.text
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)
    events = await audit_rows(images_api, action="images.remove")
    assert [e.details["reference"] for e in events[-2:]] == [copy, unused]
    assert events[-2].details["force"] is True
    assert events[-2].details["in_use_by"]
    assert_error(await images_api.client.delete(f"{base}/{unused}"), 404, "image_not_found")


async def test_volumes_create_inspect_refuse_in_use_remove(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any
) -> None:
    base = f"/api/v1/nodes/{node_id}/volumes"
    name = run.name("vol")
    run.volumes.append(name)
    created = await images_api.client.post(base, json={"name": name, "labels": run.labels})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == name
    assert created.json()["driver"] == "local"
    assert created.json()["labels"] == run.labels
    assert created.json()["in_use"] is False
    assert docker_client.volumes.get(name)
    assert_error(await images_api.client.post(base, json={"name": name}), 409, "volume_exists")
    bad = assert_error(await images_api.client.post(base, json={"name": "bad name"}), 422)
    assert bad["details"]["errors"][0]["path"] == "body.name"

    listed = (await images_api.client.get(base, params={"label": run.label})).json()
    assert [v["name"] for v in listed["items"]] == [name]
    sized = await images_api.client.get(base, params={"label": run.label, "with_sizes": True})
    assert sized.json()["items"][0]["size_bytes"] == 0
    assert listed["items"][0]["size_bytes"] is None

    container = run.container(IMAGE, volume=name)  # created, never started
    detail = (await images_api.client.get(f"{base}/{name}")).json()
    assert detail["in_use"] is True
    assert detail["containers"][0]["name"] == container.name
    assert detail["inspect"]["Name"] == name
    error = assert_error(await images_api.client.delete(f"{base}/{name}"), 409, "volume_in_use")
    assert container.name in error["message"]
    assert docker_client.volumes.get(name)

    container.remove(force=True)
    assert (await images_api.client.delete(f"{base}/{name}")).status_code == 204
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(name)
    assert_error(await images_api.client.get(f"{base}/{name}"), 404, "volume_not_found")
    actions = [e.action for e in await audit_rows(images_api, target_id=name)]
    assert actions == ["volumes.create", "volumes.remove"]


async def test_volume_named_by_a_service_is_never_removed(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any
) -> None:
    name = run.name("svc")
    run.projects.append(name)
    compose = sleeper(run.labels) + "    volumes:\n      - data:/data\nvolumes:\n  data: {}\n"
    await create_service(images_api, name, compose)
    # Even with every container gone, the definition still names the volume.
    for c in docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={name}"}
    ):
        c.remove(force=True)
    volume = f"{name}_data"
    detail = (await images_api.client.get(f"/api/v1/nodes/{node_id}/volumes/{volume}")).json()
    assert detail["in_use"] is True
    assert detail["containers"] == []
    assert detail["services"][0]["name"] == name
    error = assert_error(
        await images_api.client.delete(f"/api/v1/nodes/{node_id}/volumes/{volume}"),
        409,
        "volume_in_use",
    )
    assert f"service {name}" in error["message"]
    assert docker_client.volumes.get(volume)


async def test_networks_create_inspect_refuse_in_use_builtin_remove(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any
) -> None:
    base = f"/api/v1/nodes/{node_id}/networks"
    name = run.name("net")
    created = await images_api.client.post(
        base, json={"name": name, "labels": run.labels, "internal": True}
    )
    assert created.status_code == 201, created.text
    net = created.json()
    run.networks.append(net["id"])
    assert net["name"] == name
    assert net["driver"] == "bridge"
    assert net["internal"] is True
    assert net["builtin"] is False
    assert net["in_use"] is False
    assert_error(await images_api.client.post(base, json={"name": name}), 409, "network_exists")
    bad = assert_error(
        await images_api.client.post(base, json={"name": run.name("n"), "subnet": "10.0.0.1/99"}),
        422,
    )
    assert bad["details"]["errors"][0]["path"] == "body.subnet"

    listed = (await images_api.client.get(base)).json()["items"]
    assert {"bridge", "host", "none", name} <= {n["name"] for n in listed}
    assert all(n["builtin"] for n in listed if n["name"] in ("bridge", "host", "none"))
    for builtin in ("bridge", "host", "none"):
        assert_error(await images_api.client.delete(f"{base}/{builtin}"), 409, "network_builtin")

    container = run.container(IMAGE, network=name)
    detail = (await images_api.client.get(f"{base}/{name}")).json()
    assert detail["in_use"] is True
    assert detail["containers"][0]["name"] == container.name
    error = assert_error(
        await images_api.client.delete(f"{base}/{net['id']}"), 409, "network_in_use"
    )
    assert container.name in error["message"]
    assert docker_client.networks.get(net["id"])

    container.remove(force=True)
    assert (await images_api.client.delete(f"{base}/{name}")).status_code == 204
    with pytest.raises(docker.errors.NotFound):
        docker_client.networks.get(net["id"])
    assert_error(await images_api.client.get(f"{base}/{name}"), 404, "network_not_found")


async def test_image_path_cannot_reach_other_engine_urls(
    images_api: LiveApp, node_id: int, run: Run, docker_client: Any
) -> None:
    container = run.container(IMAGE)
    base = f"/api/v1/nodes/{node_id}/images"
    # Percent-encoded, so the client does not normalize the dots away; the server decodes.
    for ref in (
        f"..%2Fcontainers%2F{container.id}",
        f"x%2F%2E%2E%2F..%2Fcontainers%2F{container.id}",
    ):
        assert_error(await images_api.client.get(f"{base}/{ref}"), 422)
        assert_error(await images_api.client.delete(f"{base}/{ref}?force=true"), 422)
    assert docker_client.containers.get(container.id)


async def test_viewer_reads_but_cannot_pull_remove_or_clean(
    images_api: LiveApp, node_id: int, run: Run
) -> None:
    email = unique_email("viewer")
    await add_user(images_api, email, "viewer-password-123", role="viewer")
    token = (await images_api.login(email, "viewer-password-123"))["access_token"]
    headers = images_api.bearer(token)
    base = f"/api/v1/nodes/{node_id}"
    ok = await images_api.client.get(f"{base}/images", headers=headers)
    assert ok.status_code == 200, ok.text
    volume = run.volume()
    denied = [
        await images_api.client.post(
            f"{base}/images/pull", json={"reference": IMAGE}, headers=headers
        ),
        await images_api.client.delete(f"{base}/images/{IMAGE}", headers=headers),
        await images_api.client.delete(f"{base}/volumes/{volume}", headers=headers),
        await images_api.client.post(
            f"{base}/cleanup",
            json={"dry_run": True, "targets": ["unused_volumes"], "label": run.label},
            headers=headers,
        ),
        await images_api.client.put(f"{base}/cleanup-policy", json={}, headers=headers),
    ]
    for response in denied:
        assert_error(response, 403, "permission_denied")
