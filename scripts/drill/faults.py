"""Real faults a drill or test makes on this machine, undone in every case."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FaultUnavailable", "tmpfs", "write_lock_holder"]


class FaultUnavailable(RuntimeError):
    """This machine cannot make the fault (not root, no mount); the message says what is needed."""


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    """Mount a tmpfs of ``size`` at ``path``: a filesystem that really fills up (ENOSPC)."""
    if os.geteuid() != 0:
        raise FaultUnavailable(
            "a real disk-full fault mounts a tmpfs and needs root; CI runs as root. "
            "Run as root to prove behaviour on a full disk."
        )
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        raise FaultUnavailable(f"cannot mount a tmpfs for the disk-full fault: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextlib.contextmanager
def write_lock_holder(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the database's write lock, as a stuck backup or shell would; it lets
    go when the context ends, or when someone kills it (a runbook's mitigation)."""
    code = (
        "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\nsys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
