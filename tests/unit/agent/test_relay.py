"""Relay tokens between server replicas: an HMAC of the shared secret, per node, short-lived."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from dockyard.agent.hub import AgentHub
from dockyard.agent.relay import TOKEN_TTL_S, check_relay_token, relay_token, relay_url
from dockyard.kit.tls import ensure_self_signed
from dockyard.settings import Settings


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


async def test_relays_to_https_peers_share_one_tls_context_trusting_our_certificate(
    tmp_path: Path,
) -> None:
    """Loading the CA bundle costs ~20 ms of CPU on the event loop, and a follower relays
    every Docker call to a node held elsewhere: the context is made once, and it verifies
    a peer serving the installation's own (self-signed) certificate."""
    cert, key = ensure_self_signed(tmp_path)
    hub = AgentHub(Settings(data_dir=tmp_path, tls_cert=cert, tls_key=key))
    context = hub._relay_ssl()
    assert hub._relay_ssl() is context

    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"peer")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=served)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost"
        )
        assert await reader.read() == b"peer"
        writer.close()
        # Without our certificate the same peer is refused.
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection(
                "127.0.0.1", port, ssl=ssl.create_default_context(), server_hostname="localhost"
            )
    finally:
        server.close()
        await server.wait_closed()
