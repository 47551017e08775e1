"""Throughput per endpoint with wrk, each as a ratio of the bare framework's hello-world.

wrk is closed loop and written in C, so it measures how many requests per second the server can
answer, not latency under a given rate (the open-loop suite does that). The hello-world
(:mod:`scripts.bench.hello`) runs under the same uvicorn flags and is measured before and after
the endpoints, so a ratio compares runs under the same noise on this shared machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

from scripts import live
from scripts.bench.disk import fsyncs_per_second
from scripts.results import REPO

__all__ = [
    "ENDPOINTS",
    "WrkError",
    "WrkRun",
    "broadcast_rate",
    "cpu_seconds",
    "hello_server",
    "parse",
    "run_wrk",
    "throughput",
]

Figures = dict[str, tuple[float, str, int]]

# name -> (method, path, JSON body); the reads hit a key, counter and item the suite seeds first.
# The counter read is answered by the read-through cache (one hot key); the item read by SQLite.
ENDPOINTS: dict[str, tuple[str, str, str | None]] = {
    "health": ("GET", "/health", None),
    "cache_read": ("GET", "/api/cache/bench", None),
    "counter_read": ("GET", "/api/counters/bench", None),
    "item_read": ("GET", "/api/items/{item}", None),
    "counter_increment": ("POST", "/api/counters/bench/increment", None),
    "item_write": ("POST", "/api/items", '{"bench":true}'),
}
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s+(\d+) requests in", re.MULTILINE)
_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\b", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed something this parser does not know."""


@dataclasses.dataclass(frozen=True)
class WrkRun:
    rps: float
    requests: int
    p99_seconds: float
    errors: int  # non-2xx/3xx answers plus socket errors
    output: str = dataclasses.field(default="", repr=False)

    def failure(self, what: str) -> WrkError:
        lines = [line.strip() for line in self.output.splitlines() if "Non-2xx" in line or "Socket errors" in line]
        return WrkError(f"{what}: {self.errors} of {self.requests} requests failed ({'; '.join(lines)})")


def parse(output: str) -> WrkRun:
    """Read ``wrk --latency`` output; fail loudly rather than report a figure that was not printed."""
    rps, total, p99 = _RPS.search(output), _TOTAL.search(output), _P99.search(output)
    if not (rps and total and p99):
        raise WrkError(f"wrk output has no Requests/sec, request count or 99% latency:\n{output}")
    errors = int(m.group(1)) if (m := _NON_2XX.search(output)) else 0
    if m := _SOCKET_ERRORS.search(output):
        errors += sum(int(n) for n in m.groups())
    return WrkRun(float(rps.group(1)), int(total.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)], errors, output)


def run_wrk(
    url: str,
    seconds: float,
    method: str = "GET",
    connections: int = 50,
    threads: int = 2,
    script: Path | None = None,
    body: str | None = None,
) -> WrkRun:
    """One wrk run against ``url``; POSTs go through a few lines of Lua (wrk has no method or body flag)."""
    if shutil.which("wrk") is None:
        raise WrkError("wrk is not installed: run scripts/install-system-tools.sh (Debian package wrk)")
    with tempfile.TemporaryDirectory(prefix="wrk-") as tmp:
        if script is None and (method != "GET" or body is not None):
            script = Path(tmp) / "method.lua"
            lines = [f"wrk.method = {json.dumps(method)}"]
            if body is not None:
                lines += [f"wrk.body = {json.dumps(body)}", 'wrk.headers["Content-Type"] = "application/json"']
            script.write_text("\n".join(lines) + "\n")
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            *(["-s", str(script)] if script else []),
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise WrkError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
    return parse(done.stdout)


def broadcast_rate(url: str, seconds: float) -> tuple[float, int]:
    """Broadcasts per second published to ``url`` under wrk (50 connections, closed loop: each sends
    its next when the last is answered, numbered and handed to the sockets), no client listening:
    what publishing itself costs. Returns the rate and how many were sent."""
    run = run_wrk(url + "/api/broadcast", seconds, "POST", body='{"message":{"bench":true}}')
    if run.errors:
        raise run.failure("POST /api/broadcast under wrk")
    return run.rps, run.requests


def cpu_seconds(process: psutil.Process) -> float:
    """User plus system CPU time the process has used so far, all of its threads."""
    times = process.cpu_times()
    return times.user + times.system


@contextlib.contextmanager
def hello_server() -> Iterator[str]:
    """The bare hello-world under uvicorn on a free loopback port; stopped by its PID afterwards."""
    port = live.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "scripts.bench.hello:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-server-header",
        ],
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        live.wait_for(
            lambda: proc.poll() is None and httpx.get(url, timeout=1).status_code == 200, 20, "the hello-world server"
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def throughput(backend: live.Live, seconds: float) -> Figures:
    """Requests per second per endpoint and its ratio to hello-world (mean of a run before and after),
    and the server's CPU time (user + system, every thread) per 1,000 requests of each."""
    with httpx.Client(base_url=backend.url, timeout=10) as client:
        client.put("/api/cache/bench", json={"cached": True}).raise_for_status()
        client.post("/api/counters/bench/increment").raise_for_status()
        item = client.post("/api/items", json={"bench": True}).json()["id"]
    rate, fsyncs = fsyncs_per_second(backend.data_dir, min(seconds, 5))
    figures: Figures = {"disk.fsyncs_per_second": (rate, "per_second", fsyncs)}
    server = psutil.Process(backend.server_pid())
    with hello_server() as hello_url:
        before = run_wrk(hello_url + "/", seconds)
        for name, (method, path, body) in ENDPOINTS.items():
            cpu = cpu_seconds(server)
            run = run_wrk(backend.url + path.format(item=item), seconds, method, body=body)
            if run.errors:
                raise run.failure(f"{method} {path} under wrk")
            figures[f"api.throughput.{name}_rps"] = (run.rps, "per_second", run.requests)
            figures[f"api.throughput.{name}_p99_seconds"] = (run.p99_seconds, "seconds", run.requests)
            figures[f"api.cpu.{name}_seconds_per_kreq"] = (
                (cpu_seconds(server) - cpu) / run.requests * 1000,
                "seconds",
                run.requests,
            )
        after = run_wrk(hello_url + "/", seconds)
    hello = (before.rps + after.rps) / 2
    figures["api.throughput.hello_rps"] = (hello, "per_second", before.requests + after.requests)
    for name in ENDPOINTS:
        rps, _, n = figures[f"api.throughput.{name}_rps"]
        figures[f"api.throughput.{name}_ratio"] = (rps / hello, "ratio", n)
    for name in ("counter_increment", "item_write"):  # writes per fsync: what group commit carried
        rps, _, n = figures[f"api.throughput.{name}_rps"]
        figures[f"api.throughput.{name}_per_fsync"] = (rps / rate, "ratio", n)
    return figures
