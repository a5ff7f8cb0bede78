"""Turning foreign template formats into Dockyard templates (pure functions, no I/O).

- Portainer app templates v2 and v3 (`{"version": "2"|"3", "templates": [...]}`): type 1
  (container) becomes a one-service compose definition; types 2 and 3 (swarm and compose
  stacks) live in a git repository that cannot be fetched from here, so they are reported in
  `skipped` with the reason (everything else is imported).
- Pterodactyl/Pelican eggs (`meta.version: "PTDL_v2"`): the image (a select when the egg has
  several), the startup command in `STARTUP` as Wings passes it, each variable with its
  Laravel rules mapped to required/type/pattern, `SERVER_PORT` published. The egg's config
  files, startup detection and install script are not used (noted in the documentation).
- Compose text: each `${VAR}`, `${VAR:-default}`, `${VAR?err}` becomes a variable.
- Dockyard's own format (YAML or JSON): one template, a list, or `{"templates": [...]}`.

Every problem is a 422 naming the path in the submitted document.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from dockyard.kit.errors import ValidationFailedError
from dockyard.services.compose import ComposeError
from dockyard.services.compose.loader import parse_yaml
from dockyard.templates.schemas import (
    MAX_PATTERN_CHARS,
    SelectOption,
    TemplateIn,
    TemplateVariable,
)
from dockyard.templates.variables import check_template, variables_from_compose

DOCKYARD_KIND = "dockyard/template@1"
PORTAINER_TYPES = {1: "container", 2: "swarm stack", 3: "compose stack"}
_PORT = re.compile(r"^(?:(\d{1,5}):)?(\d{1,5})(?:/(tcp|udp))?$")


@dataclass
class ImportOutcome:
    templates: list[tuple[str, TemplateIn, bool]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def invalid(path: str, message: str) -> ValidationFailedError:
    return ValidationFailedError(
        f"{path or 'content'}: {message}",
        code="invalid_import",
        details={"errors": [{"path": path or "content", "message": message}]},
    )


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].strip("-")
    return slug or "template"


def _literal(value: Any) -> str:
    """A fixed value inside compose text (a `$` is doubled so it is not interpolated)."""
    return str(value).replace("$", "$$")


def _dump(compose: dict[str, Any]) -> str:
    return yaml.safe_dump(compose, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _json(content: str) -> Any:
    try:
        return json.loads(content)
    except json.JSONDecodeError as exc:
        raise invalid("content", f"not valid JSON: {exc.msg} (line {exc.lineno})") from None


def _list(item: dict[str, Any], key: str, path: str) -> list[Any]:
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{path}.{key}" if path else key, "must be a list")
    return value


def _template(data: dict[str, Any], path: str) -> TemplateIn:
    try:
        template = TemplateIn.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise invalid(f"{path}.{loc}" if path else loc, err["msg"]) from None
    check_template(template.compose, template.variables, prefix=f"{path}." if path else "")
    return template


# ---------------------------------------------------------------- Portainer


def import_portainer(content: str) -> ImportOutcome:
    doc = _json(content)
    if isinstance(doc, list):  # v1: a bare list
        raise invalid("content", "Portainer v1 template lists are not supported; use v2 or v3")
    if not isinstance(doc, dict):
        raise invalid("content", "must be a JSON object with `version` and `templates`")
    version = str(doc.get("version", ""))
    if version not in ("2", "3"):
        raise invalid("version", 'must be "2" or "3"')
    items = doc.get("templates")
    if not isinstance(items, list):
        raise invalid("templates", "must be a list")
    outcome = ImportOutcome()
    for index, item in enumerate(items):
        path = f"templates.{index}"
        if not isinstance(item, dict):
            raise invalid(path, "must be an object")
        title = item.get("title")
        if not isinstance(title, str) or not title.strip():
            raise invalid(f"{path}.title", "is required")
        kind = item.get("type")
        if kind not in PORTAINER_TYPES:
            raise invalid(f"{path}.type", "must be 1 (container), 2 (swarm stack) or 3 (compose)")
        if kind != 1:
            repo = item.get("repository")
            where = repo.get("url", "") if isinstance(repo, dict) else ""
            outcome.skipped.append(
                {
                    "path": path,
                    "title": title,
                    "reason": f"a {PORTAINER_TYPES[kind]} whose compose file is in a git "
                    f"repository ({where or 'unknown'}) that cannot be fetched; create it "
                    "from its compose file with the `compose` format",
                }
            )
            continue
        data = _portainer_container(item, path, title)
        outcome.templates.append((path, _template(data, path), False))
    return outcome


def _portainer_container(item: dict[str, Any], path: str, title: str) -> dict[str, Any]:
    image = item.get("image")
    if not isinstance(image, str) or not image.strip():
        raise invalid(f"{path}.image", "is required for a container template")
    slug = slugify(title)
    svc: dict[str, Any] = {"image": _literal(image.strip())}
    if isinstance(item.get("name"), str) and item["name"]:
        svc["container_name"] = _literal(item["name"])
    if isinstance(item.get("command"), str) and item["command"]:
        svc["command"] = _literal(item["command"])
    if isinstance(item.get("hostname"), str) and item["hostname"]:
        svc["hostname"] = _literal(item["hostname"])
    if item.get("privileged") is True:
        svc["privileged"] = True
    if item.get("interactive") is True:
        svc["stdin_open"] = True
        svc["tty"] = True
    restart = item.get("restart_policy")
    if restart is not None:
        if restart not in ("no", "always", "unless-stopped", "on-failure"):
            raise invalid(
                f"{path}.restart_policy", "must be no, always, unless-stopped, on-failure"
            )
        svc["restart"] = restart
    ports: list[str] = []
    for i, port in enumerate(_list(item, "ports", path)):
        if not isinstance(port, str) or not _PORT.match(port.strip()):
            raise invalid(f"{path}.ports.{i}", 'must be like "8080:80/tcp" or "80/tcp"')
        ports.append(port.strip())
    if ports:
        svc["ports"] = ports
    volumes: list[str] = []
    named: dict[str, dict[str, Any]] = {}
    for i, vol in enumerate(_list(item, "volumes", path)):
        if not isinstance(vol, dict) or not isinstance(vol.get("container"), str):
            raise invalid(f"{path}.volumes.{i}.container", "is required")
        target = vol["container"]
        if not target.startswith("/"):
            raise invalid(f"{path}.volumes.{i}.container", "must be an absolute path")
        suffix = ":ro" if vol.get("readonly") is True else ""
        bind = vol.get("bind")
        if isinstance(bind, str) and bind:
            volumes.append(f"{_literal(bind)}:{_literal(target)}{suffix}")
        else:
            name = f"data{i}" if len(_list(item, "volumes", path)) > 1 else "data"
            named[name] = {}
            volumes.append(f"{name}:{_literal(target)}{suffix}")
    if volumes:
        svc["volumes"] = volumes
    variables: list[dict[str, Any]] = []
    environment: dict[str, str] = {}
    for i, env in enumerate(_list(item, "env", path)):
        epath = f"{path}.env.{i}"
        if not isinstance(env, dict) or not isinstance(env.get("name"), str):
            raise invalid(f"{epath}.name", "is required")
        name = env["name"]
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", name):
            raise invalid(f"{epath}.name", "must be a variable name (letters, digits, '_')")
        default = env.get("default")
        if env.get("preset") is True:  # fixed, not shown to the user
            environment[name] = _literal(default if default is not None else "")
            continue
        environment[name] = "${" + name + "}"
        var: dict[str, Any] = {
            "name": name,
            "label": str(env.get("label") or name),
            "description": str(env.get("description") or ""),
            "type": "secret" if re.search(r"PASSWORD|SECRET|TOKEN", name.upper()) else "string",
            "default": None if default in (None, "") else str(default),
            "required": default in (None, ""),
        }
        select = env.get("select")
        if select:
            if not isinstance(select, list):
                raise invalid(f"{epath}.select", "must be a list")
            options = []
            for j, opt in enumerate(select):
                if not isinstance(opt, dict) or "value" not in opt:
                    raise invalid(f"{epath}.select.{j}.value", "is required")
                options.append(
                    {"label": str(opt.get("text") or opt["value"]), "value": str(opt["value"])}
                )
                if opt.get("default") is True:
                    var["default"] = str(opt["value"])
            var.update(type="select", options=options, required=True)
        variables.append(var)
    if environment:
        svc["environment"] = environment
    labels = item.get("labels")
    if isinstance(labels, list) and labels:
        svc["labels"] = {
            str(lab["name"]): _literal(lab.get("value", ""))
            for lab in labels
            if isinstance(lab, dict) and lab.get("name")
        }
    compose: dict[str, Any] = {"services": {slug: svc}}
    if named:
        compose["volumes"] = named
    categories = _list(item, "categories", path)
    note = item.get("note")
    logo = item.get("logo")
    return {
        "name": title.strip()[:200],
        "slug": slug,
        "description": str(item.get("description") or "")[:5000],
        "category": (str(categories[0]).strip().lower()[:64] if categories else "") or "other",
        "icon": logo
        if isinstance(logo, str) and logo.startswith(("http://", "https://"))
        else None,
        "documentation": str(note) if note else "",
        "variables": variables,
        "compose": _dump(compose),
    }


# ---------------------------------------------------------------- Pterodactyl / Pelican

_EGG_VERSIONS = ("PTDL_v2", "PLCN_v1")
_BUILTIN_EGG_VARS = {
    "SERVER_MEMORY": ("Memory (MiB)", "number", "1024"),
    "SERVER_PORT": ("Server port", "number", None),
}


def _php_regex(rule: str) -> str | None:
    """`/^[a-z]+$/i` → `(?i)^[a-z]+$`; None when it is not a delimited regex."""
    if len(rule) < 2:
        return None
    delim = rule[0]
    end = rule.rfind(delim)
    if end <= 0:
        return None
    body, flags = rule[1:end], rule[end + 1 :]
    inline = "".join(f for f in flags if f in "imsx")
    return f"(?{inline}){body}" if inline else body


def _egg_variable(raw: dict[str, Any], path: str) -> dict[str, Any]:
    env = raw.get("env_variable")
    if not isinstance(env, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", env):
        raise invalid(f"{path}.env_variable", "must be a variable name (letters, digits, '_')")
    rules_text = raw.get("rules") or ""
    if isinstance(rules_text, list):  # Pelican may store rules as a list
        rules = [str(r) for r in rules_text]
    elif isinstance(rules_text, str):
        rules = [r for r in rules_text.split("|") if r]
    else:
        raise invalid(f"{path}.rules", "must be a string like required|string|max:20")
    default = raw.get("default_value")
    var: dict[str, Any] = {
        "name": env,
        "label": str(raw.get("name") or env)[:200],
        "description": str(raw.get("description") or "")[:2000],
        "type": "string",
        "default": None if default in (None, "") else str(default),
        "required": False,
    }
    pattern: str | None = None
    min_len: str | None = None
    max_len: str | None = None
    notes: list[str] = []
    for rule in rules:
        name, _, arg = rule.partition(":")
        name = name.strip()
        if name == "required":
            var["required"] = True
        elif name in ("nullable", "sometimes", "string", "present"):
            pass
        elif name in ("numeric", "integer"):
            var["type"] = "number"
        elif name == "boolean":
            var["type"] = "bool"
        elif name == "in":
            values = [v for v in arg.split(",") if v != ""]
            if not values:
                raise invalid(f"{path}.rules", "`in:` needs values")
            var["type"] = "select"
            var["options"] = [{"label": v, "value": v} for v in values]
        elif name in ("regex", "not_regex") and name == "regex":
            pattern = _php_regex(arg)
            if pattern is None or len(pattern) > MAX_PATTERN_CHARS:
                raise invalid(f"{path}.rules", f"cannot read the regex `{arg[:80]}`")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise invalid(f"{path}.rules", f"the regex is not valid here: {exc}") from None
        elif name == "alpha_num":
            pattern = pattern or r"[A-Za-z0-9]*"
        elif name == "alpha_dash":
            pattern = pattern or r"[A-Za-z0-9_-]*"
        elif name == "alpha":
            pattern = pattern or r"[A-Za-z]*"
        elif name in ("max", "min", "size", "between"):
            if not re.match(r"^\d+(,\d+)?$", arg):
                raise invalid(f"{path}.rules", f"`{rule}` needs a number")
            if name == "max":
                max_len = arg
            elif name == "min":
                min_len = arg
            elif name == "size":
                min_len = max_len = arg
            else:
                min_len, _, max_len = arg.partition(",")
        else:
            notes.append(rule)
    if var["type"] == "string" and pattern is None and (min_len or max_len):
        pattern = f".{{{min_len or 0},{max_len or ''}}}"
    elif var["type"] == "number" and (min_len or max_len):
        notes.append(f"between {min_len or '-'} and {max_len or '-'}")
    if pattern and var["type"] in ("string", "secret"):
        var["pattern"] = pattern
    if raw.get("user_viewable") is False:
        var["type"] = "secret" if var["type"] == "string" else var["type"]
    if notes:
        var["description"] = (
            var["description"] + f" (rules not checked: {', '.join(notes)})"
        ).strip()[:2000]
    return var


def import_pterodactyl(content: str) -> ImportOutcome:
    doc = _json(content)
    if not isinstance(doc, dict):
        raise invalid("content", "must be a JSON egg object")
    meta = doc.get("meta")
    if not isinstance(meta, dict) or meta.get("version") not in _EGG_VERSIONS:
        raise invalid("meta.version", "must be PTDL_v2 (or Pelican's PLCN_v1)")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("name", "is required")
    images = doc.get("docker_images")
    if not isinstance(images, dict) or not images:
        raise invalid("docker_images", "must map labels to at least one image")
    for label, image in images.items():
        if not isinstance(image, str) or not image:
            raise invalid(f"docker_images.{label}", "must be an image reference")
    startup = doc.get("startup")
    if not isinstance(startup, str) or not startup.strip():
        raise invalid("startup", "is required")
    raw_vars = doc.get("variables") or []
    if not isinstance(raw_vars, list):
        raise invalid("variables", "must be a list")
    variables = [
        _egg_variable(v, f"variables.{i}") if isinstance(v, dict) else _not_object(f"variables.{i}")
        for i, v in enumerate(raw_vars)
    ]
    declared = {v["name"] for v in variables}
    environment: dict[str, str] = {"STARTUP": _literal(startup.strip()), "SERVER_IP": "0.0.0.0"}
    for builtin, (label, kind, default) in _BUILTIN_EGG_VARS.items():
        if builtin not in declared:
            variables.append(
                {
                    "name": builtin,
                    "label": label,
                    "type": kind,
                    "default": default,
                    "required": default is None,
                    "description": "Set by Wings for every egg.",
                }
            )
    for var in variables:
        environment[var["name"]] = "${" + var["name"] + "}"
    image_list = list(images.items())
    image = image_list[0][1]
    if len(image_list) > 1:
        variables.insert(
            0,
            {
                "name": "DOCKER_IMAGE",
                "label": "Image",
                "type": "select",
                "default": image,
                "required": True,
                "options": [{"label": str(k), "value": str(v)} for k, v in image_list],
            },
        )
        image = "${DOCKER_IMAGE}"
    else:
        image = _literal(image)
    slug = slugify(name)
    svc: dict[str, Any] = {
        "image": image,
        "environment": environment,
        "ports": ["${SERVER_PORT}:${SERVER_PORT}/tcp", "${SERVER_PORT}:${SERVER_PORT}/udp"],
        "volumes": ["data:/home/container"],
        "working_dir": "/home/container",
        "stdin_open": True,
        "tty": True,
        "restart": "unless-stopped",
    }
    ignored = [k for k in ("config", "scripts", "file_denylist", "features") if doc.get(k)]
    docs = [str(doc.get("description") or "")]
    author = doc.get("author")
    if author:
        docs.append(f"Egg by {author}.")
    docs.append(f"Startup command:\n\n```\n{startup.strip()}\n```")
    if ignored:
        docs.append(
            "Imported from a Pterodactyl egg. Not used by Dockyard: "
            + ", ".join(f"`{k}`" for k in ignored)
            + " (config file rewriting, startup detection and the install script); "
            "install the server files into the `data` volume yourself."
        )
    data = {
        "name": name.strip()[:200],
        "slug": slug,
        "description": str(doc.get("description") or "")[:5000],
        "category": "game-servers",
        "icon": "gamepad-2",
        "documentation": "\n\n".join(d for d in docs if d),
        "variables": variables,
        "compose": _dump({"services": {"server": svc}, "volumes": {"data": {}}}),
    }
    return ImportOutcome(templates=[("", _template(data, ""), False)])


def _not_object(path: str) -> dict[str, Any]:
    raise invalid(path, "must be an object")


# ---------------------------------------------------------------- compose


def import_compose(content: str) -> ImportOutcome:
    try:
        data = parse_yaml(content)
    except ComposeError as exc:
        first = exc.issues[0]
        raise invalid(first.path or "content", first.message) from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise invalid("services", "a compose file needs a `services` mapping")
    if not data["services"]:
        raise invalid("services", "has no service")
    name = data.get("name") if isinstance(data.get("name"), str) else None
    name = name or next(iter(data["services"]))
    try:
        variables = [v.model_dump() for v in variables_from_compose(content)]
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise invalid("content", f"a variable's default or message: {problem}") from None
    template = _template(
        {
            "name": str(name)[:200],
            "slug": slugify(str(name)),
            "category": "other",
            "variables": variables,
            "compose": content,
        },
        "",
    )
    return ImportOutcome(templates=[("", template, False)])


# ---------------------------------------------------------------- Dockyard


def import_dockyard(content: str) -> ImportOutcome:
    try:
        doc = (
            json.loads(content) if content.lstrip().startswith(("{", "[")) else parse_yaml(content)
        )
    except json.JSONDecodeError as exc:
        raise invalid("content", f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except ComposeError as exc:
        first = exc.issues[0]
        raise invalid(first.path or "content", first.message) from None
    if isinstance(doc, dict) and isinstance(doc.get("templates"), list):
        items, base = doc["templates"], "templates."
    elif isinstance(doc, list):
        items, base = doc, ""
    elif isinstance(doc, dict):
        items, base = [doc], None
    else:
        raise invalid("content", "must be a template, a list of them or {templates: [...]}")
    outcome = ImportOutcome()
    for index, item in enumerate(items):
        path = "" if base is None else f"{base}{index}"
        if not isinstance(item, dict):
            raise invalid(path, "must be a mapping")
        item = dict(item)
        kind = item.pop("kind", DOCKYARD_KIND)
        if kind != DOCKYARD_KIND:
            raise invalid(f"{path}.kind" if path else "kind", f"must be {DOCKYARD_KIND}")
        explicit = item.get("slug") is not None
        if not explicit:
            item["slug"] = slugify(str(item.get("name") or ""))
        outcome.templates.append((path, _template(item, path), explicit))
    return outcome


IMPORTERS = {
    "portainer": import_portainer,
    "pterodactyl": import_pterodactyl,
    "compose": import_compose,
    "dockyard": import_dockyard,
}


def export_document(template: TemplateIn) -> dict[str, Any]:
    """A template in Dockyard's format (importable with `format: dockyard`)."""
    data = template.model_dump(exclude_none=False)
    data["variables"] = [
        {k: v for k, v in var.items() if v not in (None, [], "") or k in ("name", "type")}
        for var in data["variables"]
    ]
    return {"kind": DOCKYARD_KIND, **data}


__all__ = ["IMPORTERS", "ImportOutcome", "SelectOption", "TemplateVariable", "export_document"]
