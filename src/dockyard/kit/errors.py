"""One error shape for every client: `{"error": {"code", "message", "details"}}`.

The error classes are imported by the agent too (through the engine adapter), so the web
framework and the database driver are imported only where handlers are installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

log = structlog.get_logger(__name__)


class DockyardError(Exception):
    """An error meant for the client: status, stable code, human message, details."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details or {}
        self.headers = headers


class NotFoundError(DockyardError):
    status_code = 404
    code = "not_found"


class ConflictError(DockyardError):
    status_code = 409
    code = "conflict"


class AuthenticationError(DockyardError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self, message: str = "Authentication required.", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class PermissionDeniedError(DockyardError):
    status_code = 403
    code = "permission_denied"


class ValidationFailedError(DockyardError):
    status_code = 422
    code = "validation_error"


class ServiceUnavailableError(DockyardError):
    status_code = 503
    code = "service_unavailable"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _location_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    return ".".join(parts)


def validation_details(exc: RequestValidationError) -> dict[str, Any]:
    """Turn Pydantic errors into `[{path, message, type}]` without echoing input values."""
    errors = []
    for err in exc.errors():
        errors.append(
            {
                "path": _location_path(err.get("loc", ())),
                "message": str(err.get("msg", "invalid value")),
                "type": str(err.get("type", "value_error")),
            }
        )
    return {"errors": errors}


_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to the shared error shape; never leak a traceback."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from sqlalchemy.exc import DBAPIError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(DockyardError)
    async def _dockyard_error(_: Request, exc: DockyardError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_details(exc)
        first = details["errors"][0] if details["errors"] else None
        message = (
            f"Invalid value at {first['path']}: {first['message']}."
            if first
            else "The request is not valid."
        )
        return JSONResponse(error_body("validation_error", message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404:
            message = f"No route {request.url.path}."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        return JSONResponse(
            error_body(code, message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # SQLite cannot bind an integer beyond 64 bits (an id like 99999999999999999999).
        return _out_of_range()

    @app.exception_handler(PoolTimeoutError)
    async def _pool_exhausted(request: Request, exc: PoolTimeoutError) -> JSONResponse:
        # Every database connection stayed busy for the pool's whole timeout: an overload
        # the client can retry, not a server bug.
        log.warning("database_pool_exhausted", path=request.url.path)
        return _busy()

    @app.exception_handler(DBAPIError)
    async def _dbapi_error(request: Request, exc: DBAPIError) -> JSONResponse:
        # PostgreSQL (asyncpg) refuses an integer beyond the column's range before the query.
        if "out of int" in str(exc.orig) or isinstance(exc.orig, OverflowError):
            return _out_of_range()
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            # SQLite's writer lock stayed taken for the whole busy timeout.
            log.warning("database_locked", path=request.url.path)
            return _busy()
        return await _unhandled(request, exc)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        log.error("unhandled_error", exc_info=exc, path=request.url.path)
        return JSONResponse(
            error_body(
                "internal_error",
                "Something went wrong on the server. Quote the request id when reporting it.",
                {"request_id": request_id},
            ),
            status_code=500,
        )


def _busy() -> JSONResponse:
    """503 with Retry-After when the database cannot take more work right now."""
    from fastapi.responses import JSONResponse

    return JSONResponse(
        error_body("server_busy", "The server is busy. Try again in a few seconds."),
        status_code=503,
        headers={"Retry-After": "5"},
    )


def _out_of_range() -> JSONResponse:
    """422 for a number in the request that no stored value can have."""
    from fastapi.responses import JSONResponse

    return JSONResponse(
        error_body(
            "validation_error",
            "A number in the request is out of range.",
            {"errors": [{"path": "request", "message": "number out of range"}]},
        ),
        status_code=422,
    )


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorBody


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Point every operation's error responses at `ErrorResponse` in an OpenAPI document.

    FastAPI documents 422 with its own `HTTPValidationError`; ours differ, so replace it,
    and add the 401 every authenticated route can return.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in error_schema.pop("$defs", {}).items():
        components[name] = definition
    components["ErrorResponse"] = error_schema
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            for status, response in responses.items():
                # Keep responses that declare their own model (e.g. /readyz's 503).
                if status.startswith(("4", "5")) and (status == "422" or "content" not in response):
                    response["content"] = {"application/json": {"schema": ref}}
            if operation.get("security"):
                responses.setdefault(
                    "401",
                    {
                        "description": "Not authenticated",
                        "content": {"application/json": {"schema": ref}},
                    },
                )
    return schema
