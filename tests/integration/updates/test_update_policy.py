"""The update policy API: defaults, storing with a schedule and next run, validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import LiveApp, add_user, assert_error, audit_rows, unique_email

COMPOSE = "services:\n  web:\n    image: 127.0.0.1:5000/dockyard-test/app:1\n"


async def make_service(api: LiveApp, name: str = "pol") -> int:
    response = await api.client.post("/api/v1/services", json={"name": name, "compose": COMPOSE})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def signed_in(api: LiveApp) -> None:
    api.client.headers.update(api.bearer(await api.token()))


async def test_policy_defaults_store_schedule_and_off_drops_it(api: LiveApp) -> None:
    await signed_in(api)
    sid = await make_service(api)
    url = f"/api/v1/services/{sid}/update-policy"
    default = (await api.client.get(url)).json()
    assert default["mode"] == "off"
    assert default["verify"] == {"timeout_s": 60, "settle_s": 10}
    assert default["remove_old_images"] is False
    assert default["next_run_at"] is None

    body = {
        "mode": "notify",
        "schedule": {
            "frequency": "weekly",
            "time": "03:30",
            "weekdays": ["sat", "mon"],
            "timezone": "Europe/Berlin",
        },
        "verify": {"timeout_s": 30, "settle_s": 5},
        "remove_old_images": True,
    }
    response = await api.client.put(url, json=body)
    assert response.status_code == 200, response.text
    stored = response.json()
    assert stored["mode"] == "notify"
    assert stored["schedule"]["weekdays"] == ["mon", "sat"]
    assert stored["verify"] == {"timeout_s": 30, "settle_s": 5}
    next_run = datetime.fromisoformat(stored["next_run_at"])
    assert next_run > datetime.now(UTC)
    local = next_run.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (3, 30)
    assert local.weekday() in (0, 5)
    assert (await api.client.get(url)).json() == stored

    from dockyard.schedules.service import get_schedule

    async with api.runtime.db.read_session() as session:
        schedule = await get_schedule(session, f"service:{sid}:update")
        assert schedule is not None
        assert schedule.job_kind == "service.scheduled_update"
        assert schedule.params["service_id"] == sid
        assert schedule.lock_key == f"service:{sid}"
    [audit] = await audit_rows(api, action="service.update_policy.updated")
    assert audit.details["mode"] == "notify"

    cron = {**body, "mode": "auto", "schedule": {"frequency": "cron", "cron": "15 2 * * *"}}
    stored = (await api.client.put(url, json=cron)).json()
    assert stored["schedule"]["frequency"] == "cron"
    assert datetime.fromisoformat(stored["next_run_at"]).astimezone(UTC).minute == 15

    off = (await api.client.put(url, json={**body, "mode": "off"})).json()
    assert off["next_run_at"] is None
    async with api.runtime.db.read_session() as session:
        assert await get_schedule(session, f"service:{sid}:update") is None


@pytest.mark.parametrize(
    ("schedule", "path"),
    [
        ({"frequency": "cron", "cron": "0 0 * * * *"}, "body.schedule.cron"),
        ({"frequency": "cron", "cron": "0 0 31 2 *"}, "body.schedule.cron"),
        ({"frequency": "cron", "cron": "not a cron"}, "body.schedule.cron"),
        (
            {"frequency": "daily", "time": "03:00", "timezone": "Mars/Olympus"},
            "body.schedule.timezone",
        ),
        ({"frequency": "weekly", "time": "03:00", "weekdays": []}, "body.schedule.weekdays"),
        ({"frequency": "daily", "time": "25:00"}, "body.schedule.time"),
    ],
)
async def test_invalid_policies_are_422_naming_the_field_and_store_nothing(
    api: LiveApp, schedule: dict[str, Any], path: str
) -> None:
    await signed_in(api)
    sid = await make_service(api)
    url = f"/api/v1/services/{sid}/update-policy"
    response = await api.client.put(url, json={"mode": "auto", "schedule": schedule})
    error = assert_error(response, 422)
    assert path in [e["path"] for e in error["details"]["errors"]], error
    assert (await api.client.get(url)).json()["mode"] == "off"
    assert not await audit_rows(api, action="service.update_policy.updated")
    from dockyard.schedules.service import get_schedule

    async with api.runtime.db.read_session() as session:
        assert await get_schedule(session, f"service:{sid}:update") is None


async def test_policy_needs_services_update_and_reading_needs_services_read(api: LiveApp) -> None:
    await signed_in(api)
    sid = await make_service(api)
    email = unique_email("viewer")
    await add_user(api, email, "Viewer-Password-1234", role="viewer")
    token = (await api.login(email, "Viewer-Password-1234"))["access_token"]
    headers = api.bearer(token)
    url = f"/api/v1/services/{sid}/update-policy"
    assert (await api.client.get(url, headers=headers)).status_code == 200
    assert (await api.client.get(f"/api/v1/services/{sid}/updates", headers=headers)).json()[
        "items"
    ] == []
    assert_error(await api.client.put(url, json={"mode": "auto"}, headers=headers), 403)
    assert_error(await api.client.post(f"/api/v1/services/{sid}/rollback", headers=headers), 403)
    assert_error(await api.client.post(f"{url}/run", headers=headers), 403)
    # An admin asking to roll back a service that never updated gets a clear 409.
    assert_error(
        await api.client.post(f"/api/v1/services/{sid}/rollback"), 409, "nothing_to_roll_back"
    )
