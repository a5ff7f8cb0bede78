"""Compose YAML text to a plain mapping: safe YAML, abuse limits, interpolation.

The YAML is read like docker compose v2 reads it: YAML 1.2 core types, so `no`, `on`,
`0755` and `22:22` stay strings, and `true`/`false`, plain numbers and `null` are typed.
Only plain data is built (no Python objects, no custom tags). Before building anything
the text is checked against limits (size, nesting, alias count, nodes produced by alias
expansion) so a "billion laughs" document fails in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dockyard.services.compose.interpolation import (
    InterpolationError,
    interpolate,
    parse_dotenv,
)
from dockyard.services.compose.issues import ComposeError, ComposeIssue, join_path
from dockyard.services.compose.model import ComposeDefinition, parse_definition

MAX_COMPOSE_BYTES = 1024 * 1024
"""The largest compose (or `.env`) text accepted, in UTF-8 bytes."""
MAX_DEPTH = 32
"""The deepest nesting of mappings and lists, counted after alias expansion."""
MAX_ALIASES = 10_000
"""The most `*alias` uses in one document."""
MAX_ALIAS_NODES = 10_000
"""The most YAML nodes alias expansion may produce."""
MAX_NODES = 100_000
"""The most YAML nodes the document may hold once aliases are expanded."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


class ComposeYamlLoader(yaml.SafeLoader):
    """`SafeLoader` with YAML 1.2 core-schema scalars and string-only mapping keys."""

    yaml_implicit_resolvers: dict[Any, Any] = {}

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Mappings with their keys' text as keys; `<<` merges are applied first."""
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain string", key_node.start_mark
                )
            mapping[key_node.value] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_int_12(self, node: ScalarNode) -> int:
        """YAML 1.2 integers: decimal, `0o` octal, `0x` hex (a leading 0 is not octal)."""
        text = str(self.construct_scalar(node))
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        return sign * int(digits, 10)

    def construct_refused(self, node: Node) -> Any:
        """Tags that would build non-JSON values (dates, bytes, sets, pairs) are refused."""
        raise yaml.constructor.ConstructorError(
            None, None, f"the YAML tag {node.tag} is not supported", node.start_mark
        )


def _resolver(tag: str, pattern: str, first: str) -> None:
    ComposeYamlLoader.add_implicit_resolver(tag, re.compile(pattern, re.X), list(first))


_resolver("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
_resolver(
    "tag:yaml.org,2002:int",
    r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
    "-+0123456789",
)
_resolver(
    "tag:yaml.org,2002:float",
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    "-+0123456789.",
)
_resolver("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN")
ComposeYamlLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])
_resolver(_MERGE_TAG, r"^(?:<<)$", "<")
ComposeYamlLoader.add_constructor("tag:yaml.org,2002:int", ComposeYamlLoader.construct_yaml_int_12)
for _tag in ("timestamp", "binary", "set", "omap", "pairs"):
    ComposeYamlLoader.add_constructor(
        f"tag:yaml.org,2002:{_tag}", ComposeYamlLoader.construct_refused
    )


def _yaml_issue(exc: yaml.YAMLError) -> ComposeIssue:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return ComposeIssue("", f"invalid YAML: {problem}{where}")


