"""Docs that are generated from code must match the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.config_reference import (
    DOCUMENTS,
    END_MARKER,
    START_MARKER,
    config_table,
    render_file,
    render_into,
)
from dockyard.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_configuration_table_matches_the_settings_class(document: str) -> None:
    text = (ROOT / document).read_text()
    assert START_MARKER in text
    assert END_MARKER in text
    assert render_into(text) == text, (
        f"{document}'s configuration table is stale: run "
        "`uv run python -m dockyard.config_reference`"
    )


def test_documents_include_the_readme_and_the_operations_guide() -> None:
    assert set(DOCUMENTS) >= {"README.md", "docs/operations.md"}


def test_render_file_replaces_only_the_table(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Title\n\nbefore\n{START_MARKER}\nold table\n{END_MARKER}\nafter\n")
    assert render_file(doc) is True
    text = doc.read_text()
    assert text.startswith(f"# Title\n\nbefore\n{START_MARKER}\n| variable | default |")
    assert text.endswith(f"{END_MARKER}\nafter\n")
    assert "old table" not in text
    assert "`DOCKYARD_SHUTDOWN_GRACE_S`" in text
    assert render_file(doc) is False  # already current


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
