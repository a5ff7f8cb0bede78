"""`ComposeIssue` (one problem at one path) and `ComposeError` (raised with all of them)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from dockyard.kit.errors import ValidationFailedError

# Our own validators raise this error type; its context may carry a `subpath` to append
# to Pydantic's location (an item index inside a list we expand, a nested key).
COMPOSE_ERROR_TYPE = "compose"


@dataclass(frozen=True, slots=True)
class ComposeIssue:
    """One problem in a compose definition, at a dotted path like `services.web.ports.0`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ComposeError(ValidationFailedError):
    """A compose text or definition was refused; `issues` says every reason and where.

    A `DockyardError` (422, code `invalid_definition`, `details.errors` like every other
    validation error), so an API route may let it propagate.
    """

    code = "invalid_definition"

    def __init__(self, issues: Sequence[ComposeIssue]) -> None:
        if not issues:
            raise ValueError("a ComposeError needs at least one issue")
        self.issues = list(issues)
        first = str(self.issues[0])
        more = len(self.issues) - 1
        message = f"The definition is not valid: {first}"
        if more:
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        super().__init__(
            message,
            details={"errors": [{"path": i.path, "message": i.message} for i in self.issues]},
        )


def join_path(*parts: object) -> str:
    """`services`, `web`, 0 -> `services.web.0` (empty parts are skipped)."""
    return ".".join(str(p) for p in parts if p != "")


def raise_issue(message: str, *subpath: object) -> NoReturn:
    """Fail a Pydantic validator with `message`, at `subpath` below the field being validated."""
    raise PydanticCustomError(
        COMPOSE_ERROR_TYPE, "{message}", {"message": message, "subpath": join_path(*subpath)}
    )


def issues_from_validation_error(
    error: ValidationError,
    prefix: Iterable[object] = (),
    *,
    suggestions: Callable[[Sequence[object]], Sequence[str]] | None = None,
) -> list[ComposeIssue]:
    """Pydantic errors as issues with compose paths; input values are never echoed.

    `suggestions(loc)` lists the field names valid beside an unknown field, for a hint.
    """
    issues: list[ComposeIssue] = []
    for err in error.errors(include_url=False, include_input=False):
        loc = [*prefix, *err["loc"]]
        ctx: dict[str, Any] = err.get("ctx") or {}
        kind = err["type"]
        if kind == COMPOSE_ERROR_TYPE:
            message = str(ctx.get("message", err["msg"]))
            if ctx.get("subpath"):
                loc.append(ctx["subpath"])
        elif kind == "extra_forbidden":
            known = suggestions(err["loc"]) if suggestions is not None else ()
            message = _unknown_field_message(str(loc[-1]) if loc else "", known)
        elif kind == "missing":
            message = "is required"
        else:
            message = str(err["msg"])
            message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        issues.append(ComposeIssue(join_path(*loc), message))
    return issues


def _unknown_field_message(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"unknown field `{name}`{hint}"
