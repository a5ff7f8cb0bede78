"""Docs that are generated from code must match the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.config_reference import END_MARKER, START_MARKER, config_table, render_into
from dockyard.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_matches_the_settings_class() -> None:
    text = README.read_text()
    assert render_into(text) == text, (
        "README's configuration table is stale: run "
        "`uv run python -m dockyard.config_reference README.md`"
    )


def test_every_setting_is_documented_with_a_description() -> None:
    table = config_table()
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"`DOCKYARD_{name.upper()}`" in table


def test_render_refuses_a_document_without_markers() -> None:
    with pytest.raises(ValueError, match="markers"):
        render_into("no markers here")


def test_markers_are_in_the_readme() -> None:
    text = README.read_text()
    assert START_MARKER in text
    assert END_MARKER in text
