"""What every drill measures the same way: the broadcasts every client should have and has not, the
acknowledged writes that do not read back or were stored twice, the first probe that met a
condition; and the settings the drills' backends run with."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable

from scripts import live
from scripts.drill.outcome import DrillResult
from scripts.drill.traffic import Traffic

__all__ = ["DRILL_SETTINGS", "account", "first_sample", "settle"]


def settle(parts: Traffic, result: DrillResult, timeout: float = 15) -> None:
    """After recovery: wait until every client has the newest broadcast, then count broadcasts lost.

    Beside the count go the figures that tell a loss's cause apart: how many clients miss something,
    which sequence numbers, and how many broadcasts the backend acknowledged without saving them.
    """
    missing = parts.settled(timeout)
    newest = parts.publisher.acked[-1]
    result.ws_messages_lost = sum(len(gone) for gone in missing)
    result.figures["broadcasts_not_durable"] = len(parts.publisher.not_durable)
    if result.ws_messages_lost:
        gone = set().union(*missing)
        result.figures.update(
            clients_missing_broadcasts=sum(1 for seqs in missing if seqs),
            first_missing_seq=min(gone),
            last_missing_seq=max(gone),
            newest_acked_seq=newest,
        )


def account(result: DrillResult, parts: Traffic) -> None:
    """Fill in what the writer lost or duplicated, read back through the API and from the file."""
    result.writes_acked = len(parts.writer.acked)
    result.writes_lost = len(parts.writes_lost())
    database = f"file:{parts.backend.data_dir / 'backend.sqlite3'}?mode=ro"
    with contextlib.closing(sqlite3.connect(database, uri=True)) as db:
        result.writes_duplicated = db.execute(
            "SELECT count(*) FROM (SELECT json_extract(body, '$.seq') s FROM items "
            "WHERE json_extract(body, '$.drill') = ? GROUP BY s HAVING count(*) > 1)",
            (parts.writer.run_id,),
        ).fetchone()[0]
        result.targets["PRAGMA integrity_check ok"] = db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    result.client_errors = parts.errors()
    result.targets["0 acknowledged writes lost"] = result.writes_lost == 0
    result.targets["0 duplicate writes"] = result.writes_duplicated == 0


# The drills time detection and recovery, so they probe faster than the harness base and ping
# their clients each second (the settings results/recovery.json was measured with).
DRILL_SETTINGS: dict[str, object] = {
    **live.HARNESS_SETTINGS,
    "cache_probe_interval": 0.2,
    "memory_check_interval": 0.1,
    "ws_ping_interval": 1,
    "ws_ping_timeout": 2,
    "log_level": "warning",
}


def first_sample(parts: Traffic, after: float, predicate: Callable[[int, str], bool], timeout: float) -> float | None:
    """Seconds from ``after`` to the prober's first sample that meets ``predicate`` (status, failing)."""
    live.seconds_until(lambda: parts.prober.first(after, predicate) is not None, timeout)
    return parts.prober.first(after, predicate)
