"""The components ``checks`` knows, by name. The CLI's choices come from here."""

from __future__ import annotations

from collections.abc import Callable

from checks.context import Context
from checks.probes import bus, cache, db, errors, fleet, host, http, latency, process, ws
from checks.result import Result

__all__ = ["CHECKS", "Check"]

Check = Callable[[Context], list[Result]]

CHECKS: dict[str, Check] = {
    "http": http.check,
    "errors": errors.check,
    "latency": latency.check,
    "bus": bus.check,  # before ws: the bus down explains the ws probe's refused broadcast
    "ws": ws.check,
    "fleet": fleet.check,
    "cache": cache.check,
    "db": db.check,
    "process": process.check,
    "host": host.check,
}
