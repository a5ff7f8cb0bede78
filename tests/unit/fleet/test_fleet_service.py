"""Fleet views without an engine: rows, filters, sorting, env masking, regex checks, and the
NDJSON framing of log search (with a fake log stream)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dockyard.engine.streams import LogLine
from dockyard.fleet import service as fleet
from dockyard.fleet.schemas import FleetContainer
from dockyard.kit.errors import ValidationFailedError
from dockyard.nodes.models import Node

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def row(**kw: Any) -> FleetContainer:
    values: dict[str, Any] = {
        "node_id": 1,
        "node_name": "alpha",
        "id": "a" * 64,
        "name": "web-1",
        "image": "nginx:1.27",
        "state": "running",
        "status": "Up",
        "ports": [],
    }
    values.update(kw)
    return FleetContainer(**values)


# ---------------------------------------------------------------- rows and filters


def test_from_summary_maps_the_engine_list() -> None:
    raw = fleet.from_summary(
        {
            "Id": "abc",
            "Names": ["/web-1"],
            "Image": "nginx:1.27",
            "State": "running",
            "Status": "Up 5 minutes (healthy)",
            "Created": 1_700_000_000,
            "Ports": [
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                {"PrivatePort": 53, "Type": "udp"},
            ],
            "Labels": {"com.docker.compose.project": "p"},
        }
    )
    assert raw.name == "web-1"
    assert raw.health == "healthy"
    assert raw.created == datetime.fromtimestamp(1_700_000_000, UTC)
    assert raw.ports == [
        {"host_ip": None, "host_port": None, "container_port": 53, "protocol": "udp"},
        {"host_ip": "0.0.0.0", "host_port": 8080, "container_port": 80, "protocol": "tcp"},
    ]


def test_filters() -> None:
    r = row(service_id=7, image="Registry.local/App:2", name="shop-api-1")
    assert fleet.matches(r, fleet.FleetQuery())
    assert fleet.matches(r, fleet.FleetQuery(node_id=1, service_id=7, state="running"))
    assert not fleet.matches(r, fleet.FleetQuery(node_id=2))
    assert not fleet.matches(r, fleet.FleetQuery(service_id=8))
    assert not fleet.matches(r, fleet.FleetQuery(state="exited"))
    assert fleet.matches(r, fleet.FleetQuery(image="app:2"))
    assert not fleet.matches(r, fleet.FleetQuery(image="nginx"))
    assert fleet.matches(r, fleet.FleetQuery(q="API"))
    assert fleet.matches(r, fleet.FleetQuery(q="aaaa"))  # id prefix
    assert not fleet.matches(r, fleet.FleetQuery(q="db"))


def test_sorting() -> None:
    rows = [
        row(id="1", name="b", node_name="n2", node_id=2, created=T0),
        row(id="2", name="a", node_name="n1", node_id=1, created=None, service_name="svc"),
        row(id="3", name="c", node_name="n1", node_id=1, created=T0 + timedelta(1)),
    ]
    assert [r.id for r in fleet.sort_rows(rows, "node", "asc")] == ["2", "3", "1"]
    assert [r.id for r in fleet.sort_rows(rows, "name", "desc")] == ["3", "1", "2"]
    assert [r.id for r in fleet.sort_rows(rows, "created", "desc")] == ["3", "1", "2"]
    assert fleet.sort_rows(rows, "service", "asc")[0].id == "2"


def test_env_masking() -> None:
    out = fleet.mask_env(["DB_PASSWORD=x", "API_KEY=k", "EMPTY_TOKEN=", "PATH=/bin", "X=a=b"])
    assert [(e.name, e.value, e.masked) for e in out] == [
        ("DB_PASSWORD", "********", True),
        ("API_KEY", "********", True),
        ("EMPTY_TOKEN", "", False),
        ("PATH", "/bin", False),
        ("X", "a=b", False),
    ]


def test_in_range_skips_containers_outside_the_window() -> None:
    raw = fleet.from_summary({"Id": "x", "State": "exited", "Created": int(T0.timestamp())})
    assert fleet.in_range(raw, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert not fleet.in_range(raw, T0 - timedelta(hours=2), T0 - timedelta(hours=1))
    raw.finished_at = T0 + timedelta(minutes=1)
    assert not fleet.in_range(raw, T0 + timedelta(minutes=2), T0 + timedelta(hours=1))
    raw.state = "running"
    assert fleet.in_range(raw, T0 + timedelta(minutes=2), T0 + timedelta(hours=1))


def test_default_range() -> None:
    start, end = fleet.default_range(None, T0)
    assert end - start == timedelta(hours=1)
    naive = datetime(2026, 1, 1, 11, 0)
    assert fleet.default_range(naive, T0)[0] == T0 - timedelta(hours=1)
    with pytest.raises(ValidationFailedError):
        fleet.default_range(T0, T0)


# ---------------------------------------------------------------- regex checks


@pytest.mark.parametrize(
    "pattern",
    ["(unclosed", "[a-", "x" * (fleet.MAX_REGEX_LENGTH + 1), "(a+)+$", r"(\w*x)*y", "(a{2,})+"],
)
def test_bad_regexes_are_422_on_q(pattern: str) -> None:
    with pytest.raises(ValidationFailedError) as info:
        fleet.check_regex(pattern)
    assert info.value.status_code == 422
    assert info.value.code == "invalid_regex"
    assert info.value.details["errors"][0]["path"] == "q"


@pytest.mark.parametrize("pattern", [r"error \d+", "(foo|bar)+", r"a+b*", r"(\(x\))+", "^GET /api"])
def test_good_regexes_compile(pattern: str) -> None:
    assert fleet.check_regex(pattern).pattern == pattern


def test_matchers() -> None:
    plain = fleet.make_matcher("Err(", regex=False)
    assert plain("an ERR( here")
    assert not plain("an error here")
    rx = fleet.make_matcher(r"code=\d{3}\b", regex=True)
    assert rx("CODE=500 x")
    assert not rx("code=50")


# ---------------------------------------------------------------- NDJSON search


class FakeStream:
    def __init__(self, batches: list[list[LogLine]], delay_s: float = 0.0) -> None:
        self.batches = batches
        self.delay_s = delay_s
        self.closed = False

    async def __aenter__(self) -> FakeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed = True

    async def _gen(self) -> AsyncIterator[list[LogLine]]:
        for batch in self.batches:
            await asyncio.sleep(self.delay_s)
            yield batch

    def __aiter__(self) -> AsyncIterator[list[LogLine]]:
        return self._gen()


def ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def node(node_id: int, name: str) -> Node:
    return Node(id=node_id, name=name, kind="local", docker_host=f"unix:///n{node_id}.sock")


async def collect(gen: AsyncIterator[bytes]) -> list[dict[str, Any]]:
    raw = b"".join([chunk async for chunk in gen])
    if not raw:
        return []
    assert raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    return [json.loads(line) for line in lines]


def params(**kw: Any) -> fleet.SearchParams:
    values: dict[str, Any] = {
        "q": "boom",
        "regex": False,
        "since": T0,
        "until": T0 + timedelta(seconds=100),
        "limit": 100,
    }
    values.update(kw)
    return fleet.SearchParams(**values)


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeStream]:
    made: dict[str, FakeStream] = {}

    async def fake_open(base_url: str, container_id: str, **kw: Any) -> FakeStream:
        if container_id == "broken":
            from dockyard.engine.errors import EngineUnavailableError

            raise EngineUnavailableError("Node x is offline: its agent was last seen never")
        return made[container_id]

    monkeypatch.setattr(fleet.streams, "open_log_stream", fake_open)
    return made


async def test_ndjson_framing_range_and_summary(streams: dict[str, FakeStream]) -> None:
    streams["c1"] = FakeStream(
        [
            [LogLine("stdout", ts(-5), "boom too early"), LogLine("stdout", ts(1), "BOOM one")],
            [LogLine("stderr", ts(2), 'multi "quoted"\nboom'), LogLine("stdout", ts(3), "calm")],
            [LogLine("stdout", ts(200), "boom too late"), LogLine("stdout", ts(201), "boom")],
        ]
    )
    streams["c2"] = FakeStream([[LogLine("stdout", ts(4), "boom two")]])
    targets = [
        fleet.SearchTarget(node(1, "alpha"), "c1", "web-1", fleet.ServiceRef(3, "web", 1)),
        fleet.SearchTarget(node(2, "beta"), "c2", "db-1", None),
        fleet.SearchTarget(node(2, "beta"), "broken", "gone-1", None),
    ]
    node_errors = [fleet.LogSearchError(node_id=9, node_name="down", error="offline")]
    out = await collect(
        fleet.run_search(targets, params(), fleet.make_matcher("boom", regex=False), node_errors)
    )
    matches, summary = out[:-1], out[-1]
    assert sorted(m["line"] for m in matches) == sorted(
        ['multi "quoted"\nboom', "BOOM one", "boom two"]
    )
    first = next(m for m in matches if m["line"] == "BOOM one")
    assert first == {
        "type": "match",
        "ts": ts(1),
        "node_id": 1,
        "node_name": "alpha",
        "container_id": "c1",
        "container": "web-1",
        "service_id": 3,
        "service_name": "web",
        "stream": "stdout",
        "line": "BOOM one",
    }
    assert summary["type"] == "summary"
    assert summary["matches"] == 3
    assert summary["containers_total"] == 3
    assert summary["containers_searched"] == 3
    assert summary["limit_reached"] is False
    assert summary["truncated"] is False
    assert {(e["node_id"], e["container"]) for e in summary["errors"]} == {(9, None), (2, "gone-1")}
    assert streams["c1"].closed  # stopped at the first line after `until`


async def test_limit_stops_the_search(streams: dict[str, FakeStream]) -> None:
    streams["c1"] = FakeStream([[LogLine("stdout", ts(i), f"boom {i}")] for i in range(50)], 0.01)
    targets = [fleet.SearchTarget(node(1, "a"), "c1", "web-1", None)]
    started = asyncio.get_running_loop().time()
    out = await collect(
        fleet.run_search(targets, params(limit=3), fleet.make_matcher("boom", regex=False))
    )
    assert [m["line"] for m in out[:-1]] == ["boom 0", "boom 1", "boom 2"]
    assert out[-1]["limit_reached"] is True
    assert out[-1]["truncated"] is True
    assert asyncio.get_running_loop().time() - started < 0.4  # did not read all 50 batches


async def test_byte_cap_truncates_a_container(streams: dict[str, FakeStream]) -> None:
    streams["c1"] = FakeStream([[LogLine("stdout", ts(i), "x" * 99) for i in range(10)]])
    targets = [fleet.SearchTarget(node(1, "a"), "c1", "chatty-1", None)]
    out = await collect(
        fleet.run_search(targets, params(byte_cap=250), fleet.make_matcher("x", regex=False))
    )
    assert out[-1]["matches"] == 2
    assert out[-1]["truncated_containers"] == ["chatty-1"]
    assert out[-1]["truncated"] is True


async def test_closing_the_generator_cancels_reads(streams: dict[str, FakeStream]) -> None:
    streams["c1"] = FakeStream([[LogLine("stdout", ts(i), f"boom {i}")] for i in range(1000)], 0.01)
    targets = [fleet.SearchTarget(node(1, "a"), "c1", "web-1", None)]
    gen = fleet.run_search(targets, params(limit=10_000), fleet.make_matcher("boom", regex=False))
    first = await gen.__anext__()
    assert json.loads(first)["type"] == "match"
    await gen.aclose()  # what the server does when the client goes away
    await asyncio.sleep(0)
    assert streams["c1"].closed


async def test_a_gone_client_stops_a_search_that_finds_nothing(
    streams: dict[str, FakeStream], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fleet, "DISCONNECT_POLL_S", 0.05)
    # Slow and never matching: no write would notice the client left.
    streams["c1"] = FakeStream([[LogLine("stdout", ts(1), "quiet")]] * 10_000, 0.01)
    targets = [fleet.SearchTarget(node(1, "a"), "c1", "web-1", None)]
    calls = 0

    async def gone() -> bool:
        nonlocal calls
        calls += 1
        return calls >= 2

    started = asyncio.get_running_loop().time()
    out = await collect(
        fleet.run_search(
            targets, params(), fleet.make_matcher("boom", regex=False), is_disconnected=gone
        )
    )
    assert out == []  # no summary: nobody is listening
    assert asyncio.get_running_loop().time() - started < 2
    assert streams["c1"].closed
