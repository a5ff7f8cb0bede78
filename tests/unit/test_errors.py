"""Every error leaves in one shape: `{"error": {"code", "message", "details"}}`.

The app runs with its lifespan on an SQLite file in a temp dir (no Docker is touched);
a few throwaway routes are added to this test instance only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, Query
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from dockyard.engine.errors import EngineRequestError, EngineUnavailableError
from dockyard.kit.errors import (
    AuthenticationError,
    ConflictError,
    DockyardError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    ValidationFailedError,
)
from tests.conftest import LiveApp, make_settings, running_app

SECRET_MARKER = "very-secret-internal-detail-4711"


class Nested(BaseModel):
    count: int


class EchoBody(BaseModel):
    email: str
    nested: Nested


ERRORS: dict[str, DockyardError] = {
    "dockyard": DockyardError("Plain bad request."),
    "custom": DockyardError(
        "Teapot.", code="teapot", status_code=418, details={"x": 1}, headers={"X-Extra": "yes"}
    ),
    "not_found": NotFoundError("Nothing here.", code="thing_not_found"),
    "conflict": ConflictError("Already there."),
    "auth": AuthenticationError(),
    "forbidden": PermissionDeniedError("No."),
    "validation": ValidationFailedError(
        "Bad field.", details={"errors": [{"path": "email", "message": "bad"}]}
    ),
    "unavailable": ServiceUnavailableError("Down."),
    "engine_unavailable": EngineUnavailableError("Cannot reach the engine."),
    "engine_error": EngineRequestError("Engine said no.", details={"status": 500}),
}

EXPECTED = {
    "dockyard": (400, "bad_request"),
    "custom": (418, "teapot"),
    "not_found": (404, "thing_not_found"),
    "conflict": (409, "conflict"),
    "auth": (401, "not_authenticated"),
    "forbidden": (403, "permission_denied"),
    "validation": (422, "validation_error"),
    "unavailable": (503, "service_unavailable"),
    "engine_unavailable": (503, "engine_unavailable"),
    "engine_error": (502, "engine_error"),
}


def add_test_routes(app: FastAPI) -> None:
    async def boom() -> None:
        raise RuntimeError(f"Traceback: {SECRET_MARKER} at /srv/dockyard/app.py line 1")

    async def raise_error(kind: str) -> None:
        raise ERRORS[kind]

    async def raise_http(status: int) -> None:
        raise StarletteHTTPException(status_code=status, detail="Some detail.")

    async def overloaded(kind: str) -> None:
        from sqlalchemy.exc import OperationalError
        from sqlalchemy.exc import TimeoutError as PoolTimeoutError

        if kind == "pool":
            raise PoolTimeoutError("QueuePool limit of size 10 overflow 20 reached")
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    async def echo(body: EchoBody, limit: int = Query(default=1, ge=1, le=10)) -> dict[str, Any]:
        return {"ok": True}

    app.add_api_route("/api/v1/_test/boom", boom, methods=["GET"])
    app.add_api_route("/api/v1/_test/error/{kind}", raise_error, methods=["GET"])
    app.add_api_route("/api/v1/_test/http/{status}", raise_http, methods=["GET"])
    app.add_api_route("/api/v1/_test/echo", echo, methods=["POST"])
    app.add_api_route("/api/v1/_test/busy/{kind}", overloaded, methods=["GET"])
    # Put them before the SPA catch-all, which would otherwise answer every GET.
    routes = app.router.routes
    added = routes[-5:]
    del routes[-5:]
    routes[0:0] = added


@pytest.fixture(scope="module")
async def error_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveApp]:
    settings = make_settings(tmp_path_factory.mktemp("errors") / "data")
    async with running_app(settings, prepare=add_test_routes, raise_app_exceptions=False) as app:
        yield app


@pytest.fixture
def client(error_app: LiveApp) -> httpx.AsyncClient:
    return error_app.client


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/nodes/1/nope", "/api/v2/x", "/api"])
async def test_unknown_api_route_is_404(client: httpx.AsyncClient, path: str) -> None:
    assert_error_shape(await client.get(path), 404, "not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_unknown_api_route_is_404_for_every_method(
    client: httpx.AsyncClient, method: str
) -> None:
    """A typo in a POST URL must say "not found", not "method not allowed" (SPA catch-all)."""
    response = await client.request(method, "/api/v1/does-not-exist")
    assert_error_shape(response, 404, "not_found")


async def test_non_api_paths_get_the_single_page_app(client: httpx.AsyncClient) -> None:
    response = await client.get("/some/deep/page")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_405_on_wrong_method(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/auth/me")
    assert_error_shape(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]
    assert_error_shape(await client.put("/api/v1/audit"), 405, "method_not_allowed")


async def test_get_on_a_post_only_route_is_405(client: httpx.AsyncClient) -> None:
    """The SPA catch-all answers every GET: it must not claim a real route does not exist."""
    response = await client.get("/api/v1/auth/login")
    assert_error_shape(response, 405, "method_not_allowed")


async def test_422_names_the_field_path(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/login", json={"password": "x"})
    error = assert_error_shape(response, 422, "validation_error")
    paths = [e["path"] for e in error["details"]["errors"]]
    assert paths == ["body.email"]
    assert "body.email" in error["message"]
    assert {"path", "message", "type"} <= set(error["details"]["errors"][0])


async def test_422_for_extra_fields_and_nested_and_query(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": "a@b.c", "password": "x", "admin": True}
    )
    error = assert_error_shape(response, 422, "validation_error")
    assert [e["path"] for e in error["details"]["errors"]] == ["body.admin"]

    response = await client.post(
        "/api/v1/_test/echo", params={"limit": "11"}, json={"email": 5, "nested": {"count": "x"}}
    )
    error = assert_error_shape(response, 422, "validation_error")
    paths = {e["path"] for e in error["details"]["errors"]}
    assert paths == {"body.email", "body.nested.count", "query.limit"}


async def test_422_for_a_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error_shape(response, 422, "validation_error")


async def test_422_does_not_echo_input_values(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/_test/echo", json={"email": "ok", "nested": {"count": SECRET_MARKER}}
    )
    assert_error_shape(response, 422, "validation_error")
    assert SECRET_MARKER not in response.text


@pytest.mark.parametrize("kind", sorted(ERRORS))
async def test_dockyard_errors(client: httpx.AsyncClient, kind: str) -> None:
    status, code = EXPECTED[kind]
    response = await client.get(f"/api/v1/_test/error/{kind}")
    error = assert_error_shape(response, status, code)
    assert error["message"] == ERRORS[kind].message
    assert error["details"] == ERRORS[kind].details


async def test_dockyard_error_headers_are_sent(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/_test/error/custom")).headers["x-extra"] == "yes"
    auth = await client.get("/api/v1/_test/error/auth")
    assert auth.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("status", "code"), [(400, "bad_request"), (429, "rate_limited"), (418, "http_error")]
)
async def test_http_exceptions(client: httpx.AsyncClient, status: int, code: str) -> None:
    error = assert_error_shape(await client.get(f"/api/v1/_test/http/{status}"), status, code)
    assert error["message"] == "Some detail."


async def test_unhandled_exception_is_500_without_traceback(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/_test/boom")
    error = assert_error_shape(response, 500, "internal_error")
    assert set(error["details"]) == {"request_id"}
    assert isinstance(error["details"]["request_id"], str)
    assert len(error["details"]["request_id"]) >= 8
    for leak in (SECRET_MARKER, "Traceback", "RuntimeError", "app.py", 'File "'):
        assert leak not in response.text


@pytest.mark.parametrize("kind", ["pool", "locked"])
async def test_database_overload_is_503_to_retry(client: httpx.AsyncClient, kind: str) -> None:
    """An exhausted connection pool or SQLite's busy writer lock is a retryable 503."""
    response = await client.get(f"/api/v1/_test/busy/{kind}")
    assert_error_shape(response, 503, "server_busy")
    assert response.headers["retry-after"] == "5"
    assert "QueuePool" not in response.text
    assert "BEGIN" not in response.text


