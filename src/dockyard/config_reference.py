"""The configuration reference, rendered from `Settings` so the docs cannot drift.

`python -m dockyard.config_reference [FILE ...]` rewrites the table between the markers of
each file; without arguments, of every document that carries it (`DOCUMENTS`, relative to
the repository root). `tests/unit/test_docs_in_sync.py` fails when one is stale.
"""

from __future__ import annotations

from pathlib import Path

from pydantic.fields import FieldInfo

from dockyard.settings import Settings

START_MARKER = "<!-- config-table:start -->"
END_MARKER = "<!-- config-table:end -->"
# The documents that carry the table (paths relative to the repository root).
DOCUMENTS = ("README.md", "docs/operations.md")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return f"`{value!s}`" if value else "(empty)"
    if field.default is None:
        return "(unset)"
    return f"`{field.default}`"


def config_table() -> str:
    """A Markdown table: variable, default, meaning."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    prefix = Settings.model_config.get("env_prefix", "")
    for name, field in Settings.model_fields.items():
        env = f"`{prefix}{name.upper()}`"
        lines.append(f"| {env} | {_default(field)} | {field.description or ''} |")
    return "\n".join(lines)


def render_into(text: str) -> str:
    """Replace the table between the markers in a Markdown document."""
    head, _, rest = text.partition(START_MARKER)
    _, _, tail = rest.partition(END_MARKER)
    if not rest:
        raise ValueError("configuration table markers not found")
    return f"{head}{START_MARKER}\n{config_table()}\n{END_MARKER}{tail}"


def render_file(path: Path) -> bool:
    """Rewrite the table in one file; True when it changed."""
    text = path.read_text()
    rendered = render_into(text)
    if rendered == text:
        return False
    path.write_text(rendered)
    return True


if __name__ == "__main__":
    import sys

    targets = [Path(t) for t in sys.argv[1:]] or [Path(d) for d in DOCUMENTS]
    for path in targets:
        changed = render_file(path)
        print(f"{'updated' if changed else 'unchanged'}: the configuration table in {path}")
