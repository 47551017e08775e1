"""Which runbook to open first, and where it is published.

Rows are ranked most severe first (error, fail, then warn: a warning limit crossed is not the page
to open while a critical one is), and within a severity cause before symptom: a backend that is down
or hung explains every other row; a crash loop explains a down backend; a full data disk explains
database and cache errors; a locked database, a failing cache disk, a message bus down or memory pressure explain errors
and latency; WebSocket trouble comes next; API errors and latency are the symptoms most faults
share, and a low cache hit ratio is last because it follows any restart."""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from checks.result import Result, Status

__all__ = ["CAUSE_ORDER", "DEFAULT_SITE_URL", "instance_of", "ranked", "runbook_url", "site_url", "triage_url"]

DEFAULT_SITE_URL = "http://127.0.0.1:8000/"  # where `make serve` shows the handbook
# The host's settings file (the deployment guide): where a production host keeps the handbook's address
HOST_SETTINGS = Path("/etc/backend/env")
CAUSE_ORDER = (
    "backend-down",
    "backend-crash-looping",
    "data-disk-almost-full",
    "database-unavailable",
    "cache-disk-failure",
    "message-bus-down",
    "instance-lagging-bus",
    "memory-high",
    "websocket-connections-near-capacity",
    "network-partition",
    "clients-not-reconnecting",
    "websocket-disconnect-storm",
    "overloaded",
    "connections-timed-out",
    "api-error-rate-high",
    "api-latency-high",
    "cache-hit-rate-low",
)


def site_url(given: str | None = None) -> str:
    """The handbook's address: ``--site-url``, else ``$HANDBOOK_SITE_URL``, else the host's settings
    file (so `checks` on a host set up by the guide links the published handbook with nothing set in
    the on-call's shell), else the local one."""
    url = given or os.environ.get("HANDBOOK_SITE_URL") or _host_setting("HANDBOOK_SITE_URL") or DEFAULT_SITE_URL
    return url.rstrip("/") + "/"


def _host_setting(name: str) -> str:
    """``name``'s value in :data:`HOST_SETTINGS` (systemd's ``KEY=value`` lines), "" when absent or unreadable."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in HOST_SETTINGS.read_text(encoding="utf-8").splitlines():
            key, equals, value = line.strip().partition("=")
            if equals and key.strip() == name:
                return value.strip().strip("'\"")
    return ""


def runbook_url(base: str, slug: str, instance: str = "") -> str:
    """The published page of runbook ``slug`` under the handbook at ``base``; with ``instance``
    (``host:port``, as Prometheus labels it) the page fills its commands in for that backend."""
    query = f"?{urllib.parse.urlencode({'instance': instance}, safe=':')}" if instance else ""
    return f"{base.rstrip('/')}/runbooks/{slug}/{query}"


def triage_url(base: str) -> str:
    """The published "No page fits" page: where to look when no row names a runbook."""
    return f"{base.rstrip('/')}/triage/"


def instance_of(url: str) -> str:
    """``host:port`` of a backend URL, the way Prometheus names a scrape target's ``instance``."""
    parts = urllib.parse.urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1]


def _cause(result: Result) -> int:
    return CAUSE_ORDER.index(result.runbook) if result.runbook in CAUSE_ORDER else len(CAUSE_ORDER)


def ranked(results: Sequence[Result]) -> list[Result]:
    """Rows that found something first, most likely cause first; then ok rows; skipped rows last."""
    found = sorted((r for r in results if r.status.found_something), key=lambda r: (-r.status.rank, _cause(r)))
    return [*found, *(r for r in results if r.status is Status.OK), *(r for r in results if r.status is Status.SKIP)]