async def test_unhandled_exception_keeps_the_incoming_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/_test/boom", headers={"X-Request-ID": "trace-me-1234"})
    error = assert_error_shape(response, 500, "internal_error")
    assert error["details"]["request_id"] == "trace-me-1234"


async def test_500_response_carries_x_request_id_and_security_headers(
    client: httpx.AsyncClient,
) -> None:
    """Docs: "Every response carries X-Request-ID", and the 500 is the one to quote."""
    response = await client.get("/api/v1/_test/boom")
    error = assert_error_shape(response, 500, "internal_error")
    assert response.headers.get("x-request-id") == error["details"]["request_id"]
    assert response.headers.get("x-content-type-options") == "nosniff"


@pytest.fixture
def captured_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Route structlog through `merge_contextvars` into a list, as the real config does."""
    old = structlog.get_config()
    capture = structlog.testing.LogCapture()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, capture],
        cache_logger_on_first_use=False,
    )
    try:
        yield capture.entries
    finally:
        structlog.configure(**old)


async def test_unhandled_exception_is_logged_with_the_request_id(
    client: httpx.AsyncClient, captured_logs: list[MutableMapping[str, Any]]
) -> None:
    """Docs: "the server logs it with the request id" - or the id in the 500 is useless."""
    response = await client.get("/api/v1/_test/boom", headers={"X-Request-ID": "find-me-5678"})
    assert response.status_code == 500
    errors = [e for e in captured_logs if e.get("event") == "unhandled_error"]
    assert len(errors) == 1
    assert errors[0].get("exc_info") is not None
    assert errors[0].get("request_id") == "find-me-5678"


async def test_error_responses_carry_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nope")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


def test_unit_app_uses_a_temp_sqlite_database(error_app: LiveApp, tmp_path: Path) -> None:
    assert error_app.settings.database_kind == "sqlite"
    assert error_app.settings.resolved_database_url.endswith("/data/dockyard.db")
