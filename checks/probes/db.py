"""``db``: readiness of the database and its error rate; with ``--data-dir`` on the backend's host, the
file itself: ``PRAGMA integrity_check``, WAL size, and how long the write lock takes to get."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

from checks.context import Context
from checks.result import Result, Status, judge, skipped

__all__ = ["DB_FILE", "FILE_CHECKS", "check"]

DB_FILE = "backend.sqlite3"
FILE_CHECKS = ("db.integrity", "db.wal_size", "db.lock_wait")


def check(ctx: Context) -> list[Result]:
    limit = ctx.limits["db.errors_per_second"]
    _, ready = ctx.target.json("/ready")
    database = ready.get("checks", {}).get("database", {})
    if database.get("ok"):
        results = [Result("db.ready", Status.OK, "a write commits (the backend's readiness row)")]
    else:
        results = [
            Result(
                "db.ready",
                Status.FAIL,
                f"database {database.get('status', '?')}: {database.get('detail', 'no detail')}",
                runbook=limit.runbook,
            )
        ]
    window = ctx.window(limit)
    errors = window.increase("backend_db_errors_total")
    results.append(
        judge("db.errors", window.rate("backend_db_errors_total"), limit, f"{errors:.0f} database errors {window.over}")
    )
    if ctx.data_dir is None:
        why = "needs the backend's data directory: set BACKEND_DATA_DIR or pass --data-dir (on its host)"
        return [*results, *(skipped(name, why) for name in FILE_CHECKS)]
    results.extend(_file_checks(ctx, ctx.data_dir / DB_FILE))
    return results


def _file_checks(ctx: Context, path: Path) -> list[Result]:
    if not path.exists():  # a wrong setting, not a lost database: no runbook to restore from backup
        return [
            Result(
                "db.file",
                Status.ERROR,
                f"no {path.name} in {path.parent}: the database file is gone, "
                f"or --data-dir is not the backend's BACKEND_DATA_DIR",
            )
        ]
    results = []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=ctx.target.timeout)) as db:
            verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
        status = Status.OK if verdict == "ok" else Status.FAIL
        results.append(
            Result(
                "db.integrity",
                status,
                f"PRAGMA integrity_check: {verdict}",
                runbook="" if status is Status.OK else "database-unavailable",
            )
        )
    except sqlite3.Error as exc:
        results.append(
            Result("db.integrity", Status.ERROR, f"cannot read {path}: {exc}", runbook="database-unavailable")
        )
    wal = path.with_name(path.name + "-wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    results.append(judge("db.wal_size", wal_bytes, ctx.limits["db.wal_bytes"], f"{wal.name}"))
    results.append(_lock_wait(ctx, path))
    return results


def _lock_wait(ctx: Context, path: Path) -> Result:
    """Time to take (and at once release) the write lock: what a writer would wait right now."""
    limit = ctx.limits["db.lock_wait_seconds"]
    started = time.perf_counter()
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=ctx.target.timeout, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            waited = time.perf_counter() - started
            db.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):  # a read-only file or volume, not a holder
            return Result("db.lock_wait", Status.ERROR, f"cannot take the write lock: {exc}", runbook=limit.runbook)
        return Result(
            "db.lock_wait",
            Status.FAIL,
            f"no write lock within {ctx.target.timeout:g} s ({exc}); another process holds it",
            ctx.target.timeout,
            "seconds",
            limit.describe(),
            limit.runbook,
        )
    return judge("db.lock_wait", waited, limit, "BEGIN IMMEDIATE; ROLLBACK")
