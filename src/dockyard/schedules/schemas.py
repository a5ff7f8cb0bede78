"""Schedule specifications (daily / weekly / cron, timezone, maintenance window)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
# A cron expression must match at least once within this many years ("0 0 30 2 *" never does).
CRON_HORIZON_YEARS = 5


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError("must be a time of day as HH:MM (00:00 to 23:59)")
    return value


def _check_weekdays(value: list[str]) -> list[str]:
    return sorted(set(value), key=WEEKDAYS.index)


def validate_cron(expr: str) -> str:
    """A standard 5-field cron expression that matches at least once in 5 years."""
    expr = " ".join(expr.split())
    fields = expr.split(" ") if expr else []
    if len(fields) != 5:
        raise ValueError(
            f"must have 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    if not croniter.is_valid(expr):
        raise ValueError("is not a valid cron expression")
    start = datetime(2000, 1, 1)
    try:
        nxt = croniter(expr, start, max_years_between_matches=CRON_HORIZON_YEARS * 2).get_next(
            datetime
        )
    except Exception as exc:  # CroniterBadDateError and friends
        raise ValueError("never matches a real date (e.g. February 30th)") from exc
    if (nxt - start).days > 366 * CRON_HORIZON_YEARS:
        raise ValueError("never matches a real date (e.g. February 30th)")
    return expr


class MaintenanceWindow(BaseModel):
    """Runs due outside this window are deferred to the window's next start.

    A window whose end is not after its start crosses midnight (22:00-04:00) and belongs
    to the weekday it starts on. `weekdays` empty or missing means every day.
    """

    model_config = ConfigDict(extra="forbid")

    start: str = Field(description="Window start, HH:MM local time.", examples=["01:00"])
    end: str = Field(description="Window end, HH:MM local time.", examples=["05:00"])
    weekdays: list[Weekday] = Field(
        default_factory=list, description="Days the window opens; empty = every day."
    )

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        return _check_hhmm(value)

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        return _check_weekdays(value)


class ScheduleSpec(BaseModel):
    """When a schedule runs. Times are wall-clock times in `timezone`.

    DST: a time inside a spring-forward gap runs at the same offset shifted forward
    (02:30 → 03:30 CEST); an ambiguous time in the fall-back hour runs once (first).
    """

    model_config = ConfigDict(extra="forbid")

    frequency: Literal["daily", "weekly", "cron"]
    time: str | None = Field(
        default=None,
        validate_default=True,
        description="HH:MM local time (daily, weekly).",
        examples=["03:00"],
    )
    weekdays: list[Weekday] = Field(
        default_factory=list,
        validate_default=True,
        description="Days of a weekly schedule (mon..sun), at least one.",
    )
    cron: str | None = Field(
        default=None,
        validate_default=True,
        description="Standard 5-field cron expression (frequency cron).",
        examples=["30 4 * * 1-5"],
    )
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Berlin.")
    maintenance_window: MaintenanceWindow | None = None

    @field_validator("time")
    @classmethod
    def _time(cls, value: str | None, info: ValidationInfo) -> str | None:
        freq = info.data.get("frequency")
        if value is None:
            if freq in ("daily", "weekly"):
                raise ValueError(f"is required for a {freq} schedule")
            return None
        return _check_hhmm(value)

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("frequency") == "weekly" and not value:
            raise ValueError("a weekly schedule needs at least one weekday")
        return _check_weekdays(value)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("frequency") == "cron":
            if not value or not value.strip():
                raise ValueError("is required for a cron schedule")
            return validate_cron(value)
        if value is not None and value.strip():
            return validate_cron(value)
        return None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        if not value or ".." in value or value.startswith("/"):
            raise ValueError("is not a known IANA time zone")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a known IANA time zone") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ScheduleOut(BaseModel):
    """A schedule as listed by `GET /api/v1/schedules`."""

    key: str
    job_kind: str
    description: str
    enabled: bool
    spec: dict[str, Any]
    params: dict[str, Any]
    service_id: int | None
    node_id: int | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_job_id: str | None
    last_job_status: str | None = None
    claimed_by: str | None
    claimed_until: datetime | None


class ScheduleList(BaseModel):
    items: list[ScheduleOut]
