"""Loading compose YAML: safe types, abuse limits, duplicate keys, interpolation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dockyard.services.compose import (
    MAX_COMPOSE_BYTES,
    ComposeError,
    load_compose_file,
    load_compose_text,
    load_definition,
)

WEB = "services:\n  web:\n    image: busybox\n"


def issues_of(text: str, **kwargs: object) -> list[tuple[str, str]]:
    with pytest.raises(ComposeError) as caught:
        load_definition(text, **kwargs)  # type: ignore[arg-type]
    return [(issue.path, issue.message) for issue in caught.value.issues]


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        previous, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    return "\n".join(lines) + "\n"


def test_yaml_12_scalars_like_compose_v2() -> None:
    raw = load_compose_text(
        "\n".join(
            [
                "services:",
                "  web:",
                "    image: busybox",
                "    labels:",
                "      no: no",
                "      on: on",
                "      octal: 0755",
                "      sexagesimal: 22:22",
                "      date: 2024-01-01",
                "      yes: yes",
                "    environment:",
                "      T: true",
                "      F: False",
                "      I: 42",
                "      O: 0o17",
                "      H: 0x1F",
                "      X: 1e3",
                "      N: null",
                "      TILDE: ~",
            ]
        )
    )
    service = raw["services"]["web"]
    assert service["labels"] == {
        "no": "no",
        "on": "on",
        "octal": 755,
        "sexagesimal": "22:22",
        "date": "2024-01-01",
        "yes": "yes",
    }
    assert service["environment"] == {
        "T": True,
        "F": False,
        "I": 42,
        "O": 15,
        "H": 31,
        "X": 1000.0,
        "N": None,
        "TILDE": None,
    }


def test_keys_are_strings() -> None:
    raw = load_compose_text("services:\n  web:\n    image: busybox\n    sysctls:\n      1: 2\n")
    assert raw["services"]["web"]["sysctls"] == {"1": 2}


def test_anchors_and_merge_keys() -> None:
    raw = load_compose_text(
        "x-base: &base\n  image: busybox\n  restart: always\n"
        "services:\n  a:\n    <<: *base\n  b:\n    <<: *base\n    restart: 'no'\n"
    )
    assert raw == {
        "services": {
            "a": {"image": "busybox", "restart": "always"},
            "b": {"image": "busybox", "restart": "no"},
        }
    }


def test_extension_fields_are_dropped_at_the_top_and_in_services() -> None:
    raw = load_compose_text(
        "x-top: 1\nservices:\n  web:\n    image: busybox\n    x-note: hi\n"
        "    labels:\n      x-kept: yes\nvolumes:\n  data:\n    x-vol: 1\n"
    )
    assert raw == {
        "services": {"web": {"image": "busybox", "labels": {"x-kept": "yes"}}},
        "volumes": {"data": {}},
    }


def test_a_billion_laughs_fails_fast() -> None:
    start = time.perf_counter()
    with pytest.raises(ComposeError) as caught:
        load_compose_text(billion_laughs())
    assert time.perf_counter() - start < 0.5
    assert "too many values through anchors and aliases" in caught.value.issues[0].message


def test_many_aliases_are_refused() -> None:
    text = "a: &a x\nb: [" + ", ".join(["*a"] * 10_001) + "]\n"
    with pytest.raises(ComposeError, match="more than 10000 aliases"):
        load_compose_text(text)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ComposeError) as caught:
        load_compose_text("a: &a\n  b: *a\n")
    assert (caught.value.issues[0].path, caught.value.issues[0].message) == (
        "a.b",
        "an alias refers to itself",
    )


def test_deep_nesting_is_refused() -> None:
    start = time.perf_counter()
    with pytest.raises(ComposeError, match="nests deeper than 32 levels"):
        load_compose_text("a: " + "[" * 50_000 + "]" * 50_000)
    assert time.perf_counter() - start < 2


def test_a_five_megabyte_definition_is_refused_by_size() -> None:
    services = "".join(
        f"  s{i}:\n    image: busybox\n    command: [{', '.join(['x'] * 40)}]\n"
        for i in range(35_000)
    )
    text = "services:\n" + services
    assert len(text) > 5 * 1024 * 1024
    start = time.perf_counter()
    with pytest.raises(ComposeError) as caught:
        load_compose_text(text)
    assert time.perf_counter() - start < 0.5
    assert caught.value.issues[0].message.endswith("the limit is 1 MiB")


def test_a_text_just_under_the_limit_is_read() -> None:
    padding = "#" * (MAX_COMPOSE_BYTES - len(WEB) - 1) + "\n"
    assert load_compose_text(WEB + padding)["services"]["web"]["image"] == "busybox"


def test_duplicate_keys_are_refused_with_their_path() -> None:
    assert issues_of("services:\n  web:\n    image: a\n    ports: [80]\n    image: b\n") == [
        ("services.web.image", "duplicate key")
    ]
    assert issues_of(WEB + "  web:\n    image: c\n") == [("services.web", "duplicate key")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "must be a mapping with a `services` key"),
        ("", "must be a mapping with a `services` key"),
        ("just text", "must be a mapping with a `services` key"),
        ("a: [\n", "invalid YAML"),
        ("a: 1\n---\nb: 2\n", "more than one document"),
        ("a: !!python/object:os.system x\n", "invalid YAML"),
        ("a: !!binary aGk=\n", "not supported"),
        ("a: !!timestamp 2024-01-01\n", "not supported"),
        ("a: !reset x\n", "invalid YAML"),
        ("? [a, b]\n: c\n", "a mapping key must be a plain string"),
    ],
)
def test_unsafe_or_odd_yaml_is_refused(text: str, message: str) -> None:
    with pytest.raises(ComposeError, match=message.replace("[", r"\[")):
        load_compose_text(text)


def test_interpolation_uses_the_env_text_then_environ() -> None:
    text = "services:\n  web:\n    image: busybox:${TAG}\n    environment:\n      A: ${A}\n"
    raw = load_compose_text(text, env_text="TAG=1\nA=file", environ={"A": "environ"})
    assert raw["services"]["web"] == {"image": "busybox:1", "environment": {"A": "environ"}}


def test_the_server_environment_is_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_SECRET_KEY", "server-secret")
    text = WEB + "    environment:\n      LEAK: ${DOCKYARD_SECRET_KEY}\n      PASS:\n"
    raw = load_compose_text(text)
    assert raw["services"]["web"]["environment"] == {"LEAK": "", "PASS": None}


def test_keys_are_not_interpolated_and_values_are_recursively() -> None:
    text = WEB + "    labels:\n      ${KEY}: ${VALUE}\n    command: [echo, '${VALUE}']\n"
    raw = load_compose_text(text, environ={"KEY": "k", "VALUE": "v"})
    assert raw["services"]["web"]["labels"] == {"${KEY}": "v"}
    assert raw["services"]["web"]["command"] == ["echo", "v"]


def test_environment_without_a_value_passes_through_from_the_variables() -> None:
    text = WEB + "    environment:\n      - FROM_ENV\n      - MISSING\n      - SET=x\n"
    raw = load_compose_text(text, env_text="FROM_ENV=yes")
    assert raw["services"]["web"]["environment"] == ["FROM_ENV=yes", "MISSING", "SET=x"]


def test_a_missing_required_variable_names_its_path_and_message() -> None:
    text = WEB + "    environment:\n      DB_PASSWORD: ${DB_PASSWORD?set DB_PASSWORD in .env}\n"
    assert issues_of(text) == [
        (
            "services.web.environment.DB_PASSWORD",
            "required variable DB_PASSWORD is missing a value: set DB_PASSWORD in .env",
        )
    ]


def test_every_interpolation_problem_is_reported() -> None:
    text = WEB + "    command: ['${A?a}', '$5']\n"
    assert [path for path, _ in issues_of(text)] == [
        "services.web.command.0",
        "services.web.command.1",
    ]


def test_a_bad_env_text_is_reported_at_dotenv() -> None:
    assert issues_of(WEB, env_text="ok=1\nnot a line") == [
        (".env", ".env line 2: expected `KEY=value`")
    ]


def test_load_compose_file_reads_the_env_file_beside_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TAG=3\n")
    (tmp_path / "compose.yml").write_text("services:\n  web:\n    image: busybox:${TAG}\n")
    raw = load_compose_file(tmp_path / "compose.yml")
    assert raw["services"]["web"]["image"] == "busybox:3"
