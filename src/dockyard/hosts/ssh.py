"""SSH command templates: `{{user}}`, `{{host}}`, `{{port}}`, `{{bastion}}` placeholders.

A section `{{#name}}...{{/name}}` is kept only when `name` has a value, so one template
covers hosts with and without a bastion or user. Every value is shell-quoted.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

PLACEHOLDERS = ("user", "host", "port", "bastion")
DEFAULT_TEMPLATE = (
    "ssh {{#bastion}}-J {{bastion}} {{/bastion}}-p {{port}} {{#user}}{{user}}@{{/user}}{{host}}"
)
GLOBAL_KEY = "global"
MAX_TEMPLATE = 1000
_TOKEN = re.compile(r"\{\{\s*([#/]?)\s*([^{}\s]*)\s*\}\}")


@dataclass(frozen=True)
class _Node:
    kind: str  # "text", "var" or "section"
    value: str
    children: tuple[_Node, ...] = ()


def _text(value: str) -> _Node:
    if "{{" in value or "}}" in value:
        raise ValueError("unbalanced '{{' or '}}' in the template")
    return _Node("text", value)


def parse(template: str) -> tuple[_Node, ...]:
    """The template's tree, or `ValueError` naming the first problem."""
    if len(template) > MAX_TEMPLATE:
        raise ValueError(f"the template is longer than {MAX_TEMPLATE} characters")
    if not template.strip():
        raise ValueError("the template is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in template):
        raise ValueError("the template must be one line without control characters")
    stack: list[tuple[str, list[_Node]]] = [("", [])]
    position = 0
    for match in _TOKEN.finditer(template):
        if match.start() > position:
            stack[-1][1].append(_text(template[position : match.start()]))
        position = match.end()
        sigil, name = match.group(1), match.group(2)
        if name not in PLACEHOLDERS:
            known = ", ".join("{{" + p + "}}" for p in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{{{sigil}{name}}}}}; known: {known}")
        if sigil == "#":
            stack.append((name, []))
        elif sigil == "/":
            if len(stack) == 1 or stack[-1][0] != name:
                raise ValueError(f"{{{{/{name}}}}} closes no open {{{{#{name}}}}}")
            section, children = stack.pop()
            stack[-1][1].append(_Node("section", section, tuple(children)))
        else:
            stack[-1][1].append(_Node("var", name))
    if position < len(template):
        stack[-1][1].append(_text(template[position:]))
    if len(stack) != 1:
        raise ValueError(f"{{{{#{stack[-1][0]}}}}} is not closed")
    return tuple(stack[0][1])


def validate(template: str) -> str:
    parse(template)
    return template


def render(template: str, values: dict[str, str | None]) -> str:
    """The command with each placeholder replaced by its shell-quoted value."""

    def walk(nodes: tuple[_Node, ...]) -> str:
        out = []
        for node in nodes:
            if node.kind == "text":
                out.append(node.value)
            elif node.kind == "var":
                value = values.get(node.value)
                out.append(shlex.quote(value) if value else "")
            elif values.get(node.value):
                out.append(walk(node.children))
        return "".join(out)

    return walk(parse(template))
