"""The error boundary: every failure leaves the API as ``{"error", "detail", "request_id"}``.

``error`` is a stable machine-readable code the runbooks name; ``detail`` is one readable line;
``request_id`` matches the ``X-Request-ID`` response header and the server log line. Bad input is
always a 4xx; a 500 means a bug, is logged with its traceback, and never shows internals.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

from backend.db import DatabaseError

__all__ = ["ApiError", "error_response", "install"]

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "validation_error",
    503: "unavailable",
}


class ApiError(HTTPException):
    """An HTTP error with its own stable code, raised by routes and middleware."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail, headers)
        self.error = error


def error_response(
    status: int, error: str, detail: str, request_id: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": error, "detail": detail, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers=headers)


def _request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def _describe(errors: list[Any]) -> tuple[str, str]:
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx", {})
        return "invalid_json", f"request body is not valid JSON: {ctx.get('error', 'parse error')}"
    where = ".".join(str(part) for part in first.get("loc", ()))
    return "validation_error", f"{where}: {first.get('msg', 'invalid value')}"


def _allowed(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods - {"HEAD"})  # HEAD is answered for every GET, and documented for none


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the JSON error shape."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        error = getattr(exc, "error", None) or CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = exc.headers
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        if exc.status_code == 405:
            allowed = _allowed(app, request)
            detail = f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return error_response(
            exc.status_code, error, detail, _request_id_of(request), dict(headers) if headers is not None else None
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        error, detail = _describe(list(exc.errors()))
        status = 400 if error == "invalid_json" else 422
        return error_response(status, error, detail, _request_id_of(request))

    @app.exception_handler(DatabaseError)
    async def database_error(request: Request, exc: DatabaseError) -> JSONResponse:
        app.state.backend.metrics.db_errors.labels(exc.kind).inc()
        app.state.backend.errors.record("database", exc.kind, f"{request.method} {request.url.path}: {exc}")
        error = {"locked": "database_busy", "readonly": "database_read_only"}.get(exc.kind, "database_unavailable")
        return error_response(503, error, str(exc), _request_id_of(request), {"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = _request_id_of(request)
        log.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, rid)
        app.state.backend.errors.record("http", type(exc).__name__, f"{request.method} {request.url.path}: {exc}")
        return error_response(500, "internal_error", f"unexpected server error; quote request id {rid}", rid)
