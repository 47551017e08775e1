"""The HTTP API: health, readiness, metrics, counters, items, cache and broadcast."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backend.bus import BusDown
from backend.db import DatabaseError
from backend.errors import ApiError
from backend.state import Backend

__all__ = ["IDEMPOTENCY_KEY_MAX", "router"]

router = APIRouter()

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="letters, digits, _ . : - (1-128)")]
IDEMPOTENCY_KEY_MAX = 128  # characters
READY_PROBE_TIMEOUT = 1.0  # a held write lock must show in /ready well inside the 2 s the drill allows


def _backend(request: Request) -> Backend:
    return request.app.state.backend  # type: ignore[no-any-return]  # app.state is untyped; create_app stores the Backend there


async def _json_body(request: Request) -> tuple[bytes, Any]:
    """The raw body and its parsed JSON, whatever the Content-Type (curl -d sends a form type)."""
    raw = await request.body()
    try:
        return raw, json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Liveness: the event loop answered. Nothing else is consulted, on purpose."""
    backend = _backend(request)
    now = time.time()
    return {
        "status": "ok",
        "pid": os.getpid(),
        "uptime_seconds": round(now - backend.started_at, 3),
        "restarts_seconds_ago": backend.restarts.seconds_ago(now),
    }


async def _check_database(backend: Backend) -> dict[str, Any]:
    if backend.db_probe is None or backend.db_probe.done():
        backend.db_probe = asyncio.ensure_future(backend.db.probe())
    try:
        await asyncio.wait_for(asyncio.shield(backend.db_probe), READY_PROBE_TIMEOUT)
    except DatabaseError as exc:
        backend.metrics.db_errors.labels(exc.kind).inc()
        backend.errors.record("database", exc.kind, f"readiness probe: {exc}")
        return {"ok": False, "status": exc.kind, "detail": str(exc)}
    except TimeoutError:
        return {"ok": False, "status": "timeout", "detail": f"no answer within {READY_PROBE_TIMEOUT:g} s"}
    return {"ok": True, "status": "ok"}


async def _check_cache(backend: Backend) -> dict[str, Any]:
    await backend.cache.probe()
    if backend.cache.degraded:
        return {
            "ok": False,
            "status": "degraded",
            "detail": f"disk tier failing, memory only: {backend.cache.degraded_reason}",
        }
    return {"ok": True, "status": "ok"}


def _check_memory(backend: Backend) -> dict[str, Any]:
    guard = backend.guard
    status = "shedding" if guard.shedding else "ok"
    return {
        "ok": not guard.shedding,
        "status": status,
        "rss_bytes": guard.rss_bytes,
        "watermark_bytes": guard.watermark_bytes,
    }


