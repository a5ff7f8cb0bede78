"""Pure parts of the images package: times, tags, usage indexing, pull progress lines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from dockyard.images.cleanup import normalize_reference
from dockyard.images.operations import LayerProgress
from dockyard.images.service import Usage, _tag_order, image_out, is_dangling, parse_time
from dockyard.images.validation import label_filter_problem

INSTANCE = "inst-1"


def test_parse_time_handles_unix_seconds_rfc3339_nanoseconds_and_zero() -> None:
    assert parse_time(0) is None
    assert parse_time(None) is None
    assert parse_time("") is None
    assert parse_time(1_700_000_000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    parsed = parse_time("2026-11-22T01:02:03.123456789Z")
    assert parsed == datetime(2026, 11, 22, 1, 2, 3, 123456, tzinfo=UTC)
    assert parse_time("2026-11-22T01:02:03+01:00") == datetime(2026, 11, 22, 0, 2, 3, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("not a time") is None


def test_references_tags_and_dangling() -> None:
    assert normalize_reference("busybox") == "busybox:latest"
    assert normalize_reference("reg:5000/app") == "reg:5000/app:latest"
    assert normalize_reference("reg:5000/app:1") == "reg:5000/app:1"
    assert normalize_reference("app@sha256:ab") == "app@sha256:ab"
    tags = ["127.0.0.1:5000/x/app:1", "zeta/app:1", "alpha:2", "localhost/app:1"]
    assert sorted(tags, key=_tag_order) == [
        "alpha:2",
        "zeta/app:1",
        "127.0.0.1:5000/x/app:1",
        "localhost/app:1",
    ]
    assert is_dangling({"RepoTags": ["<none>:<none>"]})
    assert is_dangling({"RepoTags": None})
    assert not is_dangling({"RepoTags": ["a:1"]})


def test_label_filter() -> None:
    assert label_filter_problem("io.dockyard.test-run=abc") is None
    assert label_filter_problem("team") is None
    assert label_filter_problem("bad label") is not None
    assert label_filter_problem("=value") is not None
    assert label_filter_problem("k=a\nb") is not None


def _container(cid: str, image: str, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "Id": cid,
        "Names": [f"/{cid}-name"],
        "ImageID": image,
        "State": "exited",
        "Labels": labels,
        **extra,
    }


def test_usage_indexes_images_volumes_networks_and_own_services_only() -> None:
    mine = _container(
        "c1",
        "sha256:aaa",
        {"io.dockyard.instance": INSTANCE, "io.dockyard.service-id": "5"},
        Mounts=[{"Type": "volume", "Name": "data"}, {"Type": "bind", "Source": "/x"}],
        NetworkSettings={"Networks": {"web_default": {"NetworkID": "net1"}}},
    )
    other = _container(
        "c2", "sha256:aaa", {"io.dockyard.instance": "someone-else", "io.dockyard.service-id": "5"}
    )
    use = Usage(containers=[mine, other], service_names={5: "web"}, instance_id=INSTANCE)
    refs = use.by_image["sha256:aaa"]
    assert [(r.name, r.service_id, r.service_name) for r in refs] == [
        ("c1-name", 5, "web"),
        ("c2-name", None, None),
    ]
    assert [r.id for r in use.by_volume["data"]] == ["c1"]
    assert "/x" not in use.by_volume
    assert use.by_network["web_default"] == use.by_network["net1"]
    out = image_out({"Id": "sha256:aaa", "RepoTags": ["b:1", "a:1"], "Size": 10, "Created": 1}, use)
    assert out.repo_tags == ["a:1", "b:1"]
    assert out.in_use
    assert not out.dangling
    assert [s.name for s in out.services] == ["web"]


class _Ctx:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def progress(self, message: str, *, level: str = "info") -> None:
        await asyncio.sleep(0)
        self.lines.append(message)


async def test_layer_progress_one_line_per_layer_step_in_order() -> None:
    ctx = _Ctx()
    reporter = LayerProgress(ctx)  # type: ignore[arg-type]
    for message in [
        {"status": "Pulling from team/app", "id": "1"},
        {"status": "Pulling fs layer", "id": "abc"},
        {"status": "Downloading", "id": "abc", "progressDetail": {"current": 1}},
        {"status": "Downloading", "id": "abc", "progressDetail": {"current": 2}},
        {"status": "Download complete", "id": "abc"},
        {"status": "Extracting", "id": "abc"},
        {"status": "Extracting", "id": "abc"},
        {"status": "Pull complete", "id": "abc"},
        {"status": "Digest: sha256:123"},
        {"status": "Status: Downloaded newer image for team/app:1"},
    ]:
        reporter(message)
    await reporter.close()
    assert ctx.lines == [
        "1: Pulling from team/app",
        "abc: Pulling fs layer",
        "abc: Downloading",
        "abc: Download complete",
        "abc: Extracting",
        "abc: Pull complete",
        "Digest: sha256:123",
        "Status: Downloaded newer image for team/app:1",
    ]
