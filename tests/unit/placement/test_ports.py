"""Port range parsing and validation, and `auto` ports in definitions."""

from __future__ import annotations

import pytest

from dockyard.placement.ports import parse_range, port_key, range_problems, wanted_ports
from dockyard.services.compose import ComposeError, export_compose_yaml, parse_definition


def test_parse_range() -> None:
    assert parse_range("20000-29999") == (20000, 29999)
    assert parse_range(" 8080 ") == (8080, 8080)
    for bad in ("", "a-b", "1-", "-5", "20000:30000"):
        with pytest.raises(ValueError, match="port range"):
            parse_range(bad)


def test_range_problems() -> None:
    assert range_problems([(20000, 20999), (21000, 21999)]) == []
    assert range_problems([(80, 90)]) == [
        {"path": "ranges.0", "message": "ports must be within 1024-65535"}
    ]
    assert range_problems([(3000, 2000)]) == [
        {"path": "ranges.0", "message": "the range 3000-2000 is reversed"}
    ]
    assert range_problems([(21000, 22000), (20000, 21000)]) == [
        {"path": "ranges.0", "message": "21000-22000 overlaps 20000-21000"}
    ]
    assert range_problems([(1024, 65536)])[0]["path"] == "ranges.0"


def test_auto_ports_parse_in_short_and_long_syntax() -> None:
    defn = parse_definition(
        {
            "services": {
                "web": {
                    "image": "x",
                    "ports": [
                        "auto:80",
                        "127.0.0.1:auto:81/udp",
                        {"target": 82, "published": "auto"},
                        "8080:83",
                        "84",
                    ],
                }
            }
        }
    )
    ports = defn.services["web"].ports
    assert [(p.target, p.published, p.auto, p.host_ip, p.protocol) for p in ports] == [
        (80, None, True, None, "tcp"),
        (81, None, True, "127.0.0.1", "udp"),
        (82, None, True, None, "tcp"),
        (83, 8080, False, None, "tcp"),
        (84, None, False, None, "tcp"),
    ]
    # The canonical JSON reads back equal, and plain ports do not gain an `auto` key.
    data = defn.to_json()
    assert parse_definition(data).to_json() == data
    assert data["services"]["web"]["ports"][3] == {"target": 83, "published": 8080}
    wanted = wanted_ports(defn)
    assert [(w.target, w.auto) for w in wanted] == [(80, True), (81, True), (82, True), (83, False)]
    assert wanted[1].key == port_key("web", 81, "udp", "127.0.0.1") == "web/81/udp@127.0.0.1"


def test_an_allocated_auto_port_keeps_its_number_and_exports_as_a_port() -> None:
    defn = parse_definition(
        {
            "services": {
                "web": {"image": "x", "ports": [{"target": 80, "published": 20001, "auto": True}]}
            }
        }
    )
    port = defn.services["web"].ports[0]
    assert (port.published, port.auto) == (20001, True)
    assert "20001:80" in export_compose_yaml(defn, project_name="p")


def test_bad_auto_values_are_refused_with_their_path() -> None:
    with pytest.raises(ComposeError) as caught:
        parse_definition({"services": {"web": {"image": "x", "ports": ["autox:80"]}}})
    assert caught.value.issues[0].path == "services.web.ports.0"
    with pytest.raises(ComposeError) as caught:
        parse_definition(
            {"services": {"web": {"image": "x", "ports": [{"target": 80, "auto": "yes"}]}}}
        )
    assert caught.value.issues[0].path.startswith("services.web.ports.0")
