"""Exporting compose YAML: readable, stable, and read back into an equal definition."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.services.compose import (
    ComposeDefinition,
    ContainerSpec,
    compose_v1_incompatibilities,
    export_compose_yaml,
    load_compose_text,
    load_definition,
    parse_definition,
)
from dockyard.services.compose.export import SERVICE_KEY_ORDER
from tests.unit.compose.fixture_files import FIXTURE_NAMES, load_fixture
from tests.unit.compose.test_model import mount_entries, port_entries


def round_trip(defn: ComposeDefinition) -> ComposeDefinition:
    return parse_definition(load_compose_text(export_compose_yaml(defn)))


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_round_trips_through_export(name: str) -> None:
    defn = load_fixture(name)
    assert round_trip(defn) == defn


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_round_trips_through_canonical_json(name: str) -> None:
    defn = load_fixture(name)
    assert parse_definition(defn.to_json()) == defn


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_export_is_stable(name: str) -> None:
    defn = load_fixture(name)
    exported = export_compose_yaml(defn)
    assert export_compose_yaml(round_trip(defn)) == exported


def test_the_key_order_covers_every_service_field() -> None:
    assert set(SERVICE_KEY_ORDER) == set(ContainerSpec.model_fields)
    assert len(SERVICE_KEY_ORDER) == len(set(SERVICE_KEY_ORDER))


def test_the_export_is_readable_block_style_with_image_first() -> None:
    defn = load_fixture("web-db")
    text = export_compose_yaml(defn)
    assert "{" not in text.replace("{}", "")
    document = yaml.safe_load(text)
    assert set(document) == {"services", "volumes"}
    for service in document["services"].values():
        assert next(iter(service)) == "image"
    web = document["services"]["web"]
    assert list(web) == [
        "image",
        "environment",
        "ports",
        "depends_on",
        "restart",
        "healthcheck",
    ]
    assert web["ports"] == ["8080:8000"]
    assert web["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert document["services"]["db"]["shm_size"] == "256m"
    assert document["services"]["db"]["stop_grace_period"] == "1m30s"


def test_the_export_uses_shapes_docker_compose_1_29_reads() -> None:
    defn = parse_definition(
        {
            "version": "3.9",
            "name": "proj",
            "services": {
                "web": {
                    "image": "busybox",
                    "ports": [
                        {"target": 80, "published": 8080, "host_ip": "127.0.0.1"},
                        "[::1]::53/udp",
                    ],
                    "volumes": [
                        {
                            "type": "bind",
                            "source": "./x",
                            "target": "/x",
                            "bind": {"create_host_path": True},
                        },
                        {"type": "bind", "source": "/y", "target": "/y"},
                        "/anon",
                    ],
                    "gpus": "all",
                    "pull_policy": "never",
                    "depends_on": ["db"],
                    "networks": ["default"],
                    "ulimits": {"nofile": {"soft": 1, "hard": 2}, "nproc": 5},
                },
                "db": {"image": "busybox"},
            },
        }
    )
    document = yaml.safe_load(export_compose_yaml(defn, project_name="proj"))
    assert "version" not in document
    assert "name" not in document
    web = document["services"]["web"]
    assert web["ports"] == ["127.0.0.1:8080:80", "[::1]::53/udp"]
    assert web["volumes"] == ["./x:/x", {"type": "bind", "source": "/y", "target": "/y"}, "/anon"]
    assert "gpus" not in web
    assert web["deploy"] == {
        "resources": {"reservations": {"devices": [{"capabilities": ["gpu"], "count": "all"}]}}
    }
    assert web["depends_on"] == ["db"]
    assert web["networks"] == ["default"]
    assert web["ulimits"] == {"nofile": {"soft": 1, "hard": 2}, "nproc": 5}
    assert web["pull_policy"] == "never"


def test_the_project_name_is_a_comment() -> None:
    text = export_compose_yaml(load_fixture("web-db"), project_name="shop")
    assert text.startswith("# Compose file of the Dockyard service 'shop'")
    assert "docker compose -p shop" in text
    assert "name:" not in text.split("services:")[0].replace("# ", "")


def test_dollars_are_escaped_so_nothing_is_interpolated() -> None:
    defn = parse_definition(
        {
            "services": {
                "web": {"image": "busybox", "command": ["sh", "-c", "echo $HOME ${USER:-x} $$"]}
            }
        }
    )
    text = export_compose_yaml(defn)
    assert "echo $$HOME $${USER:-x} $$$$" in text
    assert load_definition(text, environ={"HOME": "/root", "USER": "me"}) == defn


TRICKY = [
    "no",
    "yes",
    "on",
    "off",
    "NO",
    "true",
    "True",
    "null",
    "~",
    "",
    " ",
    "0755",
    "0o17",
    "0x1F",
    "1e3",
    "1_000",
    "22:22",
    "1:30:00",
    ".5",
    ".inf",
    "-.inf",
    ".nan",
    "2024-01-01",
    "@at",
    "`tick",
    "!tag",
    "&anchor",
    "*alias",
    "- dash",
    "? q",
    "key: value",
    "# not a comment",
    "a #b",
    "{flow}",
    "[flow]",
    "multi\nline\n",
    "trailing space ",
    "tab\there",
    "quote'single",
    'quote"double',
    "back\\slash",
    "<<",
    "=",
    "%percent",
    "unicode ✓ 🚢",
    "\x00nul",
    "\x85next-line",
    "\u2028line-sep",
    "\r\nwindows",
]


def _definition_with(values: list[str]) -> ComposeDefinition:
    return parse_definition(
        {
            "services": {
                "web": {
                    "image": "busybox",
                    "command": values,
                    "environment": {f"V{i}": value for i, value in enumerate(values)},
                    "labels": {f"l{i}": value for i, value in enumerate(values)},
                }
            }
        }
    )


def test_tricky_strings_round_trip() -> None:
    defn = _definition_with(TRICKY)
    assert round_trip(defn) == defn


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",))), max_size=6))
def test_random_strings_round_trip(values: list[str]) -> None:
    defn = _definition_with(values)
    assert round_trip(defn) == defn


def _with_v2_only_fields() -> dict[str, Any]:
    return {
        "services": {
            "web": {
                "image": "busybox",
                "healthcheck": {"test": "true", "start_interval": "2s"},
                "depends_on": {
                    "db": {"condition": "service_healthy", "restart": True},
                    "cache": {"condition": "service_started", "required": False},
                },
                "volumes": [
                    {"type": "bind", "source": "/x", "target": "/x", "bind": {"selinux": "z"}},
                    "/y:/y:z",
                ],
            },
            "db": {"image": "busybox"},
        }
    }


def test_fields_docker_compose_1_29_lacks_are_listed() -> None:
    defn = parse_definition(_with_v2_only_fields())
    assert [issue.path for issue in compose_v1_incompatibilities(defn)] == [
        "services.web.healthcheck.start_interval",
        "services.web.depends_on.db.restart",
        "services.web.depends_on.cache.required",
        "services.web.volumes.0.bind.selinux",
    ]
    assert round_trip(defn) == defn


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_no_fixture_needs_a_field_docker_compose_1_29_lacks(name: str) -> None:
    assert compose_v1_incompatibilities(load_fixture(name)) == []


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=100)
@given(
    st.lists(port_entries(), max_size=4, unique_by=lambda e: e[0]),
    st.lists(mount_entries(), max_size=3, unique_by=lambda e: e[1]["target"]),
)
def test_random_ports_and_mounts_round_trip_through_export(
    ports: list[tuple[str, dict[str, Any]]], mounts: list[tuple[str, dict[str, Any]]]
) -> None:
    raw = {
        "services": {
            "web": {"image": "x", "ports": [p[1] for p in ports], "volumes": [m[1] for m in mounts]}
        }
    }
    defn = ComposeDefinition.model_validate(raw)
    assert ComposeDefinition.model_validate(load_compose_text(export_compose_yaml(defn))) == defn
