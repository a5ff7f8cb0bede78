"""What a name may be: projects, services, volumes, networks, containers and images.

Project, service, volume and network keys share one allowlist, `NAME_PATTERN`: lowercase
letters, digits, `_` and `-`, starting with a letter or digit, at most 63 characters. That
is compose v2's project-name rule; it keeps every name safe in a DNS alias, a container
name (`{project}-{service}-1`), a resource name (`{project}_{volume}`) and a path
(no dots, slashes or `..`). Names given with `name:` or `container_name:` are Docker's
own names and follow Docker's rule instead (`DOCKER_NAME_PATTERN`).
"""

from __future__ import annotations

import re

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_RULE = "use 1-63 lowercase letters, digits, `_` or `-`, starting with a letter or digit"
# Docker's restricted name (containers, volumes); networks get the same rule here.
DOCKER_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$")
DOCKER_NAME_RULE = "use letters, digits, `_`, `.` or `-`, starting with a letter or digit"

# The distribution reference grammar (github.com/distribution/reference), strict digests.
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
MAX_IMAGE_NAME = 255


def name_problem(name: str) -> str | None:
    """Why `name` is not a valid project, service, volume or network key, or None."""
    if NAME_PATTERN.match(name):
        return None
    return f"`{name}` is not a valid name: {NAME_RULE}"


def docker_name_problem(name: str) -> str | None:
    """Why `name` is not a valid Docker object name, or None."""
    if DOCKER_NAME_PATTERN.match(name):
        return None
    return f"`{name}` is not a valid Docker name: {DOCKER_NAME_RULE}"


def image_reference_problem(reference: str) -> str | None:
    """Why `reference` is not a valid image reference (`[host[:port]/]path[:tag][@digest]`)."""
    bad = f"`{reference}` is not a valid image reference"
    if not reference or reference != reference.strip() or any(c.isspace() for c in reference):
        return f"{bad}: it may not be empty or contain spaces"
    rest, at, digest = reference.partition("@")
    if at and not _DIGEST.match(digest):
        return f"{bad}: a digest is `sha256:` and 64 lowercase hex digits"
    name, tag = rest, ""
    last_colon = rest.rfind(":")
    if last_colon > rest.rfind("/"):
        name, tag = rest[:last_colon], rest[last_colon + 1 :]
        if not _TAG.match(tag):
            return f"{bad}: the tag `{tag}` may use letters, digits, `_`, `.` and `-` (max 128)"
    if not name:
        return f"{bad}: the repository name is missing"
    if len(name) > MAX_IMAGE_NAME:
        return f"{bad}: the repository name is longer than {MAX_IMAGE_NAME} characters"
    components = name.split("/")
    first = components[0]
    # Docker reads the first component as a registry host only if it looks like one.
    if len(components) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.match(first):
            return f"{bad}: `{first}` is not a valid registry host"
        components = components[1:]
    for component in components:
        if not _PATH_COMPONENT.match(component):
            return (
                f"{bad}: the repository path `{component}` may only use lowercase letters, "
                "digits and single `.`, `_`, `__` or `-` separators"
            )
    return None
