"""Submitted variable values: required, types, patterns, selects, secrets masked."""

from __future__ import annotations

import pytest

from dockyard.kit.errors import ValidationFailedError
from dockyard.templates.schemas import TemplateVariable
from dockyard.templates.variables import (
    SECRET_MASK,
    mask_secrets,
    placeholders,
    public_values,
    resolve_values,
)

VARS = [
    TemplateVariable(name="PORT", type="number", default="8080", required=True),
    TemplateVariable(name="NAME", required=True, pattern="[a-z]+"),
    TemplateVariable(name="DEBUG", type="bool", default="false"),
    TemplateVariable(
        name="MODE",
        type="select",
        default="a",
        options=[{"label": "A", "value": "a"}, {"label": "B", "value": "b"}],  # type: ignore[list-item]
    ),
    TemplateVariable(name="PASSWORD", type="secret", required=True),
]


def test_values_with_defaults() -> None:
    values = resolve_values(VARS, {"NAME": "web", "DEBUG": True, "PASSWORD": "pw"})
    assert values == {
        "PORT": "8080",
        "NAME": "web",
        "DEBUG": "true",
        "MODE": "a",
        "PASSWORD": "pw",
    }
    assert "PASSWORD" not in public_values(VARS, values)


@pytest.mark.parametrize(
    ("given", "path", "message"),
    [
        ({"PASSWORD": "pw"}, "variables.NAME", "is required"),
        ({"NAME": "Web1", "PASSWORD": "pw"}, "variables.NAME", "pattern"),
        ({"NAME": "web", "PORT": "80x", "PASSWORD": "pw"}, "variables.PORT", "number"),
        ({"NAME": "web", "MODE": "c", "PASSWORD": "pw"}, "variables.MODE", "one of"),
        ({"NAME": "web", "DEBUG": "maybe", "PASSWORD": "pw"}, "variables.DEBUG", "true or"),
        ({"NAME": "web", "PASSWORD": "pw", "EXTRA": "1"}, "variables.EXTRA", "not a variable"),
        ({"NAME": "web", "PASSWORD": "x" * 5000}, "variables.PASSWORD", "longer"),
    ],
)
def test_bad_values_name_the_variable(given: dict[str, str], path: str, message: str) -> None:
    with pytest.raises(ValidationFailedError) as caught:
        resolve_values(VARS, given)
    errors = caught.value.details["errors"]
    assert errors[0]["path"] == path
    assert message in errors[0]["message"]
    # A secret's value never appears in the error.
    assert "x" * 100 not in str(caught.value.details)


def test_a_pattern_must_match_the_whole_value() -> None:
    with pytest.raises(ValidationFailedError):
        resolve_values(VARS, {"NAME": "abc-def", "PASSWORD": "pw"})


def test_invalid_patterns_and_names_are_refused() -> None:
    with pytest.raises(ValueError, match="regular expression"):
        TemplateVariable(name="A", pattern="(unclosed")
    with pytest.raises(ValueError, match="letters"):
        TemplateVariable(name="1A")
    with pytest.raises(ValueError, match="at most 500"):
        TemplateVariable(name="A", pattern="a" * 501)


def test_placeholders_skip_escaped_dollars() -> None:
    found = placeholders("a ${A} $${B} $$$${C} ${D:-x} ${E?oops}")
    assert [(p.name, p.operator, p.word) for p in found] == [
        ("A", None, ""),
        ("D", ":-", "x"),
        ("E", "?", "oops"),
    ]


def test_mask_secrets() -> None:
    value = {"env": {"P": "hunter2", "URL": "pg://u:hunter2@db"}, "list": ["hunter2"]}
    assert mask_secrets(value, ["hunter2"]) == {
        "env": {"P": SECRET_MASK, "URL": f"pg://u:{SECRET_MASK}@db"},
        "list": [SECRET_MASK],
    }
