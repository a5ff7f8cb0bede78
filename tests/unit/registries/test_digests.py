"""Image references, registry URLs, challenges, backoff and the digest client (fake HTTP)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from dockyard.registries.digests import (
    Backoff,
    Credentials,
    InvalidReferenceError,
    RegistryClient,
    RegistryState,
    is_loopback,
    parse_challenge,
    parse_reference,
    repo_digest_for,
    retry_after_s,
)
from dockyard.registries.schemas import parse_registry_url

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", "latest", None),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None),
        ("library/nginx", "docker.io", "library/nginx", "latest", None),
        ("docker.io/nginx", "docker.io", "library/nginx", "latest", None),
        ("index.docker.io/grafana/grafana:10", "docker.io", "grafana/grafana", "10", None),
        ("grafana/grafana", "docker.io", "grafana/grafana", "latest", None),
        ("ghcr.io/owner/app:v1", "ghcr.io", "owner/app", "v1", None),
        ("127.0.0.1:5000/dockyard-test/app:2", "127.0.0.1:5000", "dockyard-test/app", "2", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest", None),
        ("registry:5000/app", "registry:5000", "app", "latest", None),
        (f"nginx@{DIGEST}", "docker.io", "library/nginx", None, DIGEST),
        (f"r.example/app:1@{DIGEST}", "r.example", "app", "1", DIGEST),
        ("my_app/web-ui__x.y", "docker.io", "my_app/web-ui__x.y", "latest", None),
    ],
)
def test_parse_reference(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.pinned is (digest is not None)


def test_reference_helpers() -> None:
    hub = parse_reference("nginx")
    assert hub.api_host == "registry-1.docker.io"
    assert hub.reference == "latest"
    assert str(hub) == "docker.io/library/nginx:latest"
    pinned = parse_reference(f"nginx:1@{DIGEST}")
    assert pinned.reference == DIGEST
    local = parse_reference("127.0.0.1:5000/x")
    assert local.api_host == "127.0.0.1:5000"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nginx latest",
        " nginx",
        "nginx\t",
        "Nginx",  # upper case in a Hub repository
        "nginx:",
        "nginx:bad tag",
        "nginx:" + "x" * 200,
        "nginx@sha256:short",
        "r.example/../x",
        "r.example//x",
        "-app",
        "app-",
        "a" * 600,
        "r.example/app/",
    ],
)
def test_parse_reference_rejects(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_reference(text)


def test_repo_digest_for_matches_the_repository() -> None:
    ref = parse_reference("127.0.0.1:5000/t/app:latest")
    digests = [
        f"127.0.0.1:5000/t/other@{OTHER}",
        f"127.0.0.1:5000/t/app@{DIGEST}",
    ]
    assert repo_digest_for(ref, digests) == DIGEST
    assert repo_digest_for(parse_reference("127.0.0.1:5000/t/none"), digests) is None
    # Docker Hub's familiar names normalize to the same repository.
    assert repo_digest_for(parse_reference("docker.io/library/nginx:1"), [f"nginx@{DIGEST}"]) == (
        DIGEST
    )
    assert repo_digest_for(ref, ["garbage", "x@"]) is None


@pytest.mark.parametrize(
    ("url", "host", "plain"),
    [
        ("r.example", "r.example", None),
        ("R.Example:5000", "r.example:5000", None),
        ("https://r.example", "r.example", False),
        ("http://127.0.0.1:5001/", "127.0.0.1:5001", True),
        ("docker.io", "docker.io", None),
    ],
)
def test_registry_url(url: str, host: str, plain: bool | None) -> None:
    assert parse_registry_url(url) == (host, plain)


@pytest.mark.parametrize(
    "url",
    [
        "https://r.example/../x",
        "https://r.example/v2",
        "r.example/path",
        "https://user:pw@r.example",
        "https://r.example?x=1",
        "https://r.example#f",
        "ftp://r.example",
        "r.example:99999",
        "r..example",
        "",
        "r example",
    ],
)
def test_registry_url_rejects(url: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_registry_url(url)


def test_loopback() -> None:
    assert is_loopback("127.0.0.1:5000")
    assert is_loopback("localhost")
    assert is_loopback("[::1]:5000")
    assert not is_loopback("r.example:5000")


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def test_retry_after() -> None:
    assert retry_after_s("7", 1.0) == 7.0
    assert retry_after_s(None, 1.5) == 1.5
    assert retry_after_s("soon", 2.0) == 2.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_s(later, 1.0) <= 31


def test_backoff_per_registry_honours_retry_after_and_grows() -> None:
    now = [100.0]
    backoff = Backoff(base_s=1.0, cap_s=10.0, clock=lambda: now[0])
    assert backoff.delay_s("a") == 0
    assert backoff.throttled("a", "3") == 3.0
    assert backoff.delay_s("a") == 3.0
    assert backoff.delay_s("b") == 0  # per registry
    assert backoff.throttled("b", None) == 1.0
    assert backoff.throttled("b", None) == 2.0
    assert backoff.throttled("b", None) == 4.0
    assert backoff.throttled("b", "600") == 10.0  # capped
    now[0] += 3.5
    assert backoff.delay_s("a") == 0
    backoff.succeeded("b")
    assert backoff.throttled("b", None) == 1.0


# ---------------------------------------------------------------- client with a fake registry


class FakeRegistry:
    """A v2 registry in-process: records (method, path, authorization) of each request."""

    def __init__(
        self,
        *,
        digest: str | None = DIGEST,
        head_status: int = 200,
        auth: str | None = None,
        throttle: int = 0,
        body: bytes = b'{"schemaVersion": 2}',
    ) -> None:
        self.digest = digest
        self.head_status = head_status
        self.auth = auth
        self.throttle = throttle
        self.body = body
        self.requests: list[tuple[str, str, str | None]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        authorization = request.headers.get("Authorization")
        self.requests.append((request.method, request.url.path, authorization))
        if request.url.path == "/token":
            if authorization != "Basic dTpw":  # u:p
                return httpx.Response(401)
            return httpx.Response(200, json={"token": "tok", "expires_in": 300})
        if self.throttle:
            self.throttle -= 1
            return httpx.Response(429, headers={"Retry-After": "0"})
        if self.auth == "basic" and authorization != "Basic dTpw":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        if self.auth == "bearer" and authorization != "Bearer tok":
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://auth.example/token",service="reg"'
                },
            )
        if request.url.path == "/v2/":
            return httpx.Response(200, json={})
        headers = {"Docker-Content-Digest": self.digest} if self.digest else {}
        if request.method == "HEAD":
            return httpx.Response(self.head_status, headers=headers)
        return httpx.Response(200, headers=headers, content=self.body)


def client_for(fake: FakeRegistry, creds: Credentials | None = None) -> RegistryClient:
    async def credentials_for(_: str) -> Credentials | None:
        return creds

    return RegistryClient(
        RegistryState(concurrency=4),
        credentials_for=credentials_for,
        jitter_s=0,
        transport=httpx.MockTransport(fake.handler),
    )


async def test_head_only_when_the_header_is_there() -> None:
    fake = FakeRegistry()
    async with client_for(fake) as client:
        result = await client.remote_digest(parse_reference("r.example/app:1"))
    assert result.digest == DIGEST
    assert result.error is None
    assert [(m, p) for m, p, _ in fake.requests] == [("HEAD", "/v2/app/manifests/1")]


@pytest.mark.parametrize("head_status", [405, 404, 200])
async def test_get_fallback_when_head_cannot_say(head_status: int) -> None:
    body = b'{"schemaVersion": 2, "x": 1}'
    fake = FakeRegistry(digest=None, head_status=head_status, body=body)
    async with client_for(fake) as client:
        result = await client.remote_digest(parse_reference("r.example/app"))
    assert result.digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert [m for m, _, _ in fake.requests] == ["HEAD", "GET"]


async def test_basic_auth() -> None:
    fake = FakeRegistry(auth="basic")
    async with client_for(fake, Credentials("u", "p")) as client:
        ref = parse_reference("r.example/app")
        assert (await client.remote_digest(ref)).digest == DIGEST
        assert (await client.remote_digest(ref)).digest == DIGEST
    # One 401, then credentials are sent up front.
    assert [a for _, _, a in fake.requests] == [None, "Basic dTpw", "Basic dTpw"]


async def test_basic_auth_without_credentials_is_a_clear_error() -> None:
    fake = FakeRegistry(auth="basic")
    async with client_for(fake) as client:
        result = await client.remote_digest(parse_reference("r.example/app"))
    assert result.digest is None
    assert result.status == 401
    assert "requires a user name and password" in (result.error or "")


async def test_bearer_token_flow() -> None:
    fake = FakeRegistry(auth="bearer")
    async with client_for(fake, Credentials("u", "p")) as client:
        ref = parse_reference("r.example/app:2")
        assert (await client.remote_digest(ref)).digest == DIGEST
        assert (await client.remote_digest(ref)).digest == DIGEST
    paths = [(m, p) for m, p, _ in fake.requests]
    assert paths == [
        ("HEAD", "/v2/app/manifests/2"),
        ("GET", "/token"),
        ("HEAD", "/v2/app/manifests/2"),
        ("HEAD", "/v2/app/manifests/2"),  # the token is reused
    ]


async def test_wrong_credentials() -> None:
    fake = FakeRegistry(auth="basic")
    async with client_for(fake, Credentials("u", "wrong")) as client:
        status, message = await client.ping("r.example", Credentials("u", "wrong"))
    assert status == 401
    assert "refused the credentials" in message


async def test_429_backs_off_and_retries() -> None:
    fake = FakeRegistry(throttle=2)
    async with client_for(fake) as client:
        result = await client.remote_digest(parse_reference("r.example/app"))
        assert result.digest == DIGEST
        assert [m for m, _, _ in fake.requests] == ["HEAD", "HEAD", "HEAD"]
        fake.throttle = 100
        failed = await client.remote_digest(parse_reference("r.example/app"))
    assert failed.status == 429
    assert "429" in (failed.error or "")


async def test_concurrency_is_bounded() -> None:
    active = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return httpx.Response(200, headers={"Docker-Content-Digest": DIGEST})

    async def no_creds(_: str) -> Credentials | None:
        return None

    client = RegistryClient(
        RegistryState(concurrency=3),
        credentials_for=no_creds,
        jitter_s=0.001,
        transport=httpx.MockTransport(handler),
    )
    async with client:
        results = await asyncio.gather(
            *(client.remote_digest(parse_reference(f"r.example/app:{i}")) for i in range(12))
        )
    assert all(r.digest == DIGEST for r in results)
    assert peak == 3
