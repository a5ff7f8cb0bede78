"""Update history, rollback and update policy API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dockyard.kit.pagination import Page
from dockyard.schedules.schemas import MaintenanceWindow, ScheduleSpec

UpdateMode = Literal["off", "notify", "auto"]
UpdateResult = Literal["running", "succeeded", "rolled_back", "failed"]

DEFAULT_VERIFY_TIMEOUT_S = 60
DEFAULT_VERIFY_SETTLE_S = 10


class ImageRef(BaseModel):
    image_id: str | None = None
    digest: str | None = None


class ContainerChange(BaseModel):
    """What one compose service's container ran before and after."""

    container: str | None = None
    image: str
    changed: bool
    from_: ImageRef = Field(alias="from", serialization_alias="from")
    to: ImageRef
    kept_image: str | None = Field(
        default=None, description="Tag that keeps the previous image for a rollback."
    )

    model_config = ConfigDict(populate_by_name=True)


class UpdateOut(BaseModel):
    """One entry of a service's update history."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    service_id: int
    job_id: str | None
    kind: Literal["update", "rollback"]
    started_at: datetime
    finished_at: datetime | None
    containers: dict[str, Any] = Field(
        description="Per compose service: container, image, changed, from/to {image_id, digest}."
    )
    result: UpdateResult
    reason: str | None
    rolled_back: bool
    triggered_by: Literal["user", "schedule"]
    actor_label: str | None
    can_rollback: bool = Field(
        default=False, description="Every previous image of this update is still on the node."
    )


class UpdateList(Page[UpdateOut]):
    """Update history, newest first."""


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    update_id: int | None = Field(
        default=None,
        description="The update whose previous images to return to (default: the last "
        "successful update).",
    )


class VerifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: int = Field(
        default=DEFAULT_VERIFY_TIMEOUT_S,
        ge=1,
        le=3600,
        description="A container with a healthcheck must be healthy within this time.",
    )
    settle_s: int = Field(
        default=DEFAULT_VERIFY_SETTLE_S,
        ge=0,
        le=600,
        description="A container without one must keep running, without restarting, this long.",
    )


def default_schedule() -> ScheduleSpec:
    return ScheduleSpec(frequency="daily", time="04:00", timezone="UTC")


class UpdatePolicyIn(BaseModel):
    """`PUT /api/v1/services/{id}/update-policy`."""

    model_config = ConfigDict(extra="forbid")

    mode: UpdateMode = "off"
    schedule: ScheduleSpec = Field(default_factory=default_schedule)
    verify: VerifySettings = Field(default_factory=VerifySettings)
    remove_old_images: bool = False
    maintenance_window: MaintenanceWindow | None = None


class UpdatePolicyOut(UpdatePolicyIn):
    service_id: int
    next_run_at: datetime | None = Field(
        default=None, description="When the next scheduled check runs (null when mode is off)."
    )
    updated_at: datetime | None = None
    updated_by: str | None = None
    last_check: dict[str, Any] = Field(default_factory=dict)
