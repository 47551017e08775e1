"""The fleet's figures (docs/fleet.md): three instances on one host and their message bus, started
from the guide's own files (:mod:`scripts.instances`), measured by the same code as the one-instance
suites so that each figure has its anchor in the same ``make bench`` run (:func:`anchors`).

Two fleets, as the one-instance suites have two kinds of backend: the open-loop figures (CPU per
API request, the pinned capacity of two instances) on the settings the guide gives; the closed-loop
ones (broadcasts, wrk) with admission by queue time off, as ``CLOSED_LOOP`` says why. The load goes
to the instances' own ports, as nginx's ``least_conn`` would spread it: nginx is not what is
measured here, and would take a share of the same two cores.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvloop

from scripts import instances, live
from scripts.bench.harness import many_open_files
from scripts.bench.suites import (
    Details,
    Figures,
    broadcast_delays,
    broadcast_figures,
    capacity_search,
    open_loop,
)
from scripts.bench.wrk import ENDPOINTS, broadcast_rate, run_wrk

__all__ = ["XADD", "anchors", "fleet", "ratios", "xadd_per_second"]

# The stream append the bus makes for every broadcast, as redis-benchmark runs it: Redis's own
# ceiling for it on this machine (the backend's append is this inside a short Lua script).
XADD = ["XADD", "bench:xadd", "MAXLEN", "~", "10000", "*", "d", "x" * 64]


def anchors(fanout: int) -> dict[str, tuple[str, str]]:
    """Each ratio the run records: (the fleet's figure, its one-instance anchor from the same run)."""
    return {
        f"fleet.broadcast_{fanout}.p99_ratio": (
            f"fleet.broadcast_{fanout}.p99_seconds",
            f"ws.broadcast_{fanout}.p99_seconds",
        ),
        f"fleet.broadcast_{fanout}.cpu_ratio": (
            f"fleet.broadcast_{fanout}.cpu_seconds",
            f"ws.broadcast_{fanout}.cpu_seconds",
        ),
        f"bus.broadcast_{fanout}.p99_ratio": (
            f"bus.broadcast_{fanout}.p99_seconds",
            f"ws.broadcast_{fanout}.p99_seconds",
        ),
        f"bus.broadcast_{fanout}.cpu_ratio": (
            f"bus.broadcast_{fanout}.cpu_seconds",
            f"ws.broadcast_{fanout}.cpu_seconds",
        ),
        "bus.broadcasts_ratio": ("bus.broadcasts_per_second", "ws.broadcasts_per_second"),
        "bus.broadcasts_share_of_xadd": ("bus.broadcasts_per_second", "bus.xadd_per_second"),
        "fleet.cpu.mixed_ratio": ("fleet.cpu.mixed_seconds_per_kreq", "api.cpu.mixed_seconds_per_kreq"),
        "fleet.capacity_pinned_ratio": ("fleet.capacity_pinned_rps", "api.capacity_pinned_rps"),
        "fleet.throughput.counter_read_ratio": ("fleet.throughput.counter_read_rps", "api.throughput.counter_read_rps"),
        "fleet.throughput.counter_increment_ratio": (
            "fleet.throughput.counter_increment_rps",
            "api.throughput.counter_increment_rps",
        ),
        "fleet.throughput.counter_increment_per_fsync": (
            "fleet.throughput.counter_increment_rps",
            "disk.fsyncs_per_second",
        ),
    }


def ratios(figures: Figures, fanout: int) -> Figures:
    """The fleet's figures over their anchors; a ratio whose figures the run lacks is an error."""
    found: Figures = {}
    for key, (figure, anchor) in anchors(fanout).items():
        value, _, samples = figures[figure]
        base = figures[anchor][0]
        if base <= 0:
            raise ValueError(f"{key}: the anchor {anchor} is {base}; no ratio can be taken")
        found[key] = (value / base, "ratio", samples)
    return found


def fleet(sizes: dict[str, Any], p99_limit: float, details: Details, report: Callable[[Figures], None]) -> Figures:
    """Both fleets' figures, each handed to ``report`` as it is measured."""
    figures: Figures = {}
    with _fleet({"ws_send_queue": 1024}) as members:
        urls = [m.url for m in members]
        run = open_loop(urls[:1], sizes["rate"], sizes["seconds"], [members[0].server_pid()])
        found: Figures = {
            "fleet.cpu.mixed_seconds_per_kreq": (run.cpu_seconds / run.total * 1000, "seconds", run.total),
            "fleet.mixed.error_ratio": (run.errors / run.total, "ratio", run.total),
        }
        best, p99, steps = capacity_search(
            urls[:2],
            [m.server_pid() for m in members[:2]],
            sizes["capacity_rates"],
            sizes["capacity_seconds"],
            p99_limit,
            "fleet.capacity_pinned",
        )
        details["fleet.capacity_pinned.steps"] = steps
        found["fleet.capacity_pinned_rps"] = (best, "per_second", len(steps))
        found["fleet.capacity_pinned.p99_seconds"] = (p99, "seconds", len(steps))
        report(found)
        figures.update(found)
    closed_loop = {"ws_send_queue": 1024, "ws_max_connections": sizes["fanout"] + 100, "shed_loop_lag": 0}
    with _fleet(closed_loop) as members:
        found = _closed_loop(members, sizes)
        report(found)
        figures.update(found)
    return figures


def _closed_loop(members: list[live.Live], sizes: dict[str, Any]) -> Figures:
    urls, ws_urls = [m.url for m in members], [m.ws_url for m in members]
    servers = [psutil.Process(m.server_pid()) for m in members]
    fanout, broadcasts, seconds = sizes["fanout"], sizes["broadcasts"], sizes["wrk_seconds"]
    figures: Figures = {}
    # every client on one instance, the two others reading the bus with none: the bus's own cost
    delays, cpu = uvloop.run(broadcast_delays(ws_urls[:1], urls[:1], fanout, broadcasts, servers))
    figures.update(broadcast_figures("bus", fanout, delays, cpu))
    # the clients spread over the three, broadcasts sent to each in turn
    delays, cpu = uvloop.run(broadcast_delays(ws_urls, urls, fanout, broadcasts, servers))
    figures.update(broadcast_figures("fleet", fanout, delays, cpu))
    rate, sent = broadcast_rate(urls[0], seconds)  # one instance publishing, the two others reading
    figures["bus.broadcasts_per_second"] = (rate, "per_second", sent)
    ceiling, appended = xadd_per_second(members[0].env["BACKEND_BUS_URL"], max(1000, int(sent * 10)))
    figures["bus.xadd_per_second"] = (ceiling, "per_second", appended)
    # the counter read without the read-through cache, which a fleet turns off
    method, path, _ = ENDPOINTS["counter_read"]
    httpx.post(urls[0] + ENDPOINTS["counter_increment"][1], timeout=10).raise_for_status()  # the counter read
    read = run_wrk(urls[0] + path, seconds, method)
    if read.errors:
        raise read.failure(f"{method} {path} on a fleet instance under wrk")
    figures["fleet.throughput.counter_read_rps"] = (read.rps, "per_second", read.requests)
    # increments on two instances at once: two processes' group commits take turns at one write lock
    method, path, _ = ENDPOINTS["counter_increment"]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda url: run_wrk(url + path, seconds, method, connections=25, threads=1), urls[:2]))
    for run in runs:
        if run.errors:
            raise run.failure(f"{method} {path} on two fleet instances at once under wrk")
    figures["fleet.throughput.counter_increment_rps"] = (
        sum(r.rps for r in runs),
        "per_second",
        sum(r.requests for r in runs),
    )
    return figures


