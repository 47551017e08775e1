"""Faults of the SQLite database: its write lock held elsewhere, its file gone."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from scripts.faults.base import Lift, Target, nothing_to_lift

__all__ = ["backup_of", "database_lost", "write_lock", "write_lock_holder"]


@contextlib.contextmanager
def write_lock_holder(db_path: Path, runner: Sequence[str] = ()) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the database's write lock, as a stuck backup or shell would; it lets
    go when the context ends, or when someone kills it (a runbook's mitigation). ``runner`` starts
    it on the backend's own host (``db_path`` named as that host names it)."""
    code = (
        "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\nsys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [*runner, "python3" if runner else sys.executable, "-c", code, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if proc.stdout is None or proc.stdout.readline().strip() != "locked":
            raise RuntimeError(f"the lock holder did not take {db_path}'s write lock")
        yield proc
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def write_lock(target: Target) -> Iterator[Lift]:
    """Another process holds SQLite's write lock (a stuck backup or shell)."""
    backend = target.backend
    with write_lock_holder(Path(backend.seen_there(backend.data_dir / "backend.sqlite3")), backend.runner()) as holder:
        yield holder.kill


def backup_of(data_dir: Path) -> Path:
    """Where last night's online backup of the database is, beside the data directory."""
    return data_dir.parent / "backups" / "backend.sqlite3"


@contextlib.contextmanager
def database_lost(target: Target) -> Iterator[Lift]:
    """The database file deleted under the running server (an operator's `rm`, a bad cleanup job),
    after the nightly online backup was taken (the deployment guide's `.backup`). The backup runs
    on the backend's host: SQLite resolves the path's links, and the rehearsal host's data volume is
    mounted where only its own processes see it."""
    backend = target.backend
    data_dir = backend.data_dir
    backup = backup_of(data_dir)
    backup.parent.mkdir(exist_ok=True)
    runner = backend.runner()
    code = "import sqlite3, sys\nsqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))\n"
    database = backend.seen_there(data_dir / "backend.sqlite3")
    copied = subprocess.run(
        [*runner, "python3" if runner else sys.executable, "-c", code, database, backend.seen_there(backup)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if copied.returncode != 0:
        raise RuntimeError(f"the nightly backup of {database} failed: {copied.stderr.strip()[-300:]}")
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"backend.sqlite3{suffix}").unlink(missing_ok=True)
    yield nothing_to_lift
