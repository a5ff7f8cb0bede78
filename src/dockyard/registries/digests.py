"""Image references and the registry digest client (Docker Registry HTTP API v2).

Update detection never pulls: it asks the registry for the manifest digest of a tag with a
`HEAD /v2/<name>/manifests/<tag>` (the `Docker-Content-Digest` header) and compares it with
the local image's `RepoDigests`. Only when `HEAD` cannot answer (405, a 404 without a
digest, or no header) does it `GET` the manifest, and then hashes the body when the header
is still missing.

Requests go through a semaphore (bounded concurrency) with a small random delay, and a
registry that answers 429 is left alone until its `Retry-After` (per registry host).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)

# The grammar of github.com/distribution/reference.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}"
PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
TAG_RE = re.compile(rf"^{_TAG}$")
DIGEST_RE = re.compile(rf"^{_DIGEST}$")
MAX_REFERENCE = 512


class InvalidReferenceError(ValueError):
    """An image reference that does not follow the reference grammar."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: `registry/repository[:tag][@digest]`, normalized."""

    registry: str  # `docker.io` for Docker Hub, else `host[:port]` as written
    repository: str  # `library/nginx` for official Hub images
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        """Referenced by digest: the content can never change, so never an update."""
        return self.digest is not None

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def api_host(self) -> str:
        """The host serving the v2 API (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        """`registry/repository` (fully qualified, without tag or digest)."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _looks_like_domain(component: str) -> bool:
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or component != component.lower()
    )


def parse_reference(text: str) -> ImageRef:
    """Parse `text` as Docker does; `InvalidReferenceError` says what is wrong.

    The first path component is a registry host when it has a `.` or `:` or is
    `localhost`; otherwise the image is on Docker Hub, and a one-component name gets the
    `library/` prefix. The tag defaults to `latest` (unless a digest pins the image).
    """
    if not text or len(text) > MAX_REFERENCE:
        raise InvalidReferenceError(f"must be 1-{MAX_REFERENCE} characters")
    if text != text.strip() or any(c.isspace() for c in text):
        raise InvalidReferenceError("must not contain spaces")
    remainder, digest = text, None
    if "@" in remainder:
        remainder, digest = remainder.split("@", 1)
        if not DIGEST_RE.match(digest):
            raise InvalidReferenceError(f"invalid digest {digest!r}")
    registry = DOCKER_HUB
    first, slash, rest = remainder.partition("/")
    if slash and _looks_like_domain(first):
        if not DOMAIN_RE.match(first):
            raise InvalidReferenceError(f"invalid registry host {first!r}")
        registry, remainder = first, rest
    tag = None
    colon = remainder.rfind(":")
    if colon != -1:
        remainder, tag = remainder[:colon], remainder[colon + 1 :]
        if not TAG_RE.match(tag):
            raise InvalidReferenceError(f"invalid tag {tag!r}")
    if not remainder or not PATH_RE.match(remainder):
        raise InvalidReferenceError(
            "the repository must be lower-case letters, digits and separators (._-) "
            "in '/'-separated parts"
        )
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in remainder:
            remainder = f"library/{remainder}"
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(registry=registry, repository=remainder, tag=tag, digest=digest)


def is_loopback(host: str) -> bool:
    """`localhost`, `127.x.x.x` or `[::1]`, with or without a port."""
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return name == "localhost" or name.startswith("127.") or name == "[::1]"


def repo_digest_for(ref: ImageRef, repo_digests: list[str]) -> str | None:
    """The digest in `RepoDigests` (`name@sha256:…`) recorded for `ref`'s repository.

    When an image is pulled (or pushed) by tag, the engine records the digest the
    registry served for it: for a multi-platform image that is the manifest list / OCI
    index digest, the same one `HEAD` of the tag returns, so the two compare directly.
    """
    for entry in repo_digests:
        name, _, digest = entry.partition("@")
        if not digest:
            continue
        try:
            other = parse_reference(name)
        except InvalidReferenceError:
            continue
        if other.registry == ref.registry and other.repository == ref.repository:
            return digest
    return None


# ---------------------------------------------------------------- registry client


@dataclass(frozen=True)
class Credentials:
    username: str | None
    secret: str | None
    insecure: bool = False


@dataclass
class DigestResult:
    """The registry's answer for one reference."""

    digest: str | None
    error: str | None = None
    status: int | None = None
    methods: list[str] = field(default_factory=list)  # the manifest requests made


