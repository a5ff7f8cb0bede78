"""Response classes beyond JSON."""

from __future__ import annotations

from fastapi.responses import PlainTextResponse


class YamlResponse(PlainTextResponse):
    """A YAML document (`application/yaml`)."""

    media_type = "application/yaml"
