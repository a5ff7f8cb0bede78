"""`GET /api/v1/audit`: filters, cursor pagination, CSV/JSONL export, verify - both backends."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from dockyard.audit.models import AuditEvent
from dockyard.audit.service import Actor, record
from dockyard.kit.clock import utcnow
from dockyard.kit.pagination import encode_cursor
from dockyard.kit.request_meta import RequestMeta
from tests.conftest import LiveApp, assert_error, make_settings, running_app

SEEDED = 540  # more than one export batch (500)
FIELDS = [
    "id",
    "ts",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "ip",
    "user_agent",
    "request_id",
    "details",
]
ACTORS = [
    Actor.user(1, "admin@example.com"),
    Actor.user(2, "ops@example.com"),
    Actor.system(),
    Actor.anonymous("intruder@example.com"),
]
ACTIONS = [
    "auth.login.succeeded",
    "auth.login.failed",
    "auth.logout",
    "container.started",
    "containerXstopped",  # a LIKE `_` wildcard would match "container_"
    "container_odd.action",
    "100%.weird",
    "node.updated",
]
OUTCOMES = ["success", "failure", "denied"]


async def seed(app: LiveApp, count: int, *, start: datetime, tag: str = "seed") -> None:
    async with app.runtime.db.session() as session:
        for i in range(count):
            await record(
                session,
                action=ACTIONS[i % len(ACTIONS)],
                actor=ACTORS[i % len(ACTORS)],
                outcome=OUTCOMES[i % len(OUTCOMES)],
                target_type=["node", "user", None][i % 3],
                target_id=None if i % 3 == 2 else str(i % 7),
                details={
                    "i": i,
                    "tag": tag,
                    "text": 'comma, "quote", newline\nand ünïcode ✓',
                    "nested": {"list": [1, None, True]},
                },
                meta=RequestMeta(
                    ip=f"10.0.0.{i % 5}", user_agent="seed/1", request_id=f"seed-{i:06d}"
                ),
                ts=start + timedelta(minutes=i),
            )
            if i % 100 == 99:
                await session.commit()
        await session.commit()


@pytest.fixture(scope="module")
async def audit_api(
    module_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveApp]:
    settings = make_settings(tmp_path_factory.mktemp("audit-data"), module_db_url)
    async with running_app(settings) as app:
        await seed(app, SEEDED, start=utcnow() - timedelta(days=30))
        yield app


@pytest.fixture(scope="module")
async def headers(audit_api: LiveApp) -> dict[str, str]:
    return audit_api.bearer(await audit_api.token())


async def fetch_all(
    app: LiveApp, headers: dict[str, str], *, limit: int = 200, **filters: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        params = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await app.client.get("/api/v1/audit", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["items"]) == limit
    raise AssertionError("pagination did not end")


def ts_of(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["ts"])


def matches(item: dict[str, Any], filters: dict[str, Any]) -> bool:
    for key, value in filters.items():
        if key == "actor" and value not in (item["actor_id"], item["actor_label"]):
            return False
        if key == "action" and not item["action"].startswith(value):
            return False
        if key in ("target_type", "target_id", "outcome") and item[key] != value:
            return False
        if key == "since" and ts_of(item) < datetime.fromisoformat(value):
            return False
        if key == "until" and ts_of(item) >= datetime.fromisoformat(value):
            return False
    return True


async def db_count(app: LiveApp) -> int:
    async with app.runtime.db.read_session() as session:
        return int((await session.execute(select(func.count(AuditEvent.id)))).scalar_one())


async def test_listing_is_newest_first_and_complete(
    audit_api: LiveApp, headers: dict[str, str]
) -> None:
    items = await fetch_all(audit_api, headers)
    ids = [item["id"] for item in items]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == len(set(ids)) == await db_count(audit_api)
    assert ids == list(range(ids[0], ids[0] - len(ids), -1)), "gapless ids"
    assert set(items[0]) == set(FIELDS)
    seeded = [item for item in items if item["details"].get("tag") == "seed"]
    assert len(seeded) == SEEDED
    sample = next(item for item in seeded if item["details"]["i"] == 5)
    assert sample["details"]["text"] == 'comma, "quote", newline\nand ünïcode ✓'
    assert sample["ip"] == "10.0.0.0"
    assert sample["request_id"] == "seed-000005"
    assert sample["ts"].endswith(("Z", "+00:00"))


async def test_default_page_size_is_50(audit_api: LiveApp, headers: dict[str, str]) -> None:
    page = (await audit_api.client.get("/api/v1/audit", headers=headers)).json()
    assert len(page["items"]) == 50
    assert page["next_cursor"]


@pytest.mark.parametrize(
    "filters",
    [
        {"actor": "2"},
        {"actor": "ops@example.com"},
        {"actor": "intruder@example.com"},
        {"actor": "nobody"},
        {"action": "auth."},
        {"action": "auth.login"},
        {"action": "auth.login.failed"},
        {"action": "container_"},
        {"action": "container"},
        {"action": "100%"},
        {"action": "%"},
        {"outcome": "denied"},
        {"outcome": "failure"},
        {"target_type": "node"},
        {"target_type": "user", "target_id": "3"},
        {"actor": "1", "action": "auth.", "outcome": "success"},
    ],
)
async def test_filters(
    audit_api: LiveApp, headers: dict[str, str], filters: dict[str, Any]
) -> None:
    everything = await fetch_all(audit_api, headers)
    expected = [item["id"] for item in everything if matches(item, filters)]
    got = [item["id"] for item in await fetch_all(audit_api, headers, **filters)]
    assert got == expected
    if filters not in ({"actor": "nobody"}, {"action": "%"}):
        assert got, f"the seed data should match {filters}"


async def test_since_is_inclusive_and_until_exclusive(
    audit_api: LiveApp, headers: dict[str, str]
) -> None:
    everything = await fetch_all(audit_api, headers)
    seeded = sorted(
        (item for item in everything if item["details"].get("tag") == "seed"), key=ts_of
    )
    since = ts_of(seeded[100])
    until = ts_of(seeded[150])
    window = await fetch_all(audit_api, headers, since=since.isoformat(), until=until.isoformat())
    window_seeded = [item for item in window if item["details"].get("tag") == "seed"]
    assert sorted(item["details"]["i"] for item in window_seeded) == list(range(100, 150))
    expected = [
        item["id"]
        for item in everything
        if matches(item, {"since": since.isoformat(), "until": until.isoformat()})
    ]
    assert [item["id"] for item in window] == expected


async def test_since_in_another_timezone(audit_api: LiveApp, headers: dict[str, str]) -> None:
    everything = await fetch_all(audit_api, headers)
    pivot = ts_of(everything[len(everything) // 2])
    in_utc = await fetch_all(audit_api, headers, since=pivot.isoformat())
    plus_five = pivot.astimezone(timezone(timedelta(hours=5)))
    shifted = await fetch_all(audit_api, headers, since=plus_five.isoformat())
    assert [i["id"] for i in in_utc] == [i["id"] for i in shifted]


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        ("/api/v1/audit", "since", "2026-01-01T00:00:00"),
        ("/api/v1/audit", "until", "2026-01-01"),
        ("/api/v1/audit/export", "since", "2026-01-01T00:00:00"),
    ],
)
async def test_time_filter_without_timezone_is_not_a_500(
    audit_api: LiveApp, headers: dict[str, str], path: str, name: str, value: str
) -> None:
    """A naive time is either read as UTC or refused with a 422 naming the parameter."""
    params = {name: value, "format": "jsonl"}
    async with audit_api.client.stream("GET", path, params=params, headers=headers) as response:
        body = await response.aread()
    assert response.status_code in (200, 422), body
    if response.status_code == 422:
        error = assert_error(response, 422, "validation_error")
        assert [e["path"] for e in error["details"]["errors"]] == [f"query.{name}"]
        return
    as_utc = datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()
    reference = await audit_api.client.get(path, params={**params, name: as_utc}, headers=headers)
    assert reference.status_code == 200
    if path.endswith("/export"):
        assert body.decode() == reference.text
        assert body, "the export must not be cut short"
    else:
        assert json.loads(body) == reference.json()


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"outcome": "maybe"}, "query.outcome"),
        ({"limit": "0"}, "query.limit"),
        ({"limit": "201"}, "query.limit"),
        ({"since": "yesterday"}, "query.since"),
        ({"action": "a" * 129}, "query.action"),
    ],
)
async def test_invalid_query_is_422(
    audit_api: LiveApp, headers: dict[str, str], params: dict[str, str], path: str
) -> None:
    response = await audit_api.client.get("/api/v1/audit", params=params, headers=headers)
    error = assert_error(response, 422, "validation_error")
    assert [e["path"] for e in error["details"]["errors"]] == [path]


@pytest.mark.parametrize("limit", [1, 7, 50, 199, 200])
async def test_cursor_pages_have_no_duplicates_and_no_gaps(
    audit_api: LiveApp, headers: dict[str, str], limit: int
) -> None:
    reference = await fetch_all(audit_api, headers, limit=200)
    if limit == 1:
        reference = reference[:25]
        paged: list[dict[str, Any]] = []
        cursor = None
        while len(paged) < 25:
            params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = (
                await audit_api.client.get("/api/v1/audit", params=params, headers=headers)
            ).json()
            paged.extend(page["items"])
            cursor = page["next_cursor"]
    else:
        paged = await fetch_all(audit_api, headers, limit=limit)
    assert [i["id"] for i in paged] == [i["id"] for i in reference]


async def test_cursor_pages_with_a_filter(audit_api: LiveApp, headers: dict[str, str]) -> None:
    reference = await fetch_all(audit_api, headers, limit=200, action="auth.")
    paged = await fetch_all(audit_api, headers, limit=13, action="auth.")
    assert [i["id"] for i in paged] == [i["id"] for i in reference]
    assert all(i["action"].startswith("auth.") for i in paged)


async def test_cursor_pages_are_stable_while_events_are_added(
    audit_api: LiveApp, headers: dict[str, str]
) -> None:
    snapshot = await fetch_all(audit_api, headers, limit=200)
    first = (
        await audit_api.client.get("/api/v1/audit", params={"limit": 20}, headers=headers)
    ).json()
    await seed(audit_api, 5, start=utcnow(), tag="late")
    collected = list(first["items"])
    cursor = first["next_cursor"]
    while cursor:
        page = (
            await audit_api.client.get(
                "/api/v1/audit", params={"limit": 20, "cursor": cursor}, headers=headers
            )
        ).json()
        collected.extend(page["items"])
        cursor = page["next_cursor"]
    assert [i["id"] for i in collected] == [i["id"] for i in snapshot]
    latest = await fetch_all(audit_api, headers, limit=5)
    assert [i["details"].get("tag") for i in latest[:5]] == ["late"] * 5


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", encode_cursor({"x": 1})[:-2] + "@@"])
async def test_bad_cursor_is_400(audit_api: LiveApp, headers: dict[str, str], cursor: str) -> None:
    response = await audit_api.client.get(
        "/api/v1/audit", params={"cursor": cursor}, headers=headers
    )
    assert_error(response, 400, "invalid_cursor")


@pytest.mark.parametrize("payload", [{"before_id": "x"}, {"before_id": [1]}])
async def test_well_formed_cursor_with_a_bad_value_is_400(
    audit_api: LiveApp, headers: dict[str, str], payload: dict[str, Any]
) -> None:
    response = await audit_api.client.get(
        "/api/v1/audit", params={"cursor": encode_cursor(payload)}, headers=headers
    )
    assert_error(response, 400, "invalid_cursor")


# ---------------------------------------------------------------- export


async def export(
    app: LiveApp, headers: dict[str, str], fmt: str, **filters: Any
) -> tuple[Any, str]:
    async with app.client.stream(
        "GET", "/api/v1/audit/export", params={"format": fmt, **filters}, headers=headers
    ) as response:
        body = (await response.aread()).decode("utf-8")
    return response, body


async def test_export_jsonl_streams_every_row(audit_api: LiveApp, headers: dict[str, str]) -> None:
    expected = await fetch_all(audit_api, headers)
    response, body = await export(audit_api, headers, "jsonl")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="dockyard-audit-')
    assert disposition.endswith('.jsonl"')
    lines = body.splitlines()
    assert body.endswith("\n")
    rows = [json.loads(line) for line in lines]
    # Events written by our own listing requests after `expected` may not exist: compare ids.
    assert [r["id"] for r in rows][-len(expected) :] == [r["id"] for r in expected]
    by_id = {r["id"]: r for r in rows}
    for item in expected:
        assert by_id[item["id"]] == item
    assert len(rows) == len({r["id"] for r in rows}) == await db_count(audit_api)


async def test_export_csv_streams_every_row(audit_api: LiveApp, headers: dict[str, str]) -> None:
    expected = await fetch_all(audit_api, headers)
    response, body = await export(audit_api, headers, "csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].endswith('.csv"')
    reader = csv.DictReader(io.StringIO(body, newline=""))
    assert reader.fieldnames == FIELDS
    rows = list(reader)
    assert len(rows) == len({r["id"] for r in rows}) == await db_count(audit_api)
    by_id = {int(r["id"]): r for r in rows}
    for item in expected:
        row = by_id[item["id"]]
        assert json.loads(row["details"]) == item["details"]
        assert datetime.fromisoformat(row["ts"]) == ts_of(item)
        for name in FIELDS:
            if name in ("id", "ts", "details"):
                continue
            assert row[name] == ("" if item[name] is None else str(item[name])), name


async def test_export_default_format_is_csv(audit_api: LiveApp, headers: dict[str, str]) -> None:
    async with audit_api.client.stream(
        "GET", "/api/v1/audit/export", params={"action": "node."}, headers=headers
    ) as response:
        await response.aread()
    assert response.headers["content-type"].startswith("text/csv")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_export_applies_filters(
    audit_api: LiveApp, headers: dict[str, str], fmt: str
) -> None:
    filters: dict[str, Any] = {"action": "auth.login.failed", "outcome": "denied"}
    expected = [i["id"] for i in await fetch_all(audit_api, headers, **filters)]
    _, body = await export(audit_api, headers, fmt, **filters)
    if fmt == "jsonl":
        got = [json.loads(line)["id"] for line in body.splitlines()]
    else:
        got = [int(r["id"]) for r in csv.DictReader(io.StringIO(body, newline=""))]
    assert got == expected
    assert got


async def test_export_of_nothing(audit_api: LiveApp, headers: dict[str, str]) -> None:
    _, body = await export(audit_api, headers, "jsonl", actor="nobody-at-all")
    assert body == ""
    _, body = await export(audit_api, headers, "csv", actor="nobody-at-all")
    assert body.strip() == ",".join(FIELDS)


async def test_export_rejects_unknown_format(audit_api: LiveApp, headers: dict[str, str]) -> None:
    response = await audit_api.client.get(
        "/api/v1/audit/export", params={"format": "xml"}, headers=headers
    )
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["errors"][0]["path"] == "query.format"


async def test_verify_endpoint(audit_api: LiveApp, headers: dict[str, str]) -> None:
    response = await audit_api.client.get("/api/v1/audit/verify", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["bad_id"] is None
    assert body["reason"] is None
    assert body["checked"] >= SEEDED


# ---------------------------------------------------------------- auth events


async def test_auth_events_are_listed(db_url: str, app_settings: Callable[..., Any]) -> None:
    """Login success/failure, refresh and logout all appear in the API, newest first."""
    async with running_app(app_settings(db_url)) as app:
        await app.client.post(
            "/api/v1/auth/login", json={"email": "admin@example.com", "password": "nope-nope-nope"}
        )
        tokens = await app.login()
        refreshed = await app.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        access = refreshed.json()["access_token"]
        await app.client.post("/api/v1/auth/logout", headers=app.bearer(access))
        reader = await app.token()
        items = await fetch_all(app, app.bearer(reader), action="auth.")
        actions = [i["action"] for i in reversed(items)]
        assert actions == [
            "auth.login.failed",
            "auth.login.succeeded",
            "auth.refresh.succeeded",
            "auth.logout",
            "auth.login.succeeded",
        ]
        outcomes = [i["outcome"] for i in reversed(items)]
        assert outcomes == ["failure", "success", "success", "success", "success"]
        first_run = await fetch_all(app, app.bearer(reader), action="user.created")
        assert len(first_run) == 1
        assert first_run[0]["actor_label"] == "first-run"
        assert first_run[0]["details"] == {"email": "admin@example.com", "role": "admin"}
