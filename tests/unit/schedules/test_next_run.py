"""next_run_after: daily, weekly, cron, DST in Europe/Berlin, maintenance windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from dockyard.schedules.schemas import ScheduleSpec
from dockyard.schedules.service import next_run_after

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def spec(**kw: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate(kw)


def runs(s: ScheduleSpec, after: datetime, n: int) -> list[datetime]:
    out = []
    for _ in range(n):
        after = next_run_after(s, after)
        out.append(after)
    return out


def test_daily_utc() -> None:
    s = spec(frequency="daily", time="03:00")
    assert next_run_after(s, utc(2026, 5, 1, 2, 59)) == utc(2026, 5, 1, 3, 0)
    # strictly after: at 03:00 exactly the next is tomorrow
    assert next_run_after(s, utc(2026, 5, 1, 3, 0)) == utc(2026, 5, 2, 3, 0)


def test_daily_in_a_timezone() -> None:
    s = spec(frequency="daily", time="03:00", timezone="Europe/Berlin")
    # summer: CEST = UTC+2
    assert next_run_after(s, utc(2026, 7, 1, 12)) == utc(2026, 7, 2, 1, 0)
    # winter: CET = UTC+1
    assert next_run_after(s, utc(2026, 1, 10, 12)) == utc(2026, 1, 11, 2, 0)


def test_daily_across_spring_forward_keeps_wall_clock() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST in Berlin.
    s = spec(frequency="daily", time="04:00", timezone="Europe/Berlin")
    got = runs(s, utc(2026, 3, 27, 12), 3)
    assert [g.astimezone(BERLIN).hour for g in got] == [4, 4, 4]
    assert got == [utc(2026, 3, 28, 3), utc(2026, 3, 29, 2), utc(2026, 3, 30, 2)]
    # 23 hours between the runs around the switch
    assert got[1] - got[0] == timedelta(hours=23)


def test_time_in_the_spring_gap_runs_once_shifted() -> None:
    s = spec(frequency="daily", time="02:30", timezone="Europe/Berlin")
    got = runs(s, utc(2026, 3, 28, 12), 2)
    # 02:30 does not exist on 2026-03-29: it runs at 03:30 CEST (01:30 UTC), once.
    assert got[0] == utc(2026, 3, 29, 1, 30)
    assert got[0].astimezone(BERLIN).strftime("%H:%M") == "03:30"
    assert got[1] == utc(2026, 3, 30, 0, 30)


def test_time_in_the_fall_back_hour_runs_once() -> None:
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    s = spec(frequency="daily", time="02:30", timezone="Europe/Berlin")
    got = runs(s, utc(2026, 10, 24, 12), 3)
    assert got == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]


def test_weekly() -> None:
    s = spec(frequency="weekly", time="22:15", weekdays=["fri", "mon"], timezone="UTC")
    # 2026-05-01 is a Friday
    got = runs(s, utc(2026, 5, 1, 23), 3)
    assert [g.strftime("%a %H:%M") for g in got] == ["Mon 22:15", "Fri 22:15", "Mon 22:15"]
    assert got[0] == utc(2026, 5, 4, 22, 15)
    assert s.weekdays == ["mon", "fri"]


def test_cron_basic_and_dst() -> None:
    s = spec(frequency="cron", cron="30 4 * * 1-5", timezone="Europe/Berlin")
    # Fri 2026-03-27 04:30 CET, then Mon 2026-03-30 04:30 CEST
    got = runs(s, utc(2026, 3, 27, 0), 2)
    assert got == [utc(2026, 3, 27, 3, 30), utc(2026, 3, 30, 2, 30)]
    hourly = spec(frequency="cron", cron="0 * * * *", timezone="Europe/Berlin")
    got = runs(hourly, utc(2026, 3, 29, 0, 30), 3)
    # local 02:00 does not exist: 01:00 CET (00:00 UTC) → 03:00 CEST (01:00 UTC), no duplicate
    assert got == [utc(2026, 3, 29, 1), utc(2026, 3, 29, 2), utc(2026, 3, 29, 3)]
    assert len(set(got)) == 3


def test_cron_leap_day() -> None:
    s = spec(frequency="cron", cron="0 12 29 2 *")
    assert next_run_after(s, utc(2026, 1, 1)) == utc(2028, 2, 29, 12)


def test_maintenance_window_defers_to_start() -> None:
    s = spec(
        frequency="daily",
        time="12:00",
        timezone="Europe/Berlin",
        maintenance_window={"start": "01:00", "end": "05:00"},
    )
    # 12:00 is outside 01:00-05:00: deferred to the next 01:00 Berlin (23:00 UTC in summer)
    assert next_run_after(s, utc(2026, 7, 1, 0)) == utc(2026, 7, 1, 23, 0)


def test_maintenance_window_inside_is_unchanged_and_weekdays_apply() -> None:
    inside = spec(
        frequency="daily", time="02:00", maintenance_window={"start": "01:00", "end": "05:00"}
    )
    assert next_run_after(inside, utc(2026, 7, 1, 0)) == utc(2026, 7, 1, 2, 0)
    sat_only = spec(
        frequency="daily",
        time="10:00",
        maintenance_window={"start": "22:00", "end": "04:00", "weekdays": ["sat"]},
    )
    # Wed 2026-07-01 10:00 → deferred to Sat 2026-07-04 22:00
    assert next_run_after(sat_only, utc(2026, 7, 1, 0)) == utc(2026, 7, 4, 22, 0)
    # 02:00 on Sunday is inside Saturday's window crossing midnight
    night = spec(
        frequency="daily",
        time="02:00",
        maintenance_window={"start": "22:00", "end": "04:00", "weekdays": ["sat"]},
    )
    assert next_run_after(night, utc(2026, 7, 4, 12)) == utc(2026, 7, 5, 2, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"frequency": "cron", "cron": "0 0 * * * *"}, "cron"),
        ({"frequency": "cron", "cron": "0 0 31 2 *"}, "cron"),
        ({"frequency": "cron", "cron": "0 0 30 2 *"}, "cron"),
        ({"frequency": "cron", "cron": "nonsense"}, "cron"),
        ({"frequency": "cron"}, "cron"),
        ({"frequency": "daily", "time": "03:00", "timezone": "Mars/Olympus"}, "timezone"),
        ({"frequency": "daily", "time": "03:00", "timezone": "../etc/passwd"}, "timezone"),
        ({"frequency": "daily", "time": "25:00"}, "time"),
        ({"frequency": "daily"}, "time"),
        ({"frequency": "weekly", "time": "03:00", "weekdays": []}, "weekdays"),
        ({"frequency": "weekly", "time": "03:00", "weekdays": ["funday"]}, "weekdays"),
        ({"frequency": "hourly", "time": "03:00"}, "frequency"),
        (
            {"frequency": "daily", "time": "03:00", "maintenance_window": {"start": "x"}},
            "maintenance_window",
        ),
    ],
)
def test_bad_specs_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ScheduleSpec.model_validate(body)
    locs = [str(err["loc"][0]) for err in info.value.errors()]
    assert field in locs, info.value.errors()


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run_after(spec(frequency="daily", time="03:00"), datetime(2026, 1, 1))
