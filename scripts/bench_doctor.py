"""How long `checks doctor` takes against a live, idle, supervised backend (the on-call's first command).

Starts its own backend on a free loopback port with a temp data dir, runs `checks doctor` N times as
a fresh process (what an engineer types), and prints the wall-time distribution next to the same
run's baseline: `checks thresholds`, which pays interpreter start and imports but touches no network.

    .venv/bin/python scripts/bench_doctor.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"backend at {url} not ready in time")


def _time(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, cwd=REPO)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return times


def _summary(times: list[float]) -> str:
    q = statistics.quantiles(times, n=20, method="inclusive")
    return f"median {statistics.median(times):.3f} s, p95 {q[18]:.3f} s, max {max(times):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BACKEND_PORT": str(port), "BACKEND_DATA_DIR": tmp}
        backend = subprocess.Popen(
            [sys.executable, "-m", "backend", "supervise"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(url, time.monotonic() + 30)
            checks = [str(Path(sys.executable).parent / "checks")]
            baseline = _time(checks + ["thresholds"], args.runs)
            doctor = _time(checks + ["doctor", "--url", url, "--data-dir", tmp], args.runs)
        finally:
            backend.send_signal(signal.SIGTERM)
            backend.wait(30)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit.strip()}, {args.runs} runs each")
    print(f"checks thresholds (start-up baseline): {_summary(baseline)}")
    print(f"checks doctor (all checks, idle backend): {_summary(doctor)}")
    print(f"doctor / baseline (median): {statistics.median(doctor) / statistics.median(baseline):.2f}x")


if __name__ == "__main__":
    main()
