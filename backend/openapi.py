"""The OpenAPI document as the service really behaves, so a client generated from it is right about
every failure (Schemathesis checks it in ``make test``).

FastAPI's generated document knows the routes' parameters and success answers; this adds what the
gateway and the error boundary do around them: every error is the ``Error`` envelope (never
FastAPI's validation schema), every status a route can answer is listed, the request bodies read
by hand are declared with their size limit, ``/metrics`` is Prometheus text, and an item created by
``POST /api/items`` links to the ``GET`` that reads it back.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from backend.routes import IDEMPOTENCY_KEY_MAX
from backend.settings import Settings

__all__ = ["install"]

ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail", "request_id"],
    "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "description": "a stable code the runbooks name, e.g. database_busy"},
        "detail": {"type": "string", "description": "one readable line"},
        "request_id": {"type": "string", "description": "equals the X-Request-ID header and the log line"},
    },
}
WORDS = {
    400: "The body is not valid JSON, or Content-Length is not a number.",
    404: "Nothing under that name or id.",
    413: "The body is larger than BACKEND_MAX_BODY_BYTES.",
    422: "A parameter or the body has the wrong shape.",
    500: "A bug: logged with its traceback; quote the request id.",
    503: "Refused before any work: busy (BACKEND_MAX_IN_FLIGHT requests in progress) or overloaded (memory "
    "above the watermark); or the database is busy or unavailable; or, for a broadcast, the message bus "
    "shared by several instances is unavailable (bus_unavailable). See Retry-After.",
}
PROBES = {"/health", "/ready", "/metrics"}  # never shed (backend.gateway.UNSHED_PATHS)
# Statuses each operation answers beyond the gateway's (400 and 413 on any request, 500 on a bug,
# 503 when shedding anything but the probes): from backend/routes.py, checked by Schemathesis.
OWN: dict[tuple[str, str], set[int]] = {
    ("get", "/metrics"): {422},
    ("post", "/api/counters/{name}/increment"): {422, 503},
    ("get", "/api/counters/{name}"): {404, 422, 503},
    ("post", "/api/items"): {422, 503},
    ("get", "/api/items/{item_id}"): {404, 422, 503},
    ("put", "/api/cache/{key}"): {422},
    ("get", "/api/cache/{key}"): {404, 422},
    ("delete", "/api/cache/{key}"): {422},
    ("post", "/api/broadcast"): {422},
}
ANY_JSON: dict[str, Any] = {}


def _body(schema: dict[str, Any], what: str, limit: int) -> dict[str, Any]:
    return {
        "required": True,
        "description": f"{what}; at most {limit} bytes (BACKEND_MAX_BODY_BYTES)",
        "content": {"application/json": {"schema": schema}},
    }


def _bodies(limit: int) -> dict[tuple[str, str], dict[str, Any]]:
    """The bodies the routes read themselves (any Content-Type is parsed as JSON)."""
    return {
        ("post", "/api/items"): _body({"type": "object"}, "any JSON object", limit),
        ("put", "/api/cache/{key}"): _body(ANY_JSON, "any JSON value, stored as sent", limit),
        ("post", "/api/broadcast"): _body(
            {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"description": "any JSON value, sent to every client as data"}},
            },
            '{"message": ...}',
            limit,
        ),
    }


def _patch(doc: dict[str, Any], settings: Settings) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    bodies = _bodies(settings.max_body_bytes)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            responses.pop("422", None)
            statuses = {400, 413, 500} | OWN.get((method, path), set()) | (set() if path in PROBES else {503})
            for status in sorted(statuses):
                responses[str(status)] = {
                    "description": WORDS[status],
                    "content": {"application/json": {"schema": ERROR}},
                }
            if (method, path) in bodies:
                operation["requestBody"] = bodies[method, path]
    ready = doc["paths"]["/ready"]["get"]["responses"]
    ready["503"] = {
        "description": "Not ready: the body names the failing checks (database, cache, memory).",
        "content": {"application/json": {"schema": {"type": "object", "required": ["status", "failing", "checks"]}}},
    }
    doc["paths"]["/metrics"]["get"]["responses"]["200"] = {
        "description": "Prometheus text exposition; with ?ago=S the copy kept from about S seconds ago",
        "headers": {
            "X-Metrics-Age-Seconds": {"schema": {"type": "string"}, "description": "how old this copy is, in seconds"}
        },
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    read_back = {
        "ReadItBack": {
            "operationId": doc["paths"]["/api/items/{item_id}"]["get"]["operationId"],
            "parameters": {"item_id": "$response.body#/id"},
        }
    }
    doc["paths"]["/api/items"]["post"]["parameters"] = [
        {  # read by the route itself (backend.routes.add_item)
            "in": "header",
            "name": "idempotency-key",
            "required": False,
            "schema": {
                "anyOf": [{"maxLength": IDEMPOTENCY_KEY_MAX, "type": "string"}, {"type": "null"}],
                "title": "Idempotency-Key",
            },
        }
    ]
    created = doc["paths"]["/api/items"]["post"]["responses"]
    created["201"]["links"] = read_back
    created["200"] = {
        "description": "The same Idempotency-Key again: the first item's id, created false",
        "content": {"application/json": {"schema": {"type": "object"}}},
        "links": read_back,
    }
    return doc


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the truthful document at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _patch(get_openapi(title=app.title, version=app.version, routes=app.routes), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace the schema generator
