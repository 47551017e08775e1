"""The memory soak: does the server's memory, fd count or WebSocket registry grow with work done?

    python -m scripts.bench.soak               the compressed soak (>= 2 M requests, 20 k WebSocket
                                               cycles, half of it warm-up), printed; `make bench`
                                               records the same suite
    python -m scripts.bench.soak --hours 8     the plan's 8-hour soak (`make soak HOURS=8`); writes
                                               results/soak.json with provenance

Work comes in phases: wrk drives a mixed request load for a fixed time, then WebSocket clients
connect and disconnect. The first half of the work is warm-up (the first hour of a timed soak):
SQLite's page caches, about 2 MB per connection by default, fill as the items table grows; in
the first full run RSS climbed for half a million operations and then did not move. After warm-up, the
server's RSS, open fds and registry are sampled after every phase against the operations done
so far. Memory that does not grow with work shows as a least-squares slope within noise of zero;
the figure keeps its standard error so the bound is stated, not implied. Then tracemalloc
watches a few more phases for the Python lines that grew.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import psutil
import uvloop

from scripts import live, results
from scripts.bench.harness import exit_cleanly_on_sigterm, fresh_backend
from scripts.bench.stats import slope
from scripts.bench.suites import Details, Figures, connect_cycles
from scripts.bench.wrk import run_wrk

__all__ = ["PLANS", "SoakPlan", "main", "soak"]

# wrk calls request() for every request; one Lua state per thread, so the counter is per thread.
# Every path exists after seeding, so any non-2xx answer is an error the soak fails on.
MIX_LUA = """
local n = 0
local json = {["Content-Type"] = "application/json"}
request = function()
  n = n + 1
  local r = n % 10
  if r < 4 then return wrk.format("GET", "/api/cache/soak" .. (n % 500)) end
  if r < 5 then return wrk.format("PUT", "/api/cache/soak" .. (n % 500), json, '{"v":' .. n .. '}') end
  if r < 7 then return wrk.format("POST", "/api/counters/soak" .. (n % 10) .. "/increment") end
  if r < 8 then return wrk.format("POST", "/api/items", json, '{"n":' .. n .. '}') end
  if r < 9 then return wrk.format("GET", "/api/items/" .. (n % 100 + 1)) end
  return wrk.format("GET", "/health")
