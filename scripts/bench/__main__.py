"""``make bench`` / ``make bench-quick``: measure the backend under load and record the baselines.

    python -m scripts.bench            full sizes (minutes); writes results/baselines.json with history
    python -m scripts.bench --quick    small sizes (under 2 minutes); prints a comparison against the
                                       committed baselines, flags figures worse than the tolerance,
                                       and writes nothing

Suites, each against its own fresh supervised backend on loopback: the API at 1,000 req/s open
loop, its capacity (highest rate with p99 under the target), per-endpoint throughput with wrk
against the framework's hello-world, WebSocket hold / fan-out / echo / cycles, the Zipf cache,
supervisor restarts, the compressed memory soak; then the fleet (three instances on one host and
their message bus, :mod:`scripts.bench.fleet`), each of its figures beside its one-instance anchor.
The load generators share the machine's cores with the server, which the stress report states
beside the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts import live, results
from scripts.bench import cache_trace
from scripts.bench.cache_replay import read_cache
from scripts.bench.fleet import fleet, ratios
from scripts.bench.harness import exit_cleanly_on_sigterm, fresh_backend
from scripts.bench.soak import PLANS, soak
from scripts.bench.stats import compare
from scripts.bench.suites import (
    Details,
    Figures,
    api_capacity,
    api_open_loop,
    cache_zipf,
    restarts,
    websocket,
    ws_echo,
)
from scripts.bench.wrk import throughput
from scripts.results import figure

# Figures the run's size decides rather than the backend: the offered rates, the work counts, the
# capacities (bench-quick's searches stop at 1,500/s) and the soak, whose slope needs the full run's
# warm-up to mean anything. bench-quick prints them but does not compare them.
SIZE_BOUND = (
    "api.mixed.achieved_rps",
    "ws.echo.achieved_per_second",
    "api.capacity",
    "fleet.capacity",
    "memory.soak.",
    "cache.trace.",
)
# wrk is closed loop: its 50 connections keep the server's loop saturated by design, which admission
# by queue time (BACKEND_SHED_LOOP_LAG) would rightly answer with refusals; so is the broadcast
# suite (each broadcast to 1,000 sockets starts when the last one arrived) and so are the cache
# suites (a trace replayed as fast as it is answered). Throughput, broadcasts, hit ratios and the
# soak measure what the server does with every request, so they run with it off (the open-loop
# suites, capacity included, keep the defaults)
CLOSED_LOOP = {"shed_loop_lag": 0}
# The read-through cache's trace: Zipf(1.1) like the tier benchmark, 2 % increments (each invalidates)
TRACE_SKEW, TRACE_WRITE_SHARE = 1.1, 0.02
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "rate": 1000,
        "seconds": 60,
        "capacity_rates": list(range(1000, 6001, 250)),
        "capacity_seconds": 10,
        "wrk_seconds": 15,
        "hold": [100, 1000, 5000],
        "fanout": 1000,
        "broadcasts": 500,
        "echo": (1000, 30, 50),
        "cycles": 10_000,
        "keys": 10_000,
        "lookups": 20_000,
        "restarts": 50,
        "trace": {
            "keys": 10_000,
            "ops": 200_000,
            "size": 5000,
            "sweep": [250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000],
        },
    },
    "quick": {
        "rate": 300,
        "seconds": 10,
        "capacity_rates": [500, 1000, 1500],
        "capacity_seconds": 3,
        "wrk_seconds": 3,
        "hold": [50, 500],
        "fanout": 200,
        "broadcasts": 20,
        "echo": (1000, 5, 50),
        "cycles": 1000,
        "keys": 2000,
        "lookups": 5000,
        "restarts": 5,
        "trace": {"keys": 2000, "ops": 20_000, "size": 1000, "sweep": [250, 500, 1000, 2000]},
    },
    "smoke": {
        "rate": 50,
        "seconds": 1,
        "capacity_rates": [50, 100],
        "capacity_seconds": 1,
        "wrk_seconds": 1,
        "hold": [5],
        "fanout": 5,
        "broadcasts": 30,  # CPU time comes in 10 ms ticks: three broadcasts measured 0 s, and no ratio (CI)
        "echo": (50, 1, 5),
        "cycles": 10,
        "keys": 50,
        "lookups": 100,
        "restarts": 1,
        "trace": {"keys": 50, "ops": 500, "size": 20, "sweep": [10, 20]},
    },
}


def run(size: str) -> tuple[Figures, Details]:
    """Every suite at ``size``, each on a fresh backend; returns all figures and the charts' details."""
    sizes = SIZES[size]
    p99_target = figure("api.mixed.p99_seconds").target
    assert p99_target is not None, "api.mixed.p99_seconds lost its target in scripts/results/schema.py"
    p99_limit = p99_target[1]
    figures: Figures = {}
    details: Details = {}
    shape = sizes["trace"]
    trace = cache_trace.record(shape["keys"], shape["ops"], TRACE_SKEW, TRACE_WRITE_SHARE)
    plans: list[tuple[dict[str, Any], Callable[[live.Live], Figures]]] = [
        ({}, lambda b: api_open_loop(b, sizes["rate"], sizes["seconds"])),
        ({}, lambda b: api_capacity(b, sizes["capacity_rates"], sizes["capacity_seconds"], p99_limit, details)),
        (
            {},
            lambda b: api_capacity(b, sizes["capacity_rates"], sizes["capacity_seconds"], p99_limit, details, pin=True),
        ),
        (CLOSED_LOOP, lambda b: throughput(b, sizes["wrk_seconds"])),
        (
            {"ws_max_connections": max(sizes["hold"]) + 100, "ws_send_queue": 1024, **CLOSED_LOOP},
            lambda b: websocket(
                b, sizes["hold"], sizes["fanout"], sizes["broadcasts"], sizes["cycles"], sizes["wrk_seconds"]
            ),
        ),
        ({}, lambda b: ws_echo(b, *sizes["echo"])),
        (
            {"cache_memory_items": max(sizes["keys"] // 10, 1), **CLOSED_LOOP},
            lambda b: cache_zipf(b, sizes["keys"], sizes["lookups"]),
        ),
        (
            {"read_cache_items": shape["size"], **CLOSED_LOOP},
            lambda b: read_cache(b, trace, shape["size"], shape["sweep"], details),
        ),
        # the crash-loop guard would (rightly) stop 50 kills in a minute; backoff capped at 1 s
        (
            {"supervisor_max_starts": sizes["restarts"] + 5, "supervisor_backoff_max": 1},
            lambda b: restarts(b, sizes["restarts"]),
        ),
        (CLOSED_LOOP, lambda b: soak(b, PLANS[size], details)),
    ]
    for settings, suite in plans:
        with fresh_backend(**settings) as backend:
            found = suite(backend)
        _report(found)
        figures.update(found)
    figures.update(fleet(sizes, p99_limit, details, _report))
    found = ratios(figures, sizes["fanout"])
    _report(found)
    figures.update(found)
    return figures, details


def _report(found: Figures) -> None:
    for key, (value, unit, _) in found.items():
        verdict = {True: "meets target", False: "MISSES target", None: ""}[figure(key).met(value)]
        print(f"{key:<42} {value:>14.6g} {unit:<10} {verdict}", flush=True)


def _version(package: str) -> str:
    return importlib.metadata.version(package)


def _wrk_version() -> str:
    if shutil.which("wrk") is None:
        return "missing"
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).split()[1]  # "wrk debian/4.1.0-3+b2 [epoll] ..."


def _record(figures: Figures, details: Details, directory: Path) -> None:
    tools = {
        "python": sys.version.split()[0],
        "generator": "aiohttp on uvloop, open loop, 64 connections",
        "wrk": _wrk_version(),
        **{name: _version(name) for name in ("aiohttp", "uvicorn", "fastapi", "websockets", "cachetools", "theine")},
    }
    sizes = {
        **SIZES["full"],
        "soak": dataclasses.asdict(PLANS["full"]),
        "trace_zipf_skew": TRACE_SKEW,
        "trace_write_share": TRACE_WRITE_SHARE,
    }
    path = directory / results.BASELINES
    results.write(path, figures, {"tools": tools, "sizes": sizes, "details": details})
    print(f"wrote {path}")


def print_comparison(figures: Figures, directory: Path = results.DEFAULT_DIR) -> None:
    """The quick run against the committed baselines: ratios, flagged beyond the tolerance, never failing."""
    committed = results.load(directory / results.BASELINES)
    if committed is None:
        print("no committed baselines to compare with: run `make bench`")
        return
    comparable = {k: v[0] for k, v in figures.items() if not k.startswith(SIZE_BOUND)}
    rows = compare(
        comparable,
        {k: m.value for k, m in committed.metrics.items()},
        {key for key in comparable if figure(key).higher_is_better},
    )
    print(f"\ncompared with the committed baselines ({committed.stamp}); quick sizes differ, so read trends only")
    print(f"(not compared, set by the run's size: {', '.join(SIZE_BOUND)})")
    for row in rows:
        flag = "  <-- worse than the 25 % tolerance" if row.worse else ""
        print(f"{row.key:<42} {row.ratio:6.2f}x{flag}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; compare, do not record")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # the test suite's tiny run
    parser.add_argument(
        "--results",
        type=Path,
        default=results.DEFAULT_DIR,
        help="results directory to record into / compare with (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    figures, details = run(size)
    if size == "full":
        _record(figures, details, args.results)
    elif size == "quick":
        print_comparison(figures, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
