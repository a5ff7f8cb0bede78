"""E2E fixtures: a real `dockyard serve` subprocess and headless Debian Chromium."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
STATIC_INDEX = REPO / "src" / "dockyard" / "static" / "index.html"
ARTIFACTS = Path(os.environ.get("DOCKYARD_TEST_ARTIFACTS", REPO / "test-artifacts"))
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}


@dataclass
class LiveServer:
    base_url: str
    admin_email: str
    admin_password: str
    console: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    tmp: Path, *, docker_host: str | None = None
) -> tuple[subprocess.Popen[bytes], LiveServer]:
    """Start `dockyard serve` on a free port with a fresh data dir; read the first-run password."""
    if not STATIC_INDEX.is_file():
        pytest.fail(f"The UI is not built ({STATIC_INDEX} is missing): run `make build-ui`.")
    port = _free_port()
    console = tmp / "console.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DOCKYARD_") or key.startswith("DOCKYARD_TEST_")
    }
    env.update(
        DOCKYARD_DATA_DIR=str(tmp / "data"),
        DOCKYARD_LOG_FORMAT="json",
        DOCKYARD_DEFAULT_PUBLISH_IP="127.0.0.1",
        # The whole suite signs in from one address within a few minutes.
        DOCKYARD_LOGIN_RATE_PER_MINUTE="10000",
    )
    if docker_host:
        env["DOCKYARD_DOCKER_HOST"] = docker_host
    elif os.environ.get("DOCKYARD_TEST_DOCKER_HOST"):
        env["DOCKYARD_DOCKER_HOST"] = os.environ["DOCKYARD_TEST_DOCKER_HOST"]
    with console.open("wb") as out:
        process = subprocess.Popen(
            ["dockyard", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    password = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dockyard serve exited early:\n{console.read_text()[-3000:]}")
        match = re.search(r"password:\s+(\S+)", console.read_text())
        password = match.group(1) if match else None
        try:
            if password and httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"dockyard serve did not become ready:\n{console.read_text()[-3000:]}")
    assert password is not None
    return process, LiveServer(base_url, "admin@localhost", password, console)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    process, server = start_server(tmp_path_factory.mktemp("e2e-server"))
    yield server
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("DOCKYARD_TEST_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"Chromium is missing at {executable}: run `scripts/test-env.sh up`.")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    yield page
    context.close()


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots."""
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, server: LiveServer, password: str | None = None) -> None:
    page.goto(f"{server.base_url}/login")
    page.get_by_test_id("login-email").fill(server.admin_email)
    page.get_by_test_id("login-password").fill(password or server.admin_password)
    page.get_by_test_id("login-submit").click()