def _check_events(text: str) -> None:
    """Refuse deep nesting, many aliases and multiple documents without building anything."""
    depth = aliases = documents = 0
    for event in yaml.parse(text, Loader=ComposeYamlLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise ComposeError(
                    [
                        ComposeIssue(
                            "", f"the YAML nests deeper than {MAX_DEPTH} levels (line {line})"
                        )
                    ]
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ComposeError(
                    [ComposeIssue("", f"the YAML uses more than {MAX_ALIASES} aliases")]
                )
        elif isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise ComposeError([ComposeIssue("", "the YAML holds more than one document")])


class _NodeBudget:
    """Walks the node graph as the expanded tree: counts nodes, finds duplicate keys."""

    def __init__(self) -> None:
        self.nodes = 0
        self.alias_nodes = 0
        self.seen: set[int] = set()
        self.ancestors: set[int] = set()

    def walk(self, node: Node, path: tuple[str, ...], depth: int) -> None:
        if id(node) in self.ancestors:
            raise ComposeError([ComposeIssue(join_path(*path), "an alias refers to itself")])
        self.nodes += 1
        if id(node) in self.seen:
            self.alias_nodes += 1
        else:
            self.seen.add(id(node))
        if self.alias_nodes > MAX_ALIAS_NODES or self.nodes > MAX_NODES:
            raise ComposeError(
                [
                    ComposeIssue(
                        "",
                        "the YAML expands to too many values through anchors and aliases "
                        f"(limits: {MAX_ALIAS_NODES} from aliases, {MAX_NODES} in all)",
                    )
                ]
            )
        if depth > MAX_DEPTH:
            raise ComposeError(
                [
                    ComposeIssue(
                        join_path(*path),
                        f"the YAML nests deeper than {MAX_DEPTH} levels (a recursive alias?)",
                    )
                ]
            )
        self.ancestors.add(id(node))
        if isinstance(node, SequenceNode):
            for index, child in enumerate(node.value):
                self.walk(child, (*path, str(index)), depth + 1)
        elif isinstance(node, MappingNode):
            keys: set[str] = set()
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    self.walk(value_node, path, depth + 1)
                    continue
                key = key_node.value if isinstance(key_node, ScalarNode) else "?"
                if key in keys:
                    raise ComposeError([ComposeIssue(join_path(*path, key), "duplicate key")])
                keys.add(key)
                self.walk(value_node, (*path, key), depth + 1)
        self.ancestors.discard(id(node))


def parse_yaml(text: str) -> Any:
    """Plain data (dicts, lists, strings, numbers, booleans, None) from limited, safe YAML."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_COMPOSE_BYTES:
        raise ComposeError(
            [
                ComposeIssue(
                    "",
                    f"the compose text is {size / 1024 / 1024:.1f} MiB; "
                    f"the limit is {MAX_COMPOSE_BYTES // 1024 // 1024} MiB",
                )
            ]
        )
    try:
        _check_events(text)
        loader = ComposeYamlLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _NodeBudget().walk(node, (), 0)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ComposeError([_yaml_issue(exc)]) from None


def _drop_extensions(raw: dict[str, Any]) -> dict[str, Any]:
    """Without `x-*` keys at the top level, in services, volumes and networks."""
    result = {k: v for k, v in raw.items() if not k.startswith("x-")}
    for section in ("services", "volumes", "networks"):
        entries = result.get(section)
        if isinstance(entries, dict):
            result[section] = {
                name: {k: v for k, v in entry.items() if not k.startswith("x-")}
                if isinstance(entry, dict)
                else entry
                for name, entry in entries.items()
            }
    return result


def _interpolate_tree(
    value: Any, variables: Mapping[str, str], path: tuple[str, ...], issues: list[ComposeIssue]
) -> Any:
    if isinstance(value, str):
        try:
            return interpolate(value, variables)
        except InterpolationError as exc:
            issues.append(ComposeIssue(join_path(*path), str(exc)))
            return value
    if isinstance(value, dict):
        return {
            key: _interpolate_tree(item, variables, (*path, key), issues)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate_tree(item, variables, (*path, str(index)), issues)
            for index, item in enumerate(value)
        ]
    return value


def _pass_through_environment(raw: dict[str, Any], variables: Mapping[str, str]) -> None:
    """`environment: [KEY]` (no value) takes KEY from the variables, as compose does."""
    services = raw.get("services")
    if not isinstance(services, dict):
        return
    for service in services.values():
        if not isinstance(service, dict):
            continue
        environment = service.get("environment")
        if isinstance(environment, dict):
            service["environment"] = {
                key: variables.get(key) if value is None else value
                for key, value in environment.items()
            }
        elif isinstance(environment, list):
            service["environment"] = [
                f"{item}={variables[item]}"
                if isinstance(item, str) and "=" not in item and item in variables
                else item
                for item in environment
            ]


def compose_variables(
    env_text: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The interpolation variables: the `.env` text's, overridden by `environ`."""
    variables: dict[str, str] = {}
    if env_text:
        if len(env_text.encode("utf-8", errors="surrogatepass")) > MAX_COMPOSE_BYTES:
            raise ComposeError([ComposeIssue(".env", "the .env text is larger than 1 MiB")])
        try:
            variables.update(parse_dotenv(env_text, environ))
        except InterpolationError as exc:
            raise ComposeError([ComposeIssue(".env", str(exc))]) from None
    variables.update(environ or {})
    return variables


def load_compose_text(
    text: str, *, env_text: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A compose file's content as a plain, interpolated mapping, ready for `parse_definition`.

    Variables come from `env_text` (a `.env` file) and `environ`, which wins, as the shell
    environment does in compose. The server's own environment is never read. `x-*`
    extension fields are dropped. Raises `ComposeError` naming each problem's path.
    """
    data = parse_yaml(text)
    if not isinstance(data, dict):
        raise ComposeError(
            [ComposeIssue("", "the compose file must be a mapping with a `services` key")]
        )
    raw = _drop_extensions(data)
    variables = compose_variables(env_text, environ)
    issues: list[ComposeIssue] = []
    interpolated: dict[str, Any] = _interpolate_tree(raw, variables, (), issues)
    if issues:
        raise ComposeError(issues)
    _pass_through_environment(interpolated, variables)
    return interpolated


def load_definition(
    text: str, *, env_text: str | None = None, environ: Mapping[str, str] | None = None
) -> ComposeDefinition:
    """`parse_definition(load_compose_text(...))`: compose text to a validated definition."""
    return parse_definition(load_compose_text(text, env_text=env_text, environ=environ))


def load_compose_file(
    path: str | Path, *, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`load_compose_text` for a file, with the `.env` file beside it when there is one."""
    path = Path(path)
    env_path = path.parent / ".env"
    env_text = env_path.read_text(encoding="utf-8") if env_path.is_file() else None
    return load_compose_text(path.read_text(encoding="utf-8"), env_text=env_text, environ=environ)
