"""Template variables: finding `${VAR}`s, checking submitted values, rendering.

Patterns are checked with Python's `re` (no timeout): both the pattern (500 characters)
and the value (4096) are length-limited, and a pattern is matched against the whole value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dockyard.kit.errors import ValidationFailedError
from dockyard.services.compose import ComposeError, load_compose_text
from dockyard.services.compose.loader import parse_yaml
from dockyard.templates.schemas import MAX_VALUE_CHARS, TemplateVariable

# `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?err}`, `${NAME?err}`, `${NAME:+x}`.
PLACEHOLDER = re.compile(r"\$\{([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[-?+])([^}]*))?\}")
SECRET_MASK = "********"  # noqa: S105 - the mask shown instead of a secret
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


@dataclass(frozen=True)
class Placeholder:
    name: str
    operator: str | None
    word: str


def placeholders(text: str) -> list[Placeholder]:
    """Every `${...}` in `text` in order (`$${...}` is a literal and skipped)."""
    found: list[Placeholder] = []
    for match in PLACEHOLDER.finditer(text):
        start = match.start()
        # An even number of `$` before this one means it is not escaped.
        dollars = 0
        while start - dollars - 1 >= 0 and text[start - dollars - 1] == "$":
            dollars += 1
        if dollars % 2:
            continue
        found.append(Placeholder(match.group(1), match.group(2), match.group(3) or ""))
    return found


def variables_from_compose(text: str) -> list[TemplateVariable]:
    """A variable for each `${VAR}` of a compose file, defaults and `?` (required) kept."""
    seen: dict[str, TemplateVariable] = {}
    for ph in placeholders(text):
        if ph.name in seen:
            continue
        default = ph.word if ph.operator in (":-", "-") else None
        required = ph.operator in (":?", "?")
        description = ph.word if required else ""
        secret = re.search(r"PASSWORD|SECRET|TOKEN|PASSWD|API_KEY", ph.name.upper())
        seen[ph.name] = TemplateVariable(
            name=ph.name,
            label=ph.name.replace("_", " ").strip().capitalize(),
            description=description,
            type="secret" if secret else "string",
            default=default,
            required=required or (default is None and ph.operator is None),
        )
    return list(seen.values())


def issue(path: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(
        f"{path}: {message}",
        code="invalid_template",
        details={"errors": [{"path": path, "message": message}]},
    )


def check_template(compose: str, variables: list[TemplateVariable], prefix: str = "") -> None:
    """A template's compose text parses and each `${VAR}` without a default is declared."""
    try:
        data = parse_yaml(compose)
    except ComposeError as exc:
        first = exc.issues[0]
        raise issue(f"{prefix}compose", f"{first.path}: {first.message}".strip(": ")) from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise issue(f"{prefix}compose", "must be a compose mapping with a `services` key")
    names = set()
    for index, var in enumerate(variables):
        if var.name in names:
            raise issue(f"{prefix}variables.{index}.name", f"{var.name} is declared twice")
        names.add(var.name)
        if var.type == "select" and not var.options:
            raise issue(f"{prefix}variables.{index}.options", "a select needs options")
    for ph in placeholders(compose):
        if ph.name not in names and ph.operator not in (":-", "-", ":+", "+"):
            raise issue(
                f"{prefix}variables",
                f"`${{{ph.name}}}` is used in the compose definition but not declared",
            )


def resolve_values(variables: list[TemplateVariable], given: dict[str, Any]) -> dict[str, str]:
    """The submitted values checked and as text (defaults filled); 422 naming each bad one."""
    errors: list[dict[str, str]] = []
    declared = {v.name for v in variables}
    for name in given:
        if name not in declared:
            errors.append(
                {"path": f"variables.{name}", "message": "not a variable of this template"}
            )
    values: dict[str, str] = {}
    for var in variables:
        path = f"variables.{var.name}"
        raw = given.get(var.name)
        if raw is None or raw == "":
            if var.default is not None and var.default != "":
                raw = var.default
            elif var.required:
                errors.append({"path": path, "message": "is required"})
                continue
            else:
                values[var.name] = "false" if var.type == "bool" else ""
                continue
        text = _text(raw)
        if len(text) > MAX_VALUE_CHARS:
            errors.append({"path": path, "message": f"is longer than {MAX_VALUE_CHARS}"})
            continue
        problem = _check_type(var, text)
        if (
            problem is None
            and var.pattern
            and var.type != "bool"
            and re.fullmatch(var.pattern, text) is None
        ):
            problem = f"does not match the pattern {var.pattern}"
        if problem:
            errors.append({"path": path, "message": problem})
            continue
        if var.type == "bool":
            text = "true" if text.lower() in _TRUE else "false"
        values[var.name] = text
    if errors:
        first = errors[0]
        raise ValidationFailedError(
            f"{first['path']} {first['message']}",
            code="invalid_variables",
            details={"errors": errors},
        )
    return values


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_type(var: TemplateVariable, text: str) -> str | None:
    if var.type == "number" and not _NUMBER.match(text):
        return "must be a number"
    if var.type == "bool" and text.lower() not in _TRUE | _FALSE:
        return "must be true or false"
    if var.type == "select" and text not in {o.value for o in var.options}:
        return "must be one of " + ", ".join(o.value for o in var.options)
    return None


def render(compose: str, values: dict[str, str]) -> dict[str, Any]:
    """The compose text interpolated with `values` (a plain mapping for `parse_definition`)."""
    return load_compose_text(compose, environ=values)


def masked_values(variables: list[TemplateVariable], values: dict[str, str]) -> dict[str, str]:
    secret = {v.name for v in variables if v.type == "secret"}
    return {k: (SECRET_MASK if k in secret and v else v) for k, v in values.items()}


def public_values(variables: list[TemplateVariable], values: dict[str, str]) -> dict[str, str]:
    """Values without the secret ones (what is stored and audited)."""
    secret = {v.name for v in variables if v.type == "secret"}
    return {k: v for k, v in values.items() if k not in secret}


def mask_secrets(value: Any, secrets: list[str]) -> Any:
    """`value` with every occurrence of a secret replaced by the mask."""
    secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not secrets:
        return value
    if isinstance(value, str):
        for s in secrets:
            value = value.replace(s, SECRET_MASK)
        return value
    if isinstance(value, dict):
        return {k: mask_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, secrets) for v in value]
    return value
