"""Compose variable interpolation (`${VAR:-default}`, `$$`) and `.env` parsing.

Follows docker compose: `$VAR` and `${VAR}` (empty when unset), `${VAR:-default}` and
`${VAR-default}`, `${VAR:?message}` and `${VAR?message}` (required), `${VAR:+alt}` and
`${VAR+alt}`; the colon forms treat an empty value like an unset one. Defaults may nest
(`${A:-${B}}`) and are only expanded when used. `$$` is a literal `$`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_DOTENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}


class InterpolationError(ValueError):
    """A malformed `$` expression, or a required variable without a value."""


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """`text` with every `$` expression replaced from `variables`."""
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        following = text[i + 1 : i + 2]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "{":
            value, i = _braced(text, i + 2, variables)
            out.append(value)
        else:
            match = _NAME.match(text, i + 1)
            if match is None:
                raise InterpolationError(
                    f"invalid interpolation in `{text}`: `$` must start a variable like "
                    "`$NAME` or `${NAME}`; write `$$` for a literal `$`"
                )
            out.append(variables.get(match.group(), ""))
            i = match.end()
    return "".join(out)


def _braced(text: str, start: int, variables: Mapping[str, str]) -> tuple[str, int]:
    """Expand `${...}` whose body starts at `start`; return the value and the index after `}`."""
    match = _NAME.match(text, start)
    if match is None:
        raise InterpolationError(f"invalid interpolation in `{text}`: expected a name after `${{`")
    name = match.group()
    i = match.end()
    if text.startswith("}", i):
        return variables.get(name, ""), i + 1
    operator = next((op for op in _OPERATORS if text.startswith(op, i)), None)
    if operator is None:
        raise InterpolationError(
            f"invalid interpolation in `{text}`: unexpected character after `${{{name}`"
        )
    word_start = i + len(operator)
    word_end = _word_end(text, word_start)
    word = text[word_start:word_end]
    value = variables.get(name)
    is_set = value is not None if not operator.startswith(":") else bool(value)
    kind = operator[-1]
    if kind == "-":
        result = (value or "") if is_set else interpolate(word, variables)
    elif kind == "+":
        result = interpolate(word, variables) if is_set else ""
    else:
        if not is_set:
            reason = interpolate(word, variables) if word else "required"
            raise InterpolationError(f"required variable {name} is missing a value: {reason}")
        result = value or ""
    return result, word_end + 1


def _word_end(text: str, start: int) -> int:
    """Index of the `}` closing a `${...}` whose operand starts at `start` (nesting counted)."""
    depth = 0
    i = start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise InterpolationError(f"invalid interpolation in `{text}`: missing `}}`")


def parse_dotenv(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables of a `.env` file: `KEY=value`, `export KEY=value`, quotes and `#` comments.

    Single quotes are literal; double quotes understand `\\n`, `\\t`, `\\"` and `\\\\`; both may
    span lines. Unquoted and double-quoted values are interpolated from the lines above,
    then `environ`. An invalid line raises `InterpolationError` naming its number.
    """
    environ = environ or {}
    result: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        lineno = index + 1
        line = lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        key, sep, raw = line.partition("=")
        key = key.strip()
        if not sep or not _DOTENV_KEY.match(key):
            raise InterpolationError(f".env line {lineno}: expected `KEY=value`")
        raw = raw.strip()
        # The same precedence as the finished variables: the caller's environ wins.
        scope = {**result, **environ}
        try:
            if raw[:1] in ("'", '"'):
                quote = raw[0]
                body = raw[1:]
                while _closing_quote(body, quote) < 0 and index < len(lines):
                    body += "\n" + lines[index]
                    index += 1
                end = _closing_quote(body, quote)
                if end < 0:
                    raise InterpolationError(f".env line {lineno}: missing closing {quote}")
                trailing = body[end + 1 :].strip()
                if trailing and not trailing.startswith("#"):
                    raise InterpolationError(
                        f".env line {lineno}: unexpected text after the closing quote"
                    )
                content = body[:end]
                if quote == "'":
                    value = content
                else:
                    value = interpolate(_unescape_double_quoted(content), scope)
            else:
                value = interpolate(re.split(r"\s#", raw, maxsplit=1)[0].strip(), scope)
        except InterpolationError as exc:
            message = str(exc)
            if message.startswith(".env line"):
                raise
            raise InterpolationError(f".env line {lineno}: {message}") from exc
        result[key] = value
    return result


def _closing_quote(body: str, quote: str) -> int:
    i = 0
    while i < len(body):
        if quote == '"' and body[i] == "\\":
            i += 2
            continue
        if body[i] == quote:
            return i
        i += 1
    return -1


def _unescape_double_quoted(content: str) -> str:
    """Resolve backslash escapes; an escaped `$` becomes `$$` so interpolation keeps it."""
    out: list[str] = []
    i = 0
    while i < len(content):
        char = content[i]
        if char == "\\" and i + 1 < len(content):
            following = content[i + 1]
            if following == "$":
                out.append("$$")
            else:
                out.append(_ESCAPES.get(following, "\\" + following))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)
