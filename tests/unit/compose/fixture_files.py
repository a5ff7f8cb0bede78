"""The compose files under `tests/fixtures/compose/`, loaded with their `.env` text."""

from __future__ import annotations

from pathlib import Path

from dockyard.services.compose import ComposeDefinition, load_definition

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "compose"
FIXTURE_NAMES = sorted(path.stem for path in FIXTURE_DIR.glob("*.yml"))


def fixture_text(name: str) -> tuple[str, str | None]:
    """The compose text of fixture `name` and its `NAME.env` text, if it has one."""
    env_path = FIXTURE_DIR / f"{name}.env"
    env_text = env_path.read_text(encoding="utf-8") if env_path.exists() else None
    return (FIXTURE_DIR / f"{name}.yml").read_text(encoding="utf-8"), env_text


def load_fixture(name: str) -> ComposeDefinition:
    text, env_text = fixture_text(name)
    return load_definition(text, env_text=env_text)