def xadd_per_second(bus_url: str, requests: int) -> tuple[float, int]:
    """redis-benchmark's rate for the bus's stream append (``XADD``), 50 connections, on the bus."""
    if shutil.which("redis-benchmark") is None:
        raise RuntimeError("redis-benchmark is missing: scripts/install-system-tools.sh installs Debian's redis-tools")
    port = re.fullmatch(r"redis://127\.0\.0\.1:(\d+)/\d+", bus_url)
    if port is None:
        raise ValueError(f"the bus's URL {bus_url!r} is not a loopback redis:// URL")
    command = [
        "redis-benchmark",
        "-h",
        "127.0.0.1",
        "-p",
        port.group(1),
        "-n",
        str(requests),
        "-c",
        "50",
        "--csv",
        *XADD,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    rows = [line.split('","') for line in done.stdout.splitlines() if line.startswith('"XADD')]
    if done.returncode != 0 or len(rows) != 1:
        raise RuntimeError(
            f"{' '.join(command[:8])} ... exited {done.returncode}: {done.stdout[-500:]}{done.stderr[-500:]}"
        )
    return float(rows[0][1]), requests


@contextlib.contextmanager
def _fleet(settings: dict[str, object]) -> Iterator[list[live.Live]]:
    """A fresh fleet (Redis, three supervised instances, nginx) in a scratch directory; its members."""
    with (
        many_open_files(),
        tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp,
        instances.running_instances(Path(tmp), settings={"log_level": "warning", **settings}) as fleet_,
    ):
        yield fleet_.members
