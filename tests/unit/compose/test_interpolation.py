"""`${VAR}` interpolation and `.env` parsing, as docker compose does them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.services.compose.interpolation import (
    InterpolationError,
    interpolate,
    parse_dotenv,
)

VARIABLES = {"SET": "value", "EMPTY": ""}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a-${SET}-b", "a-value-b"),
        ("$SET.txt", "value.txt"),
        ("$UNSET", ""),
        ("${UNSET}", ""),
        ("${SET:-default}", "value"),
        ("${EMPTY:-default}", "default"),
        ("${UNSET:-default}", "default"),
        ("${SET-default}", "value"),
        ("${EMPTY-default}", ""),
        ("${UNSET-default}", "default"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${SET+alt}", "alt"),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${SET:?boom}", "value"),
        ("${EMPTY?boom}", ""),
        ("$$", "$"),
        ("$$SET", "$SET"),
        ("cost: $$5", "cost: $5"),
        ("${UNSET:-${SET}}", "value"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${UNSET:-a$$b}", "a$b"),
        ("${UNSET:-}", ""),
        ("${SET:-${MISSING?never evaluated}}", "value"),
        ("${UNSET:-with spaces and : colons}", "with spaces and : colons"),
    ],
)
def test_interpolation(template: str, expected: str) -> None:
    assert interpolate(template, VARIABLES) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?set it please}", "required variable UNSET is missing a value: set it please"),
        ("${UNSET?set it please}", "required variable UNSET is missing a value: set it please"),
        ("${EMPTY:?empty is not enough}", "EMPTY is missing a value: empty is not enough"),
        ("${UNSET?}", "required variable UNSET is missing a value: required"),
    ],
)
def test_required_variables(template: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message):
        interpolate(template, VARIABLES)


@pytest.mark.parametrize("template", ["$", "cost $5", "${", "${SET", "${1A}", "${SET!x}", "$ x"])
def test_malformed_expressions(template: str) -> None:
    with pytest.raises(InterpolationError, match="invalid interpolation"):
        interpolate(template, VARIABLES)


@given(st.text())
def test_escaped_text_comes_back_unchanged(text: str) -> None:
    assert interpolate(text.replace("$", "$$"), {}) == text


def test_dotenv_syntax() -> None:
    text = "\n".join(
        [
            "# a comment",
            "",
            "PLAIN=value",
            "export EXPORTED=yes",
            "SPACED = around  ",
            "INLINE=kept # dropped",
            "HASH=a#b",
            "SINGLE='literal $PLAIN # kept'",
            'DOUBLE="line\\nbreak \\"quoted\\" $PLAIN"',
            'ESCAPED="\\$PLAIN"',
            "REF=${PLAIN}-suffix",
            "EMPTY=",
            'MULTI="first',
            'second"',
            "DOTTED.KEY=ok",
        ]
    )
    assert parse_dotenv(text) == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SPACED": "around",
        "INLINE": "kept",
        "HASH": "a#b",
        "SINGLE": "literal $PLAIN # kept",
        "DOUBLE": 'line\nbreak "quoted" value',
        "ESCAPED": "$PLAIN",
        "REF": "value-suffix",
        "EMPTY": "",
        "MULTI": "first\nsecond",
        "DOTTED.KEY": "ok",
    }


def test_dotenv_interpolation_prefers_the_callers_environ() -> None:
    assert parse_dotenv("A=from-file\nB=${A}", {"A": "from-environ"})["B"] == "from-environ"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NOEQUALS", "line 1: expected `KEY=value`"),
        ("OK=1\n1BAD=x", "line 2: expected `KEY=value`"),
        ("A='unclosed", "line 1: missing closing '"),
        ('A="x" trailing', "line 1: unexpected text after the closing quote"),
        ("A=${MISSING?needed}", "line 1: required variable MISSING"),
    ],
)
def test_bad_dotenv_lines_are_named(text: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message):
        parse_dotenv(text)
