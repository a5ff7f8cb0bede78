"""The configuration reference, rendered from `Settings` so the docs cannot drift."""

from __future__ import annotations

from pydantic.fields import FieldInfo

from dockyard.settings import Settings

START_MARKER = "<!-- config-table:start -->"
END_MARKER = "<!-- config-table:end -->"


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


if __name__ == "__main__":
    import sys
    from pathlib import Path

    for target in sys.argv[1:]:
        path = Path(target)
        path.write_text(render_into(path.read_text()))
        print(f"updated the configuration table in {path}")
