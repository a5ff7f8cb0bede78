"""Transport and browser hardening: TLS + HSTS, headers, production secrets, rate limits, XFF."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from dockyard.kit.tls import ensure_self_signed
from dockyard.settings import Settings
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    add_user,
    assert_error,
    audit_rows,
    clean_environ,
    dockyard_executable,
    running_app,
    unique_email,
)
from tests.integration.hosts.serve import dockyard_serve

STRONG_KEY = "k3Jx9_Qw2Zr7-Lm5Vt8Yp1Bn4Hc6Gd0Fs3Ae9Ui2Oj5Wq7Er1Ty4"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return clean_environ(
        DOCKYARD_DATA_DIR=str(data_dir),
        DOCKYARD_ADMIN_EMAIL=ADMIN_EMAIL,
        DOCKYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        DOCKYARD_DOCKER_HOST=os.environ.get(
            "DOCKYARD_TEST_DOCKER_HOST", "unix:///var/run/docker.sock"
        ),
        **extra,
    )


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        pytest.param(None, "DOCKYARD_SECRET_KEY is not set", id="missing"),
        pytest.param("short-key-123", "too short", id="short"),
        pytest.param("changeme-changeme-changeme-changeme-1", "default or guessable", id="default"),
        pytest.param("a" * 40, "default or guessable", id="repetitive"),
    ],
)
def test_production_refuses_a_missing_weak_or_default_secret(
    tmp_path: Path, key: str | None, fragment: str
) -> None:
    extra = {"DOCKYARD_ENV": "production"}
    if key is not None:
        extra["DOCKYARD_SECRET_KEY"] = key
    result = subprocess.run(
        [dockyard_executable(), "serve", "--port", str(free_port())],
        env=serve_env(tmp_path / "data", **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result
    assert "refusing to start in production" in result.stderr
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_serve_with_a_self_signed_certificate_sends_hsts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    log_path = tmp_path / "server.log"
    env = serve_env(data, DOCKYARD_ENV="production", DOCKYARD_SECRET_KEY=STRONG_KEY)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [dockyard_executable(), "serve", "--port", str(port), "--tls-self-signed"],
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                # A self-signed certificate: nothing to verify it against.
                response = httpx.get(f"{url}/readyz", timeout=2, verify=False)  # noqa: S501
                if response.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        csp = response.headers["Content-Security-Policy"]
        for directive in (
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ):
            assert directive in csp
        # Plain HTTP on the TLS port does not work.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    finally:
        process.terminate()
        process.wait(timeout=30)
    cert, key = data / "tls" / "cert.pem", data / "tls" / "key.pem"
    assert cert.exists()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_the_self_signed_certificate_is_created_once_and_reused(tmp_path: Path) -> None:
    cert, key = ensure_self_signed(tmp_path)
    first = (cert.read_bytes(), key.read_bytes())
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert ensure_self_signed(tmp_path) == (cert, key)
    assert (cert.read_bytes(), key.read_bytes()) == first


def test_tls_options_must_come_together(tmp_path: Path) -> None:
    result = subprocess.run(
        [dockyard_executable(), "serve", "--tls-cert", str(tmp_path / "c.pem")],
        env=serve_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "--tls-cert and --tls-key go together" in result.stderr


async def test_plain_http_has_no_hsts_and_the_strict_csp(
    app_settings: Callable[..., Settings],
) -> None:
    async with running_app(app_settings()) as app:
        response = await app.client.get("/healthz")
        assert "Strict-Transport-Security" not in response.headers
        assert "base-uri 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_api_rate_limit_per_user_with_retry_after(
    app_settings: Callable[..., Settings],
) -> None:
    async with running_app(app_settings(api_rate_per_minute=3)) as app:
        admin = app.bearer(await app.token())
        for _ in range(3):
            assert (await app.client.get("/api/v1/services", headers=admin)).status_code == 200
        # A spoofed X-Forwarded-For from an untrusted peer is the same caller.
        limited = await app.client.get(
            "/api/v1/services", headers={**admin, "X-Forwarded-For": "198.51.100.9"}
        )
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
        # Another user has their own budget.
        email = unique_email("viewer")
        await add_user(app, email, "Viewer-Password-123456", role="viewer")
        other = app.bearer((await app.login(email, "Viewer-Password-123456"))["access_token"])
        assert (await app.client.get("/api/v1/services", headers=other)).status_code == 200


async def test_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(
    app_settings: Callable[..., Settings],
) -> None:
    async with running_app(app_settings()) as app:
        await app.login(headers={"X-Forwarded-For": "198.51.100.7"})
        rows = await audit_rows(app, action="auth.login.succeeded")
        assert rows, "no login audit event"
        assert rows[-1].ip == "127.0.0.1"


@pytest.mark.parametrize(("setting", "negotiated"), [(None, False), ("true", True)])
def test_websocket_compression_only_when_turned_on(
    tmp_path: Path, setting: str | None, negotiated: bool
) -> None:
    """Off by default (every socket would deflate each frame on its own); a client offering
    permessage-deflate gets it only with DOCKYARD_WS_COMPRESSION=true."""
    from websockets.sync.client import connect

    extra = {"DOCKYARD_WS_COMPRESSION": setting} if setting else {}
    with dockyard_serve(tmp_path / "data", **extra) as server:
        ws_url = server.url.replace("http://", "ws://") + "/api/v1/ws"
        with connect(ws_url, compression="deflate") as ws:
            assert ws.response is not None
            header = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
            assert ("permessage-deflate" in header) is negotiated, header