class RegistryError(Exception):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` → ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in re.finditer(r'([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]+))', rest)
    }
    return scheme.lower(), params


def retry_after_s(value: str | None, default: float) -> float:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date)."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class Backoff:
    """Per-registry pause after 429s: honour `Retry-After`, else exponential, capped."""

    def __init__(
        self, *, base_s: float = 1.0, cap_s: float = 60.0, clock: Callable[[], float] | None = None
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.clock = clock or time.monotonic
        self._until: dict[str, float] = {}
        self._strikes: dict[str, int] = {}

    def delay_s(self, host: str) -> float:
        """How long a request to `host` must still wait (0 when it may go now)."""
        return max(0.0, self._until.get(host, 0.0) - self.clock())

    def throttled(self, host: str, retry_after: str | None) -> float:
        """Record a 429 from `host`; return the pause it imposes."""
        strikes = self._strikes.get(host, 0) + 1
        self._strikes[host] = strikes
        fallback = min(self.cap_s, self.base_s * 2 ** (strikes - 1))
        pause = min(self.cap_s, retry_after_s(retry_after, fallback))
        self._until[host] = max(self._until.get(host, 0.0), self.clock() + pause)
        return pause

    def succeeded(self, host: str) -> None:
        self._strikes.pop(host, None)


@dataclass
class _Token:
    value: str
    expires: float


class RegistryState:
    """What outlives one batch of checks: bearer tokens, backoff, the concurrency bound."""

    def __init__(self, *, concurrency: int = 8) -> None:
        self.concurrency = concurrency
        self.backoff = Backoff()
        self.tokens: dict[tuple[str, str], _Token] = {}
        # host -> "basic" | "bearer" once a 401 told us; later requests authenticate first.
        self.schemes: dict[str, tuple[str, dict[str, str]]] = {}
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def semaphore(self) -> asyncio.Semaphore:
        """One bound for every check on this event loop (a new loop gets its own)."""
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self.concurrency), loop
        return self._semaphore


CredentialsFor = Callable[[str], Awaitable[Credentials | None]]


class RegistryClient:
    """Digest lookups against v2 registries with Basic or Bearer-token auth."""

    def __init__(
        self,
        state: RegistryState,
        *,
        credentials_for: CredentialsFor,
        timeout_s: float = 10.0,
        jitter_s: float = 0.02,
        max_attempts: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.state = state
        self.credentials_for = credentials_for
        self.jitter_s = jitter_s
        self.max_attempts = max_attempts
        self._http = httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "dockyard-update-check"},
        )

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- one reference

    async def remote_digest(self, ref: ImageRef) -> DigestResult:
        """The registry's digest for `ref`'s tag (HEAD; GET only when HEAD cannot say)."""
        result = DigestResult(digest=None)
        async with self.state.semaphore:
            if self.jitter_s > 0:
                await asyncio.sleep(random.uniform(0, self.jitter_s))  # noqa: S311
            try:
                creds = await self.credentials_for(ref.registry)
                url = self._manifest_url(ref, creds)
                head = await self._request("HEAD", url, ref, creds, result)
                digest = head.headers.get("Docker-Content-Digest")
                if head.status_code == 200 and digest:
                    result.digest = digest
                    return result
                if head.status_code in (401, 403):
                    raise RegistryError(_auth_message(head.status_code), status=head.status_code)
                if head.status_code not in (200, 404, 405):
                    raise RegistryError(
                        f"the registry answered {head.status_code} to HEAD", status=head.status_code
                    )
                # HEAD could not say: 405, 404 without a digest, or 200 without the header.
                get = await self._request("GET", url, ref, creds, result)
                if get.status_code == 404:
                    raise RegistryError(f"{ref} does not exist in the registry", status=404)
                if get.status_code in (401, 403):
                    raise RegistryError(_auth_message(get.status_code), status=get.status_code)
                if get.status_code != 200:
                    raise RegistryError(
                        f"the registry answered {get.status_code} to GET", status=get.status_code
                    )
                result.digest = get.headers.get("Docker-Content-Digest") or (
                    "sha256:" + hashlib.sha256(get.content).hexdigest()
                )
            except RegistryError as exc:
                result.error, result.status = exc.message, exc.status
            except httpx.HTTPError as exc:
                result.error = f"cannot reach {ref.registry}: {_describe(exc)}"
        return result

    async def ping(self, registry: str, creds: Credentials | None) -> tuple[int, str]:
        """`GET /v2/` with auth (the "test connection" action): (status, message)."""
        base = self._base_url(registry, creds)
        result = DigestResult(digest=None)
        try:
            response = await self._send(
                "GET", f"{base}/v2/", registry, creds, scope=None, result=result
            )
        except RegistryError as exc:
            return exc.status or 502, exc.message
        except httpx.HTTPError as exc:
            return 502, f"cannot reach {registry}: {_describe(exc)}"
        if response.status_code == 200:
            return 200, "ok"
        if response.status_code in (401, 403):
            return response.status_code, _auth_message(response.status_code)
        return response.status_code, f"the registry answered {response.status_code} to /v2/"

    # ---- HTTP with auth and backoff

    def _base_url(self, registry: str, creds: Credentials | None) -> str:
        host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
        plain = is_loopback(host) or bool(creds and creds.insecure)
        return f"{'http' if plain else 'https'}://{host}"

    def _manifest_url(self, ref: ImageRef, creds: Credentials | None) -> str:
        base = self._base_url(ref.registry, creds)
        return f"{base}/v2/{ref.repository}/manifests/{ref.reference}"

    async def _request(
        self,
        method: str,
        url: str,
        ref: ImageRef,
        creds: Credentials | None,
        result: DigestResult,
    ) -> httpx.Response:
        scope = f"repository:{ref.repository}:pull"
        return await self._send(method, url, ref.registry, creds, scope=scope, result=result)

    async def _send(
        self,
        method: str,
        url: str,
        registry: str,
        creds: Credentials | None,
        *,
        scope: str | None,
        result: DigestResult,
    ) -> httpx.Response:
        host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
        authorized = False
        for _attempt in range(self.max_attempts):
            wait = self.state.backoff.delay_s(host)
            if wait > 0:
                await asyncio.sleep(wait)
            headers = {"Accept": MANIFEST_ACCEPT}
            auth = await self._authorization(host, creds, scope)
            if auth:
                headers["Authorization"] = auth
            response = await self._http.request(method, url, headers=headers)
            if "/manifests/" in url:
                result.methods.append(method)
            if response.status_code == 429:
                self.state.backoff.throttled(host, response.headers.get("Retry-After"))
                continue
            self.state.backoff.succeeded(host)
            if response.status_code == 401 and not authorized:
                challenge = response.headers.get("WWW-Authenticate", "")
                scheme, params = parse_challenge(challenge)
                if scheme not in ("basic", "bearer"):
                    return response
                if scheme == "basic" and not (creds and creds.username):
                    raise RegistryError(
                        f"{registry} requires a user name and password (add the registry)",
                        status=401,
                    )
                self.state.schemes[host] = (scheme, params)
                if scheme == "bearer":
                    if scope and "scope" not in params:
                        params = {**params, "scope": scope}
                    await self._fetch_token(host, creds, params)
                authorized = True
                continue
            return response
        raise RegistryError(
            f"{registry} keeps answering 429 (too many requests); try again later", status=429
        )

    async def _authorization(
        self, host: str, creds: Credentials | None, scope: str | None
    ) -> str | None:
        known = self.state.schemes.get(host)
        if known is None:
            return None
        scheme, params = known
        if scheme == "basic":
            return _basic(creds) if creds and creds.username else None
        wanted = scope or params.get("scope", "")
        token = self.state.tokens.get((host, wanted))
        if token is None or token.expires <= time.monotonic():
            if scope and params.get("scope") != scope:
                params = {**params, "scope": scope}
            token = await self._fetch_token(host, creds, params)
        return f"Bearer {token.value}"

    async def _fetch_token(
        self, host: str, creds: Credentials | None, params: dict[str, str]
    ) -> _Token:
        realm = params.get("realm")
        if not realm or not realm.startswith(("http://", "https://")):
            raise RegistryError(f"{host} sent a token challenge without a usable realm", status=502)
        query = {k: v for k, v in params.items() if k in ("service", "scope") and v}
        headers = {}
        if creds and creds.username:
            headers["Authorization"] = _basic(creds)
        response = await self._http.get(realm, params=query, headers=headers)
        if response.status_code in (401, 403):
            raise RegistryError(_auth_message(response.status_code), status=response.status_code)
        if response.status_code != 200:
            raise RegistryError(
                f"the token service answered {response.status_code}", status=response.status_code
            )
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise RegistryError("the token service did not answer JSON", status=502) from exc
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise RegistryError("the token service answered without a token", status=502)
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 60.0
        token = _Token(value=value, expires=time.monotonic() + max(10.0, lifetime - 5))
        self.state.tokens[(host, params.get("scope", ""))] = token
        return token


def _basic(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.secret or ''}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _auth_message(status: int) -> str:
    if status == 401:
        return "the registry refused the credentials (401 Unauthorized)"
    return "the credentials are not allowed to read this repository (403 Forbidden)"


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "the request timed out"
    if isinstance(exc, httpx.ConnectError):
        return "the connection failed"
    return exc.__class__.__name__