end
"""


@dataclasses.dataclass(frozen=True)
class SoakPlan:
    """How much work: phases of ``phase_seconds`` of requests plus ``cycles_per_phase`` WebSocket
    cycles, until both totals are reached (or, with ``hours``, until that much time has passed)."""

    requests: int
    cycles: int
    phase_seconds: float
    cycles_per_phase: int
    warmup_phases: int = 2  # at least; see warming()
    hours: float | None = None
    min_samples: int = 3  # a slope needs points
    traced_phases: int = 2

    def warming(self, phase: int, requests: int, started: float) -> bool:
        """The first half of the requests; for a timed soak, its first hour (or half, if shorter)."""
        if phase < self.warmup_phases:
            return True
        if self.hours is not None:
            return time.monotonic() - started < min(3600, self.hours * 1800)
        return requests < self.requests / 2

    def done(self, requests: int, cycles: int, started: float) -> bool:
        if self.hours is not None:
            return time.monotonic() - started >= self.hours * 3600
        return requests >= self.requests and cycles >= self.cycles


def _seed(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        for k in range(500):
            client.put(f"/api/cache/soak{k}", json=k).raise_for_status()
        for k in range(10):
            client.post(f"/api/counters/soak{k}/increment").raise_for_status()
        for k in range(100):
            client.post("/api/items", json={"seed": k}).raise_for_status()


def _allocations(url: str, method: str) -> dict[str, object]:
    response = httpx.request(
        method,
        f"{url}/_faults/tracemalloc",
        headers={"X-Faults-Token": live.FAULTS_TOKEN},
        params={"top": 10} if method == "GET" else None,
        timeout=120,
    )
    response.raise_for_status()
    return dict(response.json())


def _short(where: str) -> str:
    """``.../site-packages/uvicorn/protocols/x.py:12`` -> ``uvicorn/protocols/x.py:12``."""
    for marker in ("site-packages/", str(results.REPO) + "/", "/lib/python"):
        if marker in where:
            return where.split(marker, 1)[1]
    return where


def _phase(backend: live.Live, plan: SoakPlan, script: Path, phase: int) -> tuple[int, int]:
    """One phase of work: requests under wrk, then WebSocket cycles. Returns (requests, cycles)."""
    run = run_wrk(backend.url, plan.phase_seconds, connections=16, threads=1, script=script)
    if run.errors:
        raise run.failure(f"soak phase {phase}")
    uvloop.run(connect_cycles(backend.ws_url, plan.cycles_per_phase))
    return run.requests, plan.cycles_per_phase


def soak(backend: live.Live, plan: SoakPlan, details: Details) -> Figures:
    """Run the plan against ``backend``; RSS samples and tracemalloc's top growth lines go to ``details``.

    RSS is sampled with tracing off (tracing triples the cost of an allocation here and stores a
    trace per live block, which would be growth of its own); tracemalloc then watches
    ``traced_phases`` more phases of the same work for the lines that grew.
    """
    server = psutil.Process(backend.server_pid())
    _seed(backend.url)
    requests = cycles = phase = 0
    samples: list[list[float]] = []
    baseline_fds = server.num_fds()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        script = Path(tmp) / "mix.lua"
        script.write_text(MIX_LUA)
        while len(samples) < plan.min_samples or not plan.done(requests, cycles, started):
            done_requests, done_cycles = _phase(backend, plan, script, phase)
            requests, cycles = requests + done_requests, cycles + done_cycles
            rss = server.memory_info().rss
            if plan.warming(phase, requests, started):
                baseline_fds = server.num_fds()
            else:
                samples.append([(requests + cycles) / 1000, rss])
            print(
                f"  soak phase {phase:>3}: {requests:>9} requests, {cycles:>6} WS cycles, "
                f"RSS {rss / 2**20:7.1f} MiB, {server.num_fds()} fds",
                flush=True,
            )
            phase += 1
        _allocations(backend.url, "POST")
        for traced in range(plan.traced_phases):
            _phase(backend, plan, script, phase + traced)
    growth = cast(list[dict[str, Any]], _allocations(backend.url, "GET")["top"])
    details["memory.soak.rss"] = samples
    details["memory.soak.top_growth"] = [
        f"{_short(g['where'])}: {g['size_diff']:+,} B in {g['count_diff']:+,} blocks" for g in growth
    ]
    live.wait_for(lambda: backend.metric("backend_ws_connections_active") == 0, 30, "the registry back to zero")
    fds_after = _settled(server.num_fds, baseline_fds, deadline=10)
    per_kop, stderr = slope(samples)
    n = requests + cycles
    return {
        "memory.soak.requests": (requests, "count", n),
        "memory.soak.ws_cycles": (cycles, "count", n),
        "memory.soak.slope_bytes_per_kop": (per_kop, "bytes", len(samples)),
        "memory.soak.slope_bound_bytes_per_kop": (abs(per_kop) + 2 * stderr, "bytes", len(samples)),
        "memory.soak.rss_growth_bytes": (samples[-1][1] - samples[0][1], "bytes", len(samples)),
        "memory.soak.fds_delta": (fds_after - baseline_fds, "count", n),
        "memory.soak.registry_after": (backend.metric("backend_ws_connections_active"), "count", n),
    }


def _settled(read: Callable[[], int], target: int, deadline: float) -> int:
    """``read()`` once it is at or below ``target``, or its value at the deadline (the finding)."""
    until = time.monotonic() + deadline
    value = read()
    while value > target and time.monotonic() < until:
        time.sleep(0.1)
        value = read()
    return value


PLANS = {
    # twice the issue's 1 M requests and 10 k cycles: the first half is warm-up, the second is measured
    "full": SoakPlan(requests=2_000_000, cycles=20_000, phase_seconds=15, cycles_per_phase=500),
    "quick": SoakPlan(requests=60_000, cycles=1_000, phase_seconds=4, cycles_per_phase=200),
    "smoke": SoakPlan(requests=500, cycles=20, phase_seconds=1, cycles_per_phase=5, warmup_phases=1, traced_phases=1),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, help="run for this long and write results/soak.json")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    plan = PLANS["full"] if args.hours is None else dataclasses.replace(PLANS["full"], hours=args.hours)
    details: Details = {}
    with fresh_backend(shed_loop_lag=0) as backend:  # wrk's closed loop: see CLOSED_LOOP in scripts.bench
        figures = soak(backend, plan, details)
    for key, (value, unit, _) in figures.items():
        print(f"{key:<42} {value:>14.6g} {unit}")
    print("top growth since warm-up (tracemalloc):", *details["memory.soak.top_growth"], sep="\n  ")
    if args.hours is not None:
        path = results.DEFAULT_DIR / results.SOAK
        results.write(path, figures, {"hours": args.hours, "plan": dataclasses.asdict(plan), "details": details})
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
