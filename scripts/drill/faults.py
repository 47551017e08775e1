"""Real faults a drill or test makes on this machine, undone in every case."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FaultUnavailable", "tmpfs"]


class FaultUnavailable(RuntimeError):
    """This machine cannot make the fault (not root, no mount); the message says what is needed."""


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    """Mount a tmpfs of ``size`` at ``path``: a filesystem that really fills up (ENOSPC)."""
    if os.geteuid() != 0:
        raise FaultUnavailable("a real disk-full fault mounts a tmpfs and needs root; CI runs as root. "
                               "Run as root to prove behaviour on a full disk.")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        raise FaultUnavailable(f"cannot mount a tmpfs for the disk-full fault: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)
