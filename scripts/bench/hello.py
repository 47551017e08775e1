"""The bare framework's hello-world, the yardstick for the backend's per-endpoint throughput.

Same framework (FastAPI) with the same options (OpenTelemetry hooks off), same server (uvicorn
with httptools and uvloop), same flags as ``backend.server``: no access log, no server header.
Whatever the backend costs beyond this is its middleware, metrics, cache and database.
"""

from __future__ import annotations

from fastapi import FastAPI

from backend.app import TELEMETRY_OFF

app = FastAPI(telemetry=TELEMETRY_OFF)


@app.get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
