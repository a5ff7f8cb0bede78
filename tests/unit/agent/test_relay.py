"""Relay tokens between server replicas: an HMAC of the shared secret, per node, short-lived."""

from __future__ import annotations

from dockyard.agent.relay import TOKEN_TTL_S, check_relay_token, relay_token, relay_url


def test_a_token_opens_its_node_only_until_it_expires() -> None:
    token = relay_token("secret-a", 5, now=1000.0)
    assert check_relay_token("secret-a", 5, token, now=1000.0)
    assert check_relay_token("secret-a", 5, token, now=1000.0 + TOKEN_TTL_S - 1)
    assert not check_relay_token("secret-a", 5, token, now=1000.0 + TOKEN_TTL_S + 1)
    assert not check_relay_token("secret-a", 6, token, now=1000.0)  # another node
    assert not check_relay_token("secret-b", 5, token, now=1000.0)  # another installation
    expires, _, mac = token.partition(".")
    assert not check_relay_token("secret-a", 5, f"{int(expires) + 999}.{mac}", now=1000.0)
    for junk in ("", ".", "abc.def", "1000", f"{expires}."):
        assert not check_relay_token("secret-a", 5, junk, now=1000.0)


def test_relay_urls_follow_the_replica_scheme() -> None:
    assert relay_url("http://10.0.0.2:8700", 3) == "ws://10.0.0.2:8700/api/v1/agent/relay/3"
    assert relay_url("https://s1.example/dy/", 3) == "wss://s1.example/dy/api/v1/agent/relay/3"
