"""Integration tests of ``backend supervise``: restarts, crash loops, the lock, the drain, durability."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import signal
import socket
import sqlite3
import threading
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from scripts.live import wait_for

pytestmark = [pytest.mark.process_coordination]


def test_sigkill_of_the_server_is_restarted_within_two_seconds(start_backend) -> None:
    """Assert that after SIGKILL of the server process the supervisor serves /ready again within 2 s."""
    backend = start_backend(mode="supervise")
    old_pid = backend.server_pid()
    killed_at = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)

    def serving_new_pid() -> bool:
        response = httpx.get(f"{backend.url}/ready", timeout=1.0)
        return response.status_code == 200 and backend.server_pid() != old_pid

    wait_for(serving_new_pid, 10, "a restarted server", interval=0.01)
    took = time.monotonic() - killed_at
    assert took < 2.0, f"serving again after {took:.2f} s"
    assert backend.metric("backend_supervisor_restarts_total") == 1
    ages = httpx.get(f"{backend.url}/health").json()["restarts_seconds_ago"]
    assert len(ages) == 1 and 0 <= ages[0] < 10, ages


@pytest.mark.error_boundaries
def test_crash_loop_stops_with_a_clear_message(start_backend) -> None:
    """Assert a server that cannot start (its port taken) makes the supervisor give up with exit 4."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        backend = start_backend(mode="supervise", wait=False, port=port, supervisor_max_starts=3)
        code = backend.proc.wait(60)
    assert code == 4
    log = backend.log()
    assert "started 3 times in 60 s" in log and "giving up" in log


def test_second_supervisor_on_the_same_data_dir_is_refused(start_backend) -> None:
    """Assert one supervisor per data directory: the second exits 3 naming the first one's pid."""
    first = start_backend(mode="supervise")
    second = start_backend(mode="supervise", wait=False, data_dir=first.data_dir)
    assert second.proc.wait(30) == 3
    assert f"another supervisor (pid {first.proc.pid})" in second.log()
    assert httpx.get(f"{first.url}/ready").status_code == 200


def test_sigterm_drains_websockets_with_1001_finishes_in_flight_and_exits_0(start_backend) -> None:
    """Assert SIGTERM closes sockets with 1001, lets a slow in-flight request finish, and exits 0."""
    backend = start_backend(mode="supervise")
    backend.fault("latency", seconds=1.5)
    with connect(backend.ws_url, compression=None, proxy=None) as client:
        client.recv(timeout=5)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(httpx.post, f"{backend.url}/api/counters/drain/increment", timeout=20)
            wait_for(
                lambda: backend.metric("backend_http_requests_in_flight") >= 2, 5, "the slow request to be in flight"
            )
            backend.proc.send_signal(signal.SIGTERM)
            try:
                while True:
                    client.recv(timeout=10)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1001
            response = in_flight.result(timeout=20)
    assert response.status_code == 200 and response.json()["value"] == 1
    assert backend.proc.wait(30) == 0


