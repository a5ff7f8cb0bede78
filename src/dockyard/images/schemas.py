"""API shapes for images, volumes, networks and cleanup."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dockyard.schedules.schemas import ScheduleSpec

CleanupTarget = Literal[
    "stopped_containers",
    "dangling_images",
    "unused_images",
    "unused_volumes",
    "unused_networks",
    "build_cache",
]
ALL_TARGETS: tuple[str, ...] = (
    "stopped_containers",
    "dangling_images",
    "unused_images",
    "unused_volumes",
    "unused_networks",
    "build_cache",
)
ItemKind = Literal["container", "image", "volume", "network", "build_cache"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContainerRef(BaseModel):
    """A container that uses an object; `service_id` when a Dockyard service owns it."""

    id: str
    name: str
    state: str
    service_id: int | None = None
    service_name: str | None = None


class ServiceRef(BaseModel):
    id: int
    name: str


class ImageOut(BaseModel):
    id: str
    short_id: str
    repo_tags: list[str]
    repo_digests: list[str]
    size_bytes: int
    created: datetime | None
    labels: dict[str, str]
    dangling: bool
    in_use: bool
    containers: list[ContainerRef]
    services: list[ServiceRef]


class ImageList(BaseModel):
    items: list[ImageOut]
    total: int
    size_bytes: int


class ImageDetail(ImageOut):
    """An image with the engine's full inspect document."""

    inspect: dict[str, Any]


class PullRequest(_Strict):
    reference: str = Field(min_length=1, max_length=512, examples=["nginx:1.27"])


class VolumeOut(BaseModel):
    name: str
    driver: str
    mountpoint: str | None
    scope: str | None
    created: datetime | None
    labels: dict[str, str]
    options: dict[str, str]
    size_bytes: int | None = Field(
        default=None, description="Only with `with_sizes=true` (from `docker system df`)."
    )
    in_use: bool
    containers: list[ContainerRef]
    services: list[ServiceRef] = Field(description="Services whose definition names it.")


class VolumeList(BaseModel):
    items: list[VolumeOut]
    total: int


class VolumeDetail(VolumeOut):
    inspect: dict[str, Any]


class VolumeCreate(_Strict):
    name: str = Field(min_length=1, max_length=255)
    driver: str = Field(default="local", min_length=1, max_length=128)
    driver_opts: dict[str, str] = {}
    labels: dict[str, str] = {}


class NetworkOut(BaseModel):
    id: str
    short_id: str
    name: str
    driver: str
    scope: str | None
    internal: bool
    attachable: bool
    builtin: bool
    created: datetime | None
    labels: dict[str, str]
    subnets: list[str]
    in_use: bool
    containers: list[ContainerRef]
    services: list[ServiceRef]


class NetworkList(BaseModel):
    items: list[NetworkOut]
    total: int


class NetworkDetail(NetworkOut):
    inspect: dict[str, Any]


class NetworkCreate(_Strict):
    name: str = Field(min_length=1, max_length=255)
    driver: str = Field(default="bridge", min_length=1, max_length=128)
    internal: bool = False
    attachable: bool = False
    subnet: str | None = Field(default=None, max_length=64, examples=["172.30.5.0/24"])
    labels: dict[str, str] = {}


class CleanupRequest(_Strict):
    """`dry_run` previews (and stores a plan); otherwise remove, as a job."""

    dry_run: bool = True
    targets: list[CleanupTarget] = Field(default_factory=list)
    include_managed: bool = Field(
        default=False, description="Also stopped containers of Dockyard services."
    )
    label: str | None = Field(
        default=None,
        max_length=255,
        description="Limit cleanup to objects with this label (`key` or `key=value`). "
        "Build cache has no labels, so it is left out when a label is given.",
    )
    plan_id: str | None = Field(
        default=None,
        max_length=32,
        description="Execute exactly this dry run's list (with `dry_run: false`).",
    )


class CleanupItem(BaseModel):
    target: CleanupTarget
    kind: ItemKind
    id: str
    name: str
    size_bytes: int | None = None
    result: Literal["removed", "skipped", "failed"] | None = None
    reason: str | None = None
    reclaimed_bytes: int | None = None


class CleanupPlanOut(BaseModel):
    plan_id: str
    node_id: int
    dry_run: bool
    targets: list[CleanupTarget]
    include_managed: bool
    label: str | None
    items: list[CleanupItem]
    count: int
    reclaimable_bytes: int
    created_at: datetime


class CleanupResult(BaseModel):
    """The `result` of an `images.cleanup` job."""

    plan_id: str
    items: list[CleanupItem]
    removed: int
    skipped: int
    failed: int
    reclaimed_bytes: int


class CleanupPolicyIn(_Strict):
    enabled: bool = False
    targets: list[CleanupTarget] = Field(
        default_factory=lambda: ["dangling_images", "build_cache"]  # type: ignore[arg-type]
    )
    include_managed: bool = False
    label: str | None = Field(default=None, max_length=255)
    schedule: ScheduleSpec = Field(
        default_factory=lambda: ScheduleSpec(frequency="daily", time="03:00", timezone="UTC")
    )


class CleanupPolicyOut(BaseModel):
    node_id: int
    enabled: bool
    targets: list[CleanupTarget]
    include_managed: bool
    label: str | None
    schedule: ScheduleSpec
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    last_job_id: str | None = None
    updated_at: datetime | None
