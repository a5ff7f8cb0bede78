"""The probes: HTTP(S) with a host guard on every redirect hop, TCP connect, Docker state
from the node cache, MCP through the MCP registry. Each returns a `ProbeResult`; none raises
for a failing target."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx

from dockyard.health.schemas import (
    DockerTarget,
    HttpTarget,
    McpTarget,
    TcpTarget,
    parse_status_ranges,
)

if TYPE_CHECKING:
    from dockyard.runtime import Runtime

MAX_REDIRECTS = 5
MAX_BODY_BYTES = 1024 * 1024
_MISSING = object()


@dataclass
class ProbeResult:
    ok: bool
    latency_ms: float | None
    error: str | None = None


class HostGuard:
    """`DOCKYARD_HEALTH_ALLOWED_HOSTS`: hostnames and CIDRs checks may reach (empty: all).

    A hostname in the list is allowed as written (`.example.com` also allows subdomains);
    any other name is allowed only when every address it resolves to is inside a listed
    network. IP literals are checked against the networks.
    """

    def __init__(self, entries: list[str]) -> None:
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if entry.startswith("."):
                    self.suffixes.append(entry)
                else:
                    self.names.add(entry.rstrip("."))

    @property
    def open(self) -> bool:
        return not (self.names or self.suffixes or self.networks)

    def _ip_allowed(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    async def check(self, host: str) -> str | None:
        """None when `host` may be reached, else why not."""
        if self.open:
            return None
        host = host.strip("[]").lower().rstrip(".")
        if host in self.names or any(host.endswith(s) for s in self.suffixes):
            return None
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return None if self._ip_allowed(host) else f"host {host} is not allowed"
        if not self.networks:
            return f"host {host} is not allowed"
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError as exc:
            return f"cannot resolve {host}: {exc}"
        addresses = {str(info[4][0]) for info in infos}
        if addresses and all(self._ip_allowed(a) for a in addresses):
            return None
        return f"host {host} is not allowed"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def json_lookup(document: Any, path: str) -> Any:
    """`a.b.0.c` into parsed JSON; `_MISSING` when a step is absent."""
    node = document
    for step in path.strip().lstrip("$").strip(".").split("."):
        if step == "":
            continue
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif (
            isinstance(node, list)
            and step.lstrip("-").isdigit()
            and -len(node) <= int(step) < len(node)
        ):
            node = node[int(step)]
        else:
            return _MISSING
    return node


class HttpClients:
    """The shared AsyncClients (one verifying TLS, one not); redirects are followed by hand."""

    def __init__(self, max_connections: int) -> None:
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._clients = {
            verify: httpx.AsyncClient(
                verify=verify, follow_redirects=False, limits=limits, trust_env=False
            )
            for verify in (True, False)
        }

    def get(self, verify: bool) -> httpx.AsyncClient:
        return self._clients[verify]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()


async def probe_http(
    target: HttpTarget, timeout_s: float, clients: HttpClients, guard: HostGuard
) -> ProbeResult:
    started = time.perf_counter()
    client = clients.get(target.verify_tls)
    url = target.url
    method = target.method
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return ProbeResult(False, _elapsed_ms(started), f"refused URL {url}")
            refused = await guard.check(parts.hostname)
            if refused is not None:
                return ProbeResult(False, None, f"SSRF guard: {refused}")
            request = client.build_request(method, url, headers=target.headers, timeout=timeout_s)
            response = await client.send(request, stream=True)
            try:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    if response.status_code == 303:
                        method = "GET"
                    continue
                body = b""
                if method != "HEAD" and (target.keyword or target.json_path):
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) >= MAX_BODY_BYTES:
                            break
            finally:
                await response.aclose()
            latency = _elapsed_ms(started)
            return _judge_http(target, response.status_code, body, latency)
        return ProbeResult(False, _elapsed_ms(started), f"more than {MAX_REDIRECTS} redirects")
    except httpx.TimeoutException:
        return ProbeResult(False, _elapsed_ms(started), f"timed out after {timeout_s:g} s")
    except httpx.HTTPError as exc:
        return ProbeResult(False, _elapsed_ms(started), f"{type(exc).__name__}: {exc}"[:500])


def _judge_http(target: HttpTarget, status: int, body: bytes, latency: float) -> ProbeResult:
    ranges = parse_status_ranges(target.expected_status)
    if not any(low <= status <= high for low, high in ranges):
        return ProbeResult(False, latency, f"status {status}, expected {target.expected_status}")
    text = body.decode("utf-8", "replace")
    if target.keyword and target.keyword not in text:
        return ProbeResult(False, latency, f"keyword {target.keyword!r} not found in the body")
    if target.json_path:
        try:
            document = json.loads(text)
        except ValueError:
            return ProbeResult(False, latency, "the body is not JSON")
        value = json_lookup(document, target.json_path)
        if value is _MISSING:
            return ProbeResult(False, latency, f"JSON path {target.json_path} not found")
        if target.expected_value is not None and value != target.expected_value:
            shown = json.dumps(value)[:100]
            return ProbeResult(
                False,
                latency,
                f"JSON path {target.json_path} is {shown}, expected "
                f"{json.dumps(target.expected_value)[:100]}",
            )
    return ProbeResult(True, latency)


async def probe_tcp(target: TcpTarget, timeout_s: float, guard: HostGuard) -> ProbeResult:
    refused = await guard.check(target.host)
    if refused is not None:
        return ProbeResult(False, None, f"SSRF guard: {refused}")
    started = time.perf_counter()
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target.host, target.port), timeout_s
        )
    except TimeoutError:
        return ProbeResult(False, _elapsed_ms(started), f"timed out after {timeout_s:g} s")
    except (OSError, socket.gaierror) as exc:
        return ProbeResult(False, _elapsed_ms(started), f"connect failed: {exc}"[:500])
    latency = _elapsed_ms(started)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True, latency)


def probe_docker(target: DockerTarget, runtime: Runtime) -> ProbeResult:
    """Running (and healthy, with a healthcheck) per the state cache; no Docker call."""
    started = time.perf_counter()
    node_id = target.node_id or 1
    cache = runtime.state.cache(node_id)
    if cache is None:
        return ProbeResult(False, None, f"node {node_id} is not watched")
    if runtime.state.reachable(node_id) is False:
        return ProbeResult(False, None, f"node {node_id} is unreachable")
    if target.service_id is not None:
        containers = [
            c
            for c in cache.for_service(target.service_id)
            if c.labels.get("com.docker.compose.oneoff", "False") != "True"
        ]
        if not containers:
            return ProbeResult(False, None, f"service {target.service_id} has no containers")
    else:
        found = cache.find(target.container or "")
        if found is None:
            return ProbeResult(False, None, f"container {target.container} not found")
        containers = [found]
    for c in containers:
        if c.state != "running":
            return ProbeResult(False, _elapsed_ms(started), f"{c.name} is {c.state}")
        if c.health is not None and c.health != "healthy":
            return ProbeResult(False, _elapsed_ms(started), f"{c.name} is {c.health}")
    return ProbeResult(True, _elapsed_ms(started))


async def probe_mcp(
    target: McpTarget, timeout_s: float, runtime: Runtime, guard: HostGuard
) -> ProbeResult:
    """Through the MCP registry's SDK client: initialize a session, then list tools. The
    server's URL, transport and (decrypted) headers come from its registry row."""
    from dockyard.mcp_registry.client import check_mcp_server
    from dockyard.mcp_registry.models import McpServer
    from dockyard.mcp_registry.service import decrypt_headers

    async with runtime.db.read_session() as session:
        server = await session.get(McpServer, target.mcp_server_id)
        if server is None:
            return ProbeResult(False, None, f"MCP server {target.mcp_server_id} does not exist")
        url, transport = server.url, server.transport
        headers = decrypt_headers(runtime, server)
    parts = urlsplit(url)
    refused = await guard.check(parts.hostname or "")
    if refused is not None:
        return ProbeResult(False, None, f"SSRF guard: {refused}")
    result = await check_mcp_server(url, transport, headers, timeout_s)
    return ProbeResult(
        result.healthy,
        result.latency_ms,
        None if result.healthy else (result.error or "unhealthy")[:500],
    )
