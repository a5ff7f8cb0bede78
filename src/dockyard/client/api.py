"""A small synchronous API client with stored credentials and transparent refresh."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8700"


def credentials_path() -> Path:
    """`$DOCKYARD_CONFIG_DIR/credentials.json` (default `~/.config/dockyard`)."""
    base = os.environ.get("DOCKYARD_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "dockyard"
    )
    return Path(base) / "credentials.json"


def save_credentials(server: str, refresh_token: str) -> Path:
    """Store the server and refresh token, readable by the owner only (0600)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"server": server, "refresh_token": refresh_token}, handle)
    tmp.replace(path)
    return path


def load_credentials() -> dict[str, str]:
    path = credentials_path()
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


class ApiError(Exception):
    """An error answer from the server, in its `{"error": {...}}` shape."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def describe(self) -> str:
        lines = [self.message]
        for err in self.details.get("errors", []) if isinstance(self.details, dict) else []:
            lines.append(f"  - {err.get('path')}: {err.get('message')}")
        return "\n".join(lines)


@dataclass
class ApiClient:
    """Calls `/api/v1/...` with a bearer token, refreshing it once on a 401."""

    server: str
    access_token: str | None = None
    refresh_token: str | None = None
    timeout_s: float = 60.0

    @classmethod
    def from_environment(cls, server: str | None = None, token: str | None = None) -> ApiClient:
        stored = load_credentials()
        return cls(
            server=(
                server
                or os.environ.get("DOCKYARD_SERVER")
                or stored.get("server")
                or DEFAULT_SERVER
            ).rstrip("/"),
            access_token=token or os.environ.get("DOCKYARD_TOKEN"),
            refresh_token=None
            if (token or os.environ.get("DOCKYARD_TOKEN"))
            else stored.get("refresh_token"),
        )

    def _raise_for(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        try:
            error = response.json()["error"]
            raise ApiError(
                response.status_code, error["code"], error["message"], error.get("details") or {}
            )
        except (ValueError, KeyError, TypeError):
            raise ApiError(
                response.status_code,
                "http_error",
                f"HTTP {response.status_code}: {response.text[:200]}",
                {},
            ) from None

    def login(self, email: str, password: str, otp: str | None = None) -> None:
        """Sign in; with MFA on and no `otp` this raises `ApiError` code `mfa_required`."""
        body = {"email": email, "password": password}
        if otp:
            body["otp"] = otp
        response = httpx.post(f"{self.server}/api/v1/auth/login", json=body, timeout=self.timeout_s)
        self._raise_for(response)
        tokens = response.json()
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        save_credentials(self.server, tokens["refresh_token"])

    def _refresh(self) -> bool:
        if not self.refresh_token:
            return False
        response = httpx.post(
            f"{self.server}/api/v1/auth/refresh",
            json={"refresh_token": self.refresh_token},
            timeout=self.timeout_s,
        )
        if not response.is_success:
            return False
        tokens = response.json()
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        save_credentials(self.server, tokens["refresh_token"])
        return True

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; on 401 refresh once and retry; raise `ApiError` on failure."""
        if self.access_token is None and not self._refresh():
            raise ApiError(
                401, "not_authenticated", "Not signed in: run `dockyard login` first.", {}
            )
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.access_token}", **kwargs.pop("headers", {})}
            response = httpx.request(
                method, f"{self.server}{path}", headers=headers, timeout=self.timeout_s, **kwargs
            )
            if response.status_code == 401 and attempt == 1 and self._refresh():
                kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
                continue
            self._raise_for(response)
            return response
        raise AssertionError("unreachable")

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.request("POST", path, json=body, **kwargs)
        return response.json() if response.content else None
