"""Quota request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QuotaUsage(BaseModel):
    """What the user's services take now (their latest revisions)."""

    services: int
    containers: int
    cpus: float
    memory_bytes: int
    gpus: int


class QuotaValues(BaseModel):
    """The eight quota values; a null `max_*` means no limit (or, in `own`, the default)."""

    max_services: int | None
    max_containers: int | None
    max_cpus: float | None
    max_memory_bytes: int | None
    max_gpus: int | None
    default_cpus: float | None
    default_memory: int | None
    default_pids: int | None


class QuotaOut(BaseModel):
    """A user's effective quota (own values, else the global defaults) and usage.

    A `max_*` of null means no limit. `custom` says whether the user has own values.
    """

    user_id: int
    custom: bool
    max_services: int | None
    max_containers: int | None
    max_cpus: float | None
    max_memory_bytes: int | None
    max_gpus: int | None
    default_cpus: float
    default_memory: int
    default_pids: int
    usage: QuotaUsage
    # The user's own values (null: the default applies) and the global defaults, for editors.
    own: QuotaValues
    defaults: QuotaValues


class QuotaUpdate(BaseModel):
    """A user's own quota. A field left out or null falls back to the global default."""

    model_config = ConfigDict(extra="forbid")

    max_services: int | None = Field(default=None, ge=0, le=1_000_000)
    max_containers: int | None = Field(default=None, ge=0, le=1_000_000)
    max_cpus: float | None = Field(default=None, ge=0, le=100_000)
    max_memory_bytes: int | None = Field(default=None, ge=0, le=2**62)
    max_gpus: int | None = Field(default=None, ge=0, le=10_000)
    default_cpus: float | None = Field(default=None, gt=0, le=100_000)
    default_memory: int | None = Field(default=None, ge=4 * 1024**2, le=2**62)
    default_pids: int | None = Field(default=None, ge=1, le=4_194_304)