@pytest.mark.db_race_free
def test_acknowledged_writes_survive_sigkill_mid_stream(start_backend) -> None:
    """Assert every acknowledged item and increment is there after SIGKILL mid-stream, and integrity_check is ok."""
    backend = start_backend(mode="supervise")
    acked_items: dict[int, int] = {}
    acked_counter = 0
    stop = threading.Event()

    def writer() -> None:
        nonlocal acked_counter
        seq = 0
        with httpx.Client(base_url=backend.url, timeout=5.0) as client:
            while not stop.is_set():
                seq += 1
                with contextlib.suppress(httpx.HTTPError):
                    item = client.post("/api/items", json={"seq": seq})
                    if item.status_code == 201:
                        acked_items[item.json()["id"]] = seq
                    bump = client.post("/api/counters/acked/increment")
                    if bump.status_code == 200:
                        acked_counter = max(acked_counter, bump.json()["value"])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: len(acked_items) >= 100, 30, "100 acknowledged writes")
        old_pid = backend.server_pid()
        os.kill(old_pid, signal.SIGKILL)
        wait_for(lambda: backend.server_pid() != old_pid, 10, "the restarted server")
        count_at_kill = len(acked_items)
        wait_for(lambda: len(acked_items) >= count_at_kill + 20, 20, "writes after the restart")
    finally:
        stop.set()
        thread.join(10)
    with httpx.Client(base_url=backend.url, timeout=5.0) as client:
        for item_id, seq in acked_items.items():
            assert client.get(f"/api/items/{item_id}").json()["body"] == {"seq": seq}
        assert client.get("/api/counters/acked").json()["value"] >= acked_counter
    with contextlib.closing(sqlite3.connect(backend.data_dir / "backend.sqlite3")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.ws_limits
def test_broadcasts_survive_a_crash_for_replay(start_backend) -> None:
    """Assert broadcasts acknowledged before a SIGKILL are replayed, same sequence numbers, after the restart."""
    backend = start_backend(mode="supervise")
    with connect(backend.ws_url, compression=None, proxy=None) as client:
        seen = json.loads(client.recv(timeout=5))["seq"]
    sent = [httpx.post(f"{backend.url}/api/broadcast", json={"message": n}).json() for n in range(3)]
    assert all(s["durable"] for s in sent)
    old_pid = backend.server_pid()
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: backend.server_pid() != old_pid, 10, "the restarted server")
    with connect(f"{backend.ws_url}?since={seen}", compression=None, proxy=None) as client:
        assert json.loads(client.recv(timeout=5)) == {"type": "hello", "seq": sent[-1]["seq"]}
        replayed = [json.loads(client.recv(timeout=5)) for _ in sent]
    assert [(f["seq"], f["data"]) for f in replayed] == [(s["seq"], n) for n, s in enumerate(sent)]
    assert httpx.post(f"{backend.url}/api/broadcast", json={"message": "next"}).json()["seq"] == sent[-1]["seq"] + 1


def test_hung_server_is_killed_and_restarted_by_the_watchdog(start_backend) -> None:
    """Assert a server that stops answering (SIGSTOP: alive, silent) is killed and replaced within the
    watchdog's bound (failures x (interval + timeout)) plus a restart, counted and logged with why."""
    interval, timeout, failures = 0.5, 0.5, 3
    backend = start_backend(
        mode="supervise",
        supervisor_health_interval=interval,
        supervisor_health_timeout=timeout,
        supervisor_health_failures=failures,
    )
    hung = backend.server_pid()
    # the watchdog takes over once the supervisor itself saw the server ready (before that, the ready
    # timeout bounds a start that hangs)
    wait_for(lambda: f"server pid {hung} ready after" in backend.log(), 10, "the supervisor to see it ready")
    os.kill(hung, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        wait_for(
            lambda: httpx.get(f"{backend.url}/health", timeout=0.5).json()["pid"] != hung,
            30,
            "a new server after the hang",
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung, signal.SIGCONT)  # only if the watchdog did not kill it
    took = time.monotonic() - stopped_at
    bound = failures * (interval + timeout) + 2.0  # + the restart (p99 under 2 s in the benchmark)
    assert took < bound, f"replaced after {took:.1f} s, bound {bound:.1f} s"
    assert backend.metric("backend_supervisor_watchdog_kills_total") == 1
    assert "watchdog: server pid" in backend.log() and "failed 3 /health probes in a row" in backend.log()


def test_watchdog_leaves_a_healthy_server_alone(start_backend) -> None:
    """Assert a server that answers its probes is never killed by the watchdog."""
    backend = start_backend(
        mode="supervise", supervisor_health_interval=0.1, supervisor_health_timeout=0.5, supervisor_health_failures=2
    )
    pid = backend.server_pid()
    wait_for(
        lambda: "watchdog:" in backend.log() or backend.metric("backend_http_requests_total", route="/health") >= 20,
        15,
        "the watchdog to probe /health 20 times",
    )
    assert backend.server_pid() == pid and "watchdog:" not in backend.log()