def _check_tasks(backend: Backend) -> dict[str, Any]:
    down = sorted(backend.tasks.down)
    if down:
        return {"ok": False, "status": "restarting", "detail": f"background task died, restarting: {', '.join(down)}"}
    return {"ok": True, "status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 only when database, cache directory, memory and background tasks are all fine.

    ``last_errors`` names the newest error of each component, with its age: what broke, not only
    that something did (the counters in /metrics say how often).
    """
    backend = _backend(request)
    database, cache = await asyncio.gather(_check_database(backend), _check_cache(backend))
    checks = {"database": database, "cache": cache, "memory": _check_memory(backend), "tasks": _check_tasks(backend)}
    failing = [name for name, result in checks.items() if not result["ok"]]
    body = {
        "status": "not ready" if failing else "ready",
        "failing": failing,
        "checks": checks,
        "last_errors": backend.errors.as_json(),
    }
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get("/metrics")
async def metrics(request: Request, ago: Annotated[float | None, Query(ge=0, le=86400)] = None) -> Response:
    """Prometheus exposition; with ``?ago=S``, the copy kept from S seconds ago (backend.history)."""
    backend = _backend(request)
    if ago is not None:
        kept = backend.metrics_history.at(ago, time.monotonic())
        if kept is not None:
            age, exposition = kept
            return Response(exposition, media_type=CONTENT_TYPE_LATEST, headers={"X-Metrics-Age-Seconds": f"{age:.3f}"})
    return Response(
        generate_latest(backend.metrics.registry),
        media_type=CONTENT_TYPE_LATEST,
        headers={"X-Metrics-Age-Seconds": "0"},
    )


@router.post("/api/counters/{name}/increment")
async def increment(request: Request, name: Name) -> dict[str, Any]:
    backend = _backend(request)
    value = await backend.db.increment(name)
    backend.counters.invalidate(name)  # before the answer: an acknowledged increment is never read stale
    return {"name": name, "value": value}


@router.get("/api/counters/{name}")
async def counter(request: Request, name: Name) -> dict[str, Any]:
    backend = _backend(request)
    value = await backend.counters.get(name, lambda: backend.db.counter(name))
    if value is None:
        raise ApiError(404, "not_found", f"counter {name!r} was never incremented")
    return {"name": name, "value": value}


@router.post("/api/items", status_code=201, response_model=dict[str, Any])
async def add_item(request: Request) -> Response:
    """Store a JSON object. A repeated ``Idempotency-Key`` returns the first id with 200."""
    # The header is read here, not declared as a FastAPI parameter (backend.openapi documents it):
    # the framework's parameter machinery was a tenth of an item write's time on the event loop.
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
        raise ApiError(
            422,
            "validation_error",
            f"header.idempotency-key: String should have at most {IDEMPOTENCY_KEY_MAX} characters",
        )
    _, body = await _json_body(request)
    if not isinstance(body, dict):
        raise ApiError(422, "validation_error", "item body must be a JSON object")
    item_id, created = await _backend(request).db.add_item(body, idempotency_key)
    return Response(
        b'{"id":%d,"created":%s}' % (item_id, b"true" if created else b"false"),
        status_code=201 if created else 200,
        media_type="application/json",
    )


ItemId = Annotated[int, Path(ge=1, le=2**63 - 1, description="an id POST /api/items returned (SQLite's 64-bit range)")]


@router.get("/api/items/{item_id}", response_model=dict[str, Any])
async def get_item(request: Request, item_id: ItemId) -> Response:
    # the stored JSON text is spliced into the answer, as the cache's read does: it was checked and
    # made compact when written, and parsing it only to serialise it again was most of a read's cost
    item = await _backend(request).db.item(item_id)
    if item is None:
        raise ApiError(404, "not_found", f"item {item_id} does not exist")
    found_id, body, created_at = item
    return Response(
        b'{"id":%d,"body":%s,"created_at":%s}' % (found_id, body.encode(), repr(created_at).encode()),
        media_type="application/json",
    )


@router.put("/api/cache/{key}")
async def cache_put(request: Request, key: Name) -> dict[str, Any]:
    """Store the raw JSON body under ``key``; the answer says which tiers hold it."""
    raw, _ = await _json_body(request)
    stored_in = await _backend(request).cache.set(key, raw)
    return {"key": key, "stored_in": stored_in}


@router.get("/api/cache/{key}", response_class=Response)
async def cache_get(request: Request, key: Name) -> Response:
    """The stored bytes are spliced into the answer as they are: they were parsed as JSON when
    stored, and parsing them again only to serialise them back was a third of this route's cost."""
    found = await _backend(request).cache.get(key)
    if found is None:
        raise ApiError(404, "not_found", f"cache key {key!r} not found")
    value, tier = found
    body = b'{"key":%s,"value":%s,"tier":"%s"}' % (json.dumps(key).encode(), value, tier.encode())
    return Response(body, media_type="application/json")


@router.delete("/api/cache/{key}")
async def cache_delete(request: Request, key: Name) -> dict[str, Any]:
    return {"key": key, "deleted": await _backend(request).cache.delete(key)}


@router.post("/api/broadcast")
async def broadcast(request: Request) -> dict[str, Any]:
    """Publish ``{"message": X}`` to every WebSocket client; slow consumers are dropped, never waited for."""
    _, body = await _json_body(request)
    if not isinstance(body, dict) or "message" not in body:
        raise ApiError(422, "validation_error", 'body must be {"message": ...}')
    try:
        published = await _backend(request).broadcasts.publish(body["message"])
    except BusDown as exc:
        raise ApiError(
            503, "bus_unavailable", f"{exc}: not sent to any client, send it again", {"Retry-After": "1"}
        ) from None
    return dataclasses.asdict(published)
