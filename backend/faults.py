"""Drill and bench routes, mounted only when ``BACKEND_FAULTS_TOKEN`` is set: faults, and allocation tracing.

Real faults (SIGKILL, a full disk, a cut TCP path) are preferred by the drills; these routes cover
what cannot be made safely on a shared machine. Every call needs the token in ``X-Faults-Token``.

====================  ==============================================================
``PUT /_faults/db``     body ``{"unavailable": true}``: database routes answer 503
``PUT /_faults/cache``  body ``{"disk_failing": true}``: disk tier raises I/O errors
``PUT /_faults/latency``  body ``{"seconds": 0.5}``: delay added to every /api request; with
                          ``"request_megabytes": 12`` each holds a buffer that large meanwhile
``PUT /_faults/errors``   body ``{"ratio": 0.5}``: that share of /api requests answer 500
``PUT /_faults/memory``   body ``{"megabytes": 200}``: hold that much touched memory
``PUT /_faults/bus``     body ``{"reader_stalled": true}``: the message bus's reader stops reading (several instances)
``POST /_faults/ws-drop``  close every WebSocket at once (1012), as a server-side cut
``POST /_faults/tracemalloc``  start tracing allocations; now is the baseline (the soak, after warm-up)
``GET /_faults/tracemalloc``   the source lines whose live memory grew most since that baseline
``DELETE /_faults``     clear every fault and stop tracing; ``GET /_faults`` shows the current state
====================  ==============================================================
"""

from __future__ import annotations

import hmac
import tracemalloc
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request

from backend import ws
from backend.broadcasts import BusBroadcasts
from backend.errors import ApiError
from backend.state import Backend

__all__ = ["router"]

MAX_HELD_MEGABYTES = 4096


def _backend(request: Request) -> Backend:
    return request.app.state.backend  # type: ignore[no-any-return]  # app.state is untyped; create_app stores the Backend there


def _require_token(request: Request, x_faults_token: str = Header(default="")) -> None:
    token = _backend(request).settings.faults_token
    if not hmac.compare_digest(x_faults_token.encode(), token.encode()):
        raise ApiError(403, "forbidden", "fault routes need the X-Faults-Token header of this backend")


router = APIRouter(prefix="/_faults", dependencies=[Depends(_require_token)], include_in_schema=False)


def _state(backend: Backend) -> dict[str, Any]:
    return {
        "db_unavailable": backend.db.fault_unavailable,
        "cache_disk_failing": backend.cache.disk.fault_failing,
        "latency_seconds": backend.faults.latency_seconds,
        "request_megabytes": backend.faults.buffers.megabytes,
        "requests_holding_buffers": backend.faults.buffers.lent_count,
        "error_ratio": backend.faults.error_ratio,
        "memory_megabytes": backend.faults.held_megabytes,
        "bus_reader_stalled": isinstance(backend.broadcasts, BusBroadcasts) and backend.broadcasts.stalled,
    }


@router.get("")
async def show(request: Request) -> dict[str, Any]:
    return _state(_backend(request))


@router.put("/db")
async def database(request: Request, unavailable: bool = Body(embed=True)) -> dict[str, Any]:
    _backend(request).db.fault_unavailable = unavailable
    return _state(_backend(request))


@router.put("/cache")
async def cache_disk(request: Request, disk_failing: bool = Body(embed=True)) -> dict[str, Any]:
    _backend(request).cache.disk.fault_failing = disk_failing
    return _state(_backend(request))


@router.put("/latency")
async def latency(
    request: Request,
    seconds: float = Body(embed=True, ge=0, le=60),
    request_megabytes: int = Body(default=0, embed=True, ge=0, le=MAX_HELD_MEGABYTES // 16),
) -> dict[str, Any]:
    faults = _backend(request).faults
    faults.latency_seconds = seconds
    faults.buffers.resize(request_megabytes)
    return _state(_backend(request))


@router.put("/errors")
async def errors(request: Request, ratio: float = Body(embed=True, ge=0, le=1)) -> dict[str, Any]:
    _backend(request).faults.error_ratio = ratio
    return _state(_backend(request))


@router.put("/memory")
async def memory(request: Request, megabytes: int = Body(embed=True, ge=0, le=MAX_HELD_MEGABYTES)) -> dict[str, Any]:
    _backend(request).faults.hold(megabytes)
    return _state(_backend(request))


@router.put("/bus")
async def bus_reader(request: Request, reader_stalled: bool = Body(embed=True)) -> dict[str, Any]:
    backend = _backend(request)
    if not isinstance(backend.broadcasts, BusBroadcasts):
        raise ApiError(409, "no_bus", "this instance reads no message bus (BACKEND_BUS_URL is not set)")
    backend.broadcasts.stall(reader_stalled)
    return _state(backend)


@router.post("/ws-drop")
async def ws_drop(request: Request) -> dict[str, Any]:
    backend = _backend(request)
    dropped = len(backend.ws_sessions)
    await ws.close_all(backend, 1012, "dropped by drill")
    return {**_state(backend), "ws_dropped": dropped}


# tracemalloc's own bookkeeping and the import machinery are not the backend's growth
_NOT_OURS = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
)


def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(_NOT_OURS)


@router.post("/tracemalloc")
async def tracemalloc_start(request: Request) -> dict[str, Any]:
    """Trace allocations from now on (one frame each, the cheapest); this moment is the baseline."""
    tracemalloc.start()
    _backend(request).faults.allocations_baseline = _snapshot()
    return {"tracing": True, "traced_bytes": tracemalloc.get_traced_memory()[0]}


@router.get("/tracemalloc")
async def tracemalloc_growth(request: Request, top: int = Query(default=10, ge=1, le=100)) -> dict[str, Any]:
    """The ``top`` source lines whose live allocations grew most since the baseline."""
    baseline = _backend(request).faults.allocations_baseline
    if baseline is None or not tracemalloc.is_tracing():
        raise ApiError(409, "not_tracing", "allocation tracing is off: POST /_faults/tracemalloc first")
    growth = _snapshot().compare_to(baseline, "lineno")[:top]
    return {
        "top": [
            {
                "where": f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}",
                "size_diff": stat.size_diff,
                "count_diff": stat.count_diff,
            }
            for stat in growth
        ]
    }


@router.delete("")
async def clear(request: Request) -> dict[str, Any]:
    backend = _backend(request)
    backend.db.fault_unavailable = False
    backend.cache.disk.fault_failing = False
    backend.faults.latency_seconds = 0.0
    backend.faults.buffers.resize(0)
    backend.faults.error_ratio = 0.0
    backend.faults.held = []
    backend.faults.allocations_baseline = None
    if isinstance(backend.broadcasts, BusBroadcasts):
        backend.broadcasts.stall(False)
    tracemalloc.stop()
    return _state(backend)
