"""``make bench`` / ``make bench-quick``: measure the backend under load and record the baselines.

    python -m scripts.bench            full sizes (minutes); writes results/baselines.json with history
    python -m scripts.bench --quick    small sizes (under 2 minutes); prints a comparison against the
                                       committed baselines, flags figures worse than the tolerance,
                                       and writes nothing

Each suite runs against its own fresh supervised backend on loopback; the load generator shares
the machine's cores with it, which the stress report states beside the figures.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

from checks.thresholds import COMPARISONS
from scripts import live, results
from scripts.bench.stats import compare
from scripts.bench.suites import Figures, api_open_loop, cache_zipf, restarts, websocket

# key -> (comparison, our target, the plan's target in words)
TARGETS: dict[str, tuple[str, float, str]] = {
    "api.mixed.p95_seconds": ("<", 0.5, "plan: p95 < 500 ms at 1,000+ req/s"),
    "api.mixed.p99_seconds": ("<", 0.025, "ours: p99 < 25 ms at 1,000 req/s, open loop"),
    "api.mixed.error_ratio": ("<", 0.001, "ours: under 0.1 % errors"),
    "ws.rss_per_connection_bytes": ("<=", 25_000, "ours: <= 25 kB per held connection"),
    "ws.broadcast_1000.p99_seconds": ("<", 0.060, "ours: < 60 ms to the last of 1,000; plan: WS latency < 100 ms"),
    "cache.zipf.hit_ratio": (">=", 0.95, "ours: >= 95 %; plan: > 90 % under load"),
    "process.restart.p99_seconds": ("<", 2.0, "ours: restart p99 < 2 s"),
    "ws.registry_after_cycles": ("<=", 0, "registry back to zero after the cycles"),
    "process.restart.children_after": ("<=", 1, "no leaked child: one server under the supervisor"),
    "process.restart.listeners_after": ("<=", 1, "no leaked port: one listener"),
}
HIGHER_IS_BETTER = {"cache.zipf.hit_ratio", "api.mixed.achieved_rps", "ws.cycles_per_second"}
SIZES = {
    "full": {"rate": 1000, "seconds": 60, "hold": [100, 1000, 5000], "fanout": 1000, "broadcasts": 100,
             "cycles": 10_000, "keys": 10_000, "lookups": 20_000, "restarts": 50},
    "quick": {"rate": 300, "seconds": 10, "hold": [50, 500], "fanout": 200, "broadcasts": 20, "cycles": 1000,
              "keys": 2000, "lookups": 5000, "restarts": 5},
    "smoke": {"rate": 50, "seconds": 1, "hold": [5], "fanout": 5, "broadcasts": 3, "cycles": 10, "keys": 50,
              "lookups": 100, "restarts": 1},
}


def _met(key: str, value: float) -> bool | None:
    if key not in TARGETS:
        return None
    op, target, _ = TARGETS[key]
    return COMPARISONS[op](value, target)


def run(size: str) -> Figures:
    """Every suite at ``size``, each on a fresh backend; returns all figures."""
    sizes = SIZES[size]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of sockets, here and in the server
    figures: Figures = {}
    try:
        plans: list[tuple[dict[str, Any], Any]] = [
            ({}, lambda b: api_open_loop(b, sizes["rate"], sizes["seconds"])),
            ({"ws_max_connections": max(sizes["hold"]) + 100, "ws_send_queue": 1024},
             lambda b: websocket(b, sizes["hold"], sizes["fanout"], sizes["broadcasts"], sizes["cycles"])),
            ({"cache_memory_items": max(sizes["keys"] // 10, 1)},
             lambda b: cache_zipf(b, sizes["keys"], sizes["lookups"])),
            # the crash-loop guard would (rightly) stop 50 kills in a minute; backoff capped at 1 s
            ({"supervisor_max_starts": sizes["restarts"] + 5, "supervisor_backoff_max": 1},
             lambda b: restarts(b, sizes["restarts"])),
        ]
        for settings, suite in plans:
            with tempfile.TemporaryDirectory(prefix="bench-") as tmp, \
                    live.running(Path(tmp), "supervise", log_level="warning", **settings) as backend:
                found = suite(backend)
            figures.update(found)
            for key, (value, unit, _) in found.items():
                verdict = {True: "meets target", False: "MISSES target", None: ""}[_met(key, value)]
                print(f"{key:<42} {value:>14.6g} {unit:<10} {verdict}", flush=True)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return figures


def _version(package: str) -> str:
    return importlib.metadata.version(package)


def _record(figures: Figures) -> None:
    previous = results.load(results.BASELINES)
    history = previous.data.get("history", []) if previous else []
    if previous:
        history = [*history, {"generated_at": previous.data["generated_at"], "commit": previous.commit,
                              "metrics": {k: v["value"] for k, v in previous.data.get("metrics", {}).items()}}][-50:]
    metrics = {key: {"value": value, "unit": unit, "samples": samples,
                     "target": TARGETS[key][1] if key in TARGETS else None,
                     "target_text": TARGETS[key][2] if key in TARGETS else None, "met": _met(key, value)}
               for key, (value, unit, samples) in figures.items()}
    tools = {"python": sys.version.split()[0], "generator": "aiohttp on uvloop, open loop, 64 connections",
             **{name: _version(name) for name in ("aiohttp", "uvicorn", "fastapi", "websockets")}}
    data = {**results.provenance(), "tools": tools,
            "sizes": SIZES["full"], "metrics": metrics, "history": history}
    results.BASELINES.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {results.BASELINES.relative_to(results.REPO)}")


def _compare(figures: Figures) -> None:
    committed = results.load(results.BASELINES)
    if committed is None:
        print("no committed baselines to compare with: run `make bench`")
        return
    rows = compare({k: v[0] for k, v in figures.items()}, {k: m.value for k, m in committed.metrics.items()},
                   HIGHER_IS_BETTER)
    print(f"\ncompared with the committed baselines ({committed.stamp}); quick sizes differ, so read trends only:")
    for row in rows:
        flag = "  <-- worse than the 25 % tolerance" if row.worse else ""
        print(f"{row.key:<42} {row.ratio:6.2f}x{flag}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; compare, do not record")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # the test suite's tiny run
    args = parser.parse_args(argv)
    size = "smoke" if args.smoke else "quick" if args.quick else "full"
    figures = run(size)
    if size == "full":
        _record(figures)
    elif size == "quick":
        _compare(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
