"""Whether a page's proof can be trusted today, from the rows of the test run that proved it.

A page is *failed* when a block or a game day of its latest run failed, *stale* when that run is
older than ``stale_after_days`` or ran on a commit that does not contain the page's last change
(``git log`` of the page), *missing* when no run proved it, else *passed*. Staleness comes from
execution, never from the page's own dates: a page edited after its proof is not proven any more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scripts import results

__all__ = ["Git", "PageProof", "State", "page_proof", "row_staleness"]


class State(enum.Enum):
    """Worst first: the order of the proof status page's sort within a date."""

    FAILED = "failed"
    MISSING = "not run"
    STALE = "stale"
    PASSED = "passed"


class Git:
    """The few questions asked of the checkout, each answered once per build; ``None`` when git
    cannot say (no git, not a checkout, a commit from another clone), which is never called stale."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._changes: dict[str, str | None] = {}
        self._contains: dict[tuple[str, str], bool | None] = {}

    def _run(self, *args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", *args], cwd=self.root, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None

    def last_change(self, path: str) -> str | None:
        """The commit that last changed ``path`` (repository-relative)."""
        if path not in self._changes:
            done = self._run("log", "-1", "--format=%H", "--", path)
            self._changes[path] = (done.stdout.strip() or None) if done and done.returncode == 0 else None
        return self._changes[path]

    def contains(self, commit: str, change: str) -> bool | None:
        """Whether ``commit`` has ``change`` in its history (``git merge-base --is-ancestor``)."""
        key = (commit, change)
        if key not in self._contains:
            done = self._run("merge-base", "--is-ancestor", change, commit.removesuffix("-dirty"))
            self._contains[key] = {0: True, 1: False}.get(done.returncode) if done else None
        return self._contains[key]


@dataclasses.dataclass(frozen=True)
class _Run:
    """One row of a test run: a page's blocks or one of its game days."""

    passed: bool
    when: dt.datetime
    commit: str


@dataclasses.dataclass(frozen=True)
class PageProof:
    page: str
    state: State
    blocks: tuple[int, int, int] | None  # passed, runnable (total - skipped), skipped
    gamedays: tuple[int, int]  # passed, run
    when: dt.datetime | None  # the oldest row's run: the proof is as old as its oldest part
    commit: str
    reasons: tuple[str, ...]


def _run(row: Mapping[str, Any], file: results.ResultFile, passed: bool) -> _Run:
    when = (
        results.parse_time(row["generated_at"], f"{file.path}: a row's generated_at")
        if "generated_at" in row
        else file.generated_at
    )
    return _Run(passed, when, str(row.get("commit", file.commit)))


def _stale_reasons(run: _Run, page: str, git: Git, now: dt.datetime, limit_days: float) -> list[str]:
    reasons = []
    age = (now - run.when).total_seconds() / 86400
    if age > limit_days:
        reasons.append(f"proven {age:.0f} days ago (limit {limit_days:g})")
    change = git.last_change(page)
    if change and git.contains(run.commit, change) is False:
        reasons.append(f"the page changed in commit {change[:7]}, after the proof's commit {run.commit[:7]}")
    return reasons


def row_staleness(
    row: Mapping[str, Any], file: results.ResultFile, page: str, git: Git, now: dt.datetime, limit_days: float
) -> list[str]:
    """Why one row of ``file`` (a page's blocks or one game day) no longer proves ``page``; empty if it does."""
    return _stale_reasons(_run(row, file, True), page, git, now, limit_days)


def page_proof(page: str, runs: results.ResultFile | None, git: Git, now: dt.datetime, limit_days: float) -> PageProof:
    """The state of ``page`` (repository-relative, ``runbooks/x.md`` or ``docs/x.md``) in ``runs``."""
    row = runs.data.get("pages", {}).get(page) if runs else None
    days = [d for d in (runs.data.get("gamedays", {}).values() if runs else []) if d.get("page") == page]
    parts: list[_Run] = []
    blocks = None
    if row is not None and runs is not None:
        skipped = int(row.get("skipped", 0))
        blocks = (int(row["passed"]), int(row["total"]) - skipped, skipped)
        parts.append(_run(row, runs, blocks[0] == blocks[1]))
    if runs is not None:
        parts += [_run(d, runs, bool(d.get("passed"))) for d in days]
    gamedays = (sum(bool(d.get("passed")) for d in days), len(days))
    if not parts:
        return PageProof(page, State.MISSING, None, gamedays, None, "", ("no test run proved this page",))
    oldest = min(parts, key=lambda r: r.when)
    reasons = sorted({reason for r in parts for reason in _stale_reasons(r, page, git, now, limit_days)})
    failed = [r for r in parts if not r.passed]
    state = State.FAILED if failed else State.STALE if reasons else State.PASSED
    return PageProof(page, state, blocks, gamedays, oldest.when, oldest.commit, tuple(reasons))
