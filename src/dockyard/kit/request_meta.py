"""Who is calling: client IP (proxy-aware), user agent and request id."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.requests import HTTPConnection


@dataclass(frozen=True)
class RequestMeta:
    """Facts about the caller recorded with audit events and sessions."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


def client_ip(conn: HTTPConnection, trusted_proxies: list[str]) -> str | None:
    """The peer address, or the right-most untrusted `X-Forwarded-For` hop via a trusted proxy."""
    peer = conn.client.host if conn.client else None
    if not peer or not trusted_proxies or not _is_trusted(peer, trusted_proxies):
        return peer
    forwarded = conn.headers.get("x-forwarded-for", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted_proxies):
            return hop if _valid_ip(hop) else peer
    return peer


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(ip: str, trusted: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def request_meta(conn: HTTPConnection, trusted_proxies: list[str]) -> RequestMeta:
    """Build the caller facts for a request or WebSocket."""
    user_agent = conn.headers.get("user-agent")
    return RequestMeta(
        ip=client_ip(conn, trusted_proxies),
        user_agent=user_agent[:512] if user_agent else None,
        request_id=getattr(conn.state, "request_id", None),
    )
