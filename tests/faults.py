"""Real faults the tests make on this machine (root needed), cleaned up in every case."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    """Mount a tmpfs of ``size`` at ``path``: a filesystem that really fills up (ENOSPC)."""
    if os.geteuid() != 0:
        pytest.fail("this real disk-full test mounts a tmpfs and needs root; CI runs as root. "
                    "Run `make test` as root to prove behaviour on a full disk.")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)
