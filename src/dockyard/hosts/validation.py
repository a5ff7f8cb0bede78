"""Field rules of a host, shared by the JSON API and the CSV import.

Each function returns the normalized value or raises `ValueError` with a short reason that
is safe to show (it never echoes more than the field's name).
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")
MAX_TAGS = 30  # packed, they fit the 2048-character column
MAX_NOTES = 10_000
DEFAULT_SSH_PORT = 22


def hostname(value: str) -> str:
    """An RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens."""
    name = value.strip().lower()
    if not name:
        raise ValueError("hostname is required")
    if len(name) > 253:
        raise ValueError("hostname is longer than 253 characters")
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(
            "hostname must be dot-separated labels of 1-63 letters, digits or hyphens, "
            "not starting or ending with a hyphen (RFC 1123)"
        )
    return name


def address(value: str) -> str:
    """An IPv4 or IPv6 address, or a DNS name."""
    text = value.strip()
    if not text:
        raise ValueError("address is required")
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", text):
        raise ValueError("address is not a valid IP address")
    try:
        return hostname(text)
    except ValueError:
        raise ValueError("address must be an IP address or a DNS name") from None


def ssh_port(value: int | str | None) -> int:
    """A TCP port 1-65535; empty means 22."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_SSH_PORT
    if isinstance(value, bool):
        raise ValueError("ssh_port must be a whole number from 1 to 65535")
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise ValueError("ssh_port must be a whole number from 1 to 65535")
        value = int(value.strip())
    if not 1 <= value <= 65535:
        raise ValueError("ssh_port must be a whole number from 1 to 65535")
    return value


def ssh_user(value: str | None) -> str | None:
    """A login name: letters, digits, `_ . -`, not starting with `-` or `.`; empty is none."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _USER.match(text):
        raise ValueError(
            "ssh_user may hold letters, digits, '_', '.' and '-' (up to 64, not starting "
            "with '-' or '.')"
        )
    return text


def bastion(value: str | None) -> str | None:
    """A jump host for `ssh -J`: `[user@]host[:port]` (IPv6 in brackets); empty is none."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    user, _, rest = text.rpartition("@")
    if user:
        try:
            ssh_user(user)
        except ValueError:
            raise ValueError("bastion user is not a valid login name") from None
    port: str | None = None
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise ValueError("bastion must be [user@]host[:port]")
        host, tail = rest[1:close], rest[close + 1 :]
        if tail:
            if not tail.startswith(":"):
                raise ValueError("bastion must be [user@]host[:port]")
            port = tail[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("bastion has an invalid IPv6 address") from None
    else:
        host, sep, port_text = rest.partition(":")
        port = port_text if sep else None
        try:
            address(host)
        except ValueError:
            raise ValueError("bastion host must be an IP address or a DNS name") from None
    if port is not None:
        try:
            ssh_port(port if port else "x")
        except ValueError:
            raise ValueError("bastion port must be a whole number from 1 to 65535") from None
    if len(text) > 330:
        raise ValueError("bastion is too long")
    return text


def environment(value: str | None) -> str | None:
    """A short label such as `prod` or `staging`; empty is none."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _ENVIRONMENT.match(text):
        raise ValueError(
            "environment may hold letters, digits, '_', '.' and '-' (up to 64, starting with "
            "a letter or digit)"
        )
    return text


def tag(value: str) -> str:
    text = value.strip()
    if not _TAG.match(text):
        raise ValueError(
            "a tag may hold letters, digits, '_', '.', ':', '/' and '-' (up to 64, starting "
            "with a letter or digit)"
        )
    return text


def tags(values: list[str]) -> list[str]:
    """Valid, distinct tags in their given order (at most MAX_TAGS)."""
    seen: dict[str, None] = {}
    for value in values:
        if value.strip():
            seen.setdefault(tag(value), None)
    if len(seen) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return list(seen)


def split_tags(text: str) -> list[str]:
    """Tags of a CSV cell: separated by `;` or `|` (spaces around them are ignored)."""
    return tags(re.split(r"[;|]", text)) if text.strip() else []


def notes(value: str | None) -> str:
    text = value or ""
    if len(text) > MAX_NOTES:
        raise ValueError(f"notes are longer than {MAX_NOTES} characters")
    return text


def pack_tags(values: list[str]) -> str:
    """The stored form: each tag between single spaces (see models.Host.tags)."""
    return " " + " ".join(values) + " " if values else " "


def unpack_tags(stored: str) -> list[str]:
    return stored.split()
