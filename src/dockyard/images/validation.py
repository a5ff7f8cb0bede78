"""Checks on what a client sends: image references, object names, label filters.

References and names follow the same rules as service definitions (`services.compose.names`).
"""

from __future__ import annotations

import re

from dockyard.kit.errors import ValidationFailedError
from dockyard.services.compose.names import docker_name_problem, image_reference_problem

_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")

__all__ = ["docker_name_problem", "image_reference_problem", "invalid", "label_filter_problem"]


def label_filter_problem(label: str) -> str | None:
    """`key` or `key=value`, like `docker ... --filter label=...`."""
    key, _, value = label.partition("=")
    if not _LABEL_KEY.match(key):
        return "must be `key` or `key=value` with a key of letters, digits, `.`, `_`, `/`, `-`"
    if len(value) > 255 or any(ch in value for ch in "\n\r\0"):
        return "has an invalid value"
    return None


def invalid(path: str, message: str) -> ValidationFailedError:
    """A 422 naming the field, in the shared error shape."""
    return ValidationFailedError(
        f"{path.split('.')[-1]}: {message}",
        details={"errors": [{"path": path, "message": message}]},
    )
