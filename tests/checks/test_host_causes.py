"""Checks that name a cause on the backend's host: a capacity set too low, a port held by another
program, nothing listening, a read-only volume in the mount table."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.sync.client import connect

from checks.cli import main
from checks.host_facts import mount_of, unit_of
from checks.probes import host
from scripts import live


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, dict], str]:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    rows = {row["check"]: row for row in json.loads(captured.out)["results"]} if captured.out else {}
    return code, rows, captured.err


def test_refusals_at_a_capacity_set_too_low_fail_ws_handshakes(
    start_backend, capsys: pytest.CaptureFixture[str]
) -> None:
    """Assert connections refused with 1013 count as refused handshakes, routed to the capacity page,
    and the capacity row says where its value comes from (the server's environment)."""
    backend = start_backend(ws_max_connections=3)
    with contextlib.ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(connect(backend.ws_url, compression=None, proxy=None)).recv(timeout=5)
        for _ in range(5):
            with (
                connect(backend.ws_url, compression=None, proxy=None) as refused,
                pytest.raises(Exception, match="1013"),
            ):
                refused.recv(timeout=5)
        code, rows, _ = run(capsys, "ws", "--url", backend.url)
    assert code == 1
    handshakes = rows["ws.handshakes"]
    assert handshakes["status"] == "fail" and "refused at capacity (1013)" in handshakes["detail"], handshakes
    assert handshakes["runbook"] == "websocket-connections-near-capacity"
    assert "BACKEND_WS_MAX_CONNECTIONS=3 in the server's environment" in rows["ws.capacity"]["detail"]


def test_a_port_held_by_another_program_is_named_with_its_pid(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Assert doctor against a port another program answers on names that program, on one line, exit 2."""
    port = live.free_port()
    squatter = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        live.wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/").status_code == 200, 15, "the squatter")
        code, _, err = run(capsys, "doctor", "--url", f"http://127.0.0.1:{port}")
    finally:
        live.stop_process(squatter, signal.SIGTERM, 5)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"port {port} is held by pid {squatter.pid} (" in err and "http.server" in err, err
    assert "not the backend" in err and "/runbooks/backend-down/" in err


_FILLS_ITS_LIMIT = """
import os, socket, sys, time
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    print("full", flush=True)
time.sleep(60)
"""


def test_a_listener_out_of_descriptors_is_named_with_its_limit(capsys: pytest.CaptureFixture[str]) -> None:
    """Assert doctor against a port whose listener has used every descriptor its limit allows says so,
    with the figures from /proc, and sends the reader to Backend down's section for it."""
    port = live.free_port()
    holder = subprocess.Popen(
        ["prlimit", "--nofile=40:40", "--", sys.executable, "-c", _FILLS_ITS_LIMIT, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "full"
        code, _, err = run(capsys, "doctor", "--url", f"http://127.0.0.1:{port}", "--timeout", "1")
    finally:
        live.stop_process(holder, signal.SIGTERM, 5)
        holder.stdout.close()
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"port {port} is held by pid {holder.pid} (" in err, err
    assert f"http://127.0.0.1:{port} takes no connection" in err, err
    assert "which has 40 files open of the 40 its limit allows" in err, err
    assert '(see "Open-file limit too low")' in err and "/runbooks/backend-down/" in err


def test_nothing_listening_is_said(capsys: pytest.CaptureFixture[str]) -> None:
    """Assert a refused connection on this host says nothing listens on the port."""
    port = live.free_port()
    code, _, err = run(capsys, "doctor", "--url", f"http://127.0.0.1:{port}")
    assert code == 2 and f"nothing listens on port {port}" in err, err


def test_a_volume_the_kernel_shut_down_reads_as_read_only(tmp_path: Path) -> None:
    """Assert ext4's emergency read-only state (the mount still says rw) counts as read-only, and the
    longest mount point above the directory is the one chosen."""
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "40 22 7:0 / /var/lib/backend rw,relatime shared:9 - ext4 /dev/loop0 rw,errors=remount-ro,emergency_ro\n"
    )
    mount = mount_of(Path("/var/lib/backend/cache"), mountinfo)
    assert mount is not None and mount.source == "/dev/loop0" and mount.read_only
    root = mount_of(Path("/var/lib"), mountinfo)
    assert root is not None and root.source == "/dev/vda" and not root.read_only


@pytest.mark.parametrize(
    "cgroup",
    ["0::/system.slice/backend.service\n", "12:pids:/\n1:name=systemd:/system.slice/backend.service\n0::/\n"],
    ids=["v2", "v1"],
)
def test_the_unit_a_process_runs_in_is_read_from_its_cgroup(tmp_path: Path, cgroup: str) -> None:
    """Assert the service is found in a cgroup v2 line and in a v1 hierarchy's, and none outside one."""
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "cgroup").write_text(cgroup)
    assert unit_of(42, tmp_path) == "backend.service"
    (tmp_path / "42" / "cgroup").write_text("0::/user.slice/session-3.scope\n")
    assert unit_of(42, tmp_path) is None


def test_a_settings_file_changed_after_the_start_is_a_warning(
    start_backend, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Assert host.changes names the settings the supervisor was given, and warns of a unit file
    changed after the server started (what systemd would report for the unit; this machine has none)."""
    backend = start_backend("supervise", ws_max_connections=7)
    before, after = tmp_path / "old.conf", tmp_path / "env"
    before.write_text("[Service]\n")
    os.utime(before, (1, 1))
    monkeypatch.setattr(host, "unit_of", lambda pid: "backend.service")
    monkeypatch.setattr(host, "unit_files", lambda unit: [before])
    _, rows, _ = run(capsys, "host", "--url", backend.url, "--data-dir", str(backend.data_dir))
    row = rows["host.changes"]
    assert row["status"] == "ok" and "by backend.service" in row["detail"], row
    assert f"{before} changed" in row["detail"] and "before that" in row["detail"], row
    assert "BACKEND_WS_MAX_CONNECTIONS=7" in row["detail"] and "BACKEND_FAULTS_TOKEN=(set)" in row["detail"], row
    started = psutil.Process(backend.server_pid()).create_time()
    after.write_text("BACKEND_WS_MAX_CONNECTIONS=3\n")
    os.utime(after, (started + 0.5, started + 0.5))  # within the start time's precision: written before it
    monkeypatch.setattr(host, "unit_files", lambda unit: [before, after])
    _, rows, _ = run(capsys, "host", "--url", backend.url, "--data-dir", str(backend.data_dir))
    assert rows["host.changes"]["status"] == "ok", rows["host.changes"]
    os.utime(after, (started + 2, started + 2))
    _, rows, _ = run(capsys, "host", "--url", backend.url, "--data-dir", str(backend.data_dir))
    row = rows["host.changes"]
    assert row["status"] == "warn" and row["detail"].startswith(f"{after} changed after the server started"), row
