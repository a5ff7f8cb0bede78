"""Client IP resolution (proxy-aware) and request metadata."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from dockyard.kit.request_meta import client_ip, request_meta


def make_request(
    peer: str | None, headers: dict[str, str] | None = None, request_id: str | None = None
) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (peer, 50000) if peer is not None else None,
        "state": {"request_id": request_id} if request_id else {},
    }
    return Request(scope)


@pytest.mark.parametrize("peer", ["203.0.113.9", "::1", "127.0.0.1"])
def test_without_trusted_proxies_forwarded_for_is_ignored(peer: str) -> None:
    request = make_request(peer, {"X-Forwarded-For": "198.51.100.1"})
    assert client_ip(request, []) == peer


def test_untrusted_peer_cannot_set_its_address() -> None:
    request = make_request("203.0.113.9", {"X-Forwarded-For": "198.51.100.1"})
    assert client_ip(request, ["10.0.0.0/8"]) == "203.0.113.9"


def test_trusted_proxy_gives_the_rightmost_untrusted_hop() -> None:
    request = make_request("10.0.0.5", {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.0.0.4"})
    assert client_ip(request, ["10.0.0.0/8"]) == "203.0.113.7"


def test_spoofed_leftmost_hop_is_not_believed() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the real address.
    request = make_request("10.0.0.5", {"X-Forwarded-For": "1.2.3.4, 198.51.100.23"})
    assert client_ip(request, ["10.0.0.5"]) == "198.51.100.23"


def test_trusted_proxy_without_header_gives_the_peer() -> None:
    assert client_ip(make_request("10.0.0.5"), ["10.0.0.5"]) == "10.0.0.5"
    request = make_request("10.0.0.5", {"X-Forwarded-For": " , ,"})
    assert client_ip(request, ["10.0.0.5"]) == "10.0.0.5"


def test_all_hops_trusted_gives_the_peer() -> None:
    request = make_request("10.0.0.5", {"X-Forwarded-For": "10.0.0.1, 10.0.0.2"})
    assert client_ip(request, ["10.0.0.0/8"]) == "10.0.0.5"


@pytest.mark.parametrize("bad_hop", ["garbage", "<script>", "1.2.3.4.5", "unknown"])
def test_invalid_hop_falls_back_to_the_peer(bad_hop: str) -> None:
    request = make_request("10.0.0.5", {"X-Forwarded-For": f"198.51.100.1, {bad_hop}"})
    assert client_ip(request, ["10.0.0.5"]) == "10.0.0.5"


def test_ipv6_proxy_and_client() -> None:
    request = make_request("fd00::5", {"X-Forwarded-For": "2001:db8::1"})
    assert client_ip(request, ["fd00::/8"]) == "2001:db8::1"


def test_invalid_trusted_entries_are_ignored() -> None:
    request = make_request("10.0.0.5", {"X-Forwarded-For": "198.51.100.1"})
    assert client_ip(request, ["not-a-network", "10.0.0.5"]) == "198.51.100.1"
    assert client_ip(request, ["not-a-network"]) == "10.0.0.5"


def test_no_peer_gives_none() -> None:
    assert client_ip(make_request(None, {"X-Forwarded-For": "1.2.3.4"}), ["0.0.0.0/0"]) is None


def test_request_meta_collects_ip_user_agent_and_request_id() -> None:
    request = make_request(
        "10.0.0.5",
        {"X-Forwarded-For": "198.51.100.1", "User-Agent": "curl/8.0"},
        request_id="req-abcdef12",
    )
    meta = request_meta(request, ["10.0.0.5"])
    assert meta.ip == "198.51.100.1"
    assert meta.user_agent == "curl/8.0"
    assert meta.request_id == "req-abcdef12"


def test_request_meta_truncates_long_user_agents() -> None:
    meta = request_meta(make_request("127.0.0.1", {"User-Agent": "x" * 2000}), [])
    assert meta.user_agent == "x" * 512
    assert request_meta(make_request("127.0.0.1"), []).user_agent is None
    assert request_meta(make_request("127.0.0.1"), []).request_id is None
