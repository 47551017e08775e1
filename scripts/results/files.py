"""Reading result files: typed, with provenance, and rejected with their path when malformed.

``baselines.json`` (``make bench``), ``recovery.json`` (``make drill``) and ``soak.json``
(``make soak HOURS=N``) are committed; ``test-runs.json`` is written by every ``make test`` and
git-ignored. A malformed file is a :class:`ResultsError` naming its path, so the site build fails
instead of printing a wrong figure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

__all__ = [
    "BASELINES",
    "DEFAULT_DIR",
    "RECOVERY",
    "REPO",
    "SOAK",
    "TEST_RUNS",
    "Measurement",
    "ResultFile",
    "ResultsError",
    "load",
    "parse_time",
    "stamp",
]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO / "results"
# file names inside a results directory
BASELINES = "baselines.json"
RECOVERY = "recovery.json"
SOAK = "soak.json"
TEST_RUNS = "test-runs.json"


class ResultsError(ValueError):
    """A results file exists but cannot be trusted; the message names the path and the field."""


@dataclasses.dataclass(frozen=True)
class Measurement:
    value: float
    unit: str
    target: float | None = None
    samples: int | None = None


@dataclasses.dataclass(frozen=True)
class ResultFile:
    """One results file: when and where it was produced, and its figures."""

    path: Path
    generated_at: dt.datetime
    commit: str
    machine: dict[str, Any]
    metrics: dict[str, Measurement]
    data: dict[str, Any]

    def age_days(self, now: dt.datetime | None = None) -> float:
        now = now or dt.datetime.now(dt.UTC)
        return (now - self.generated_at).total_seconds() / 86400

    @property
    def stamp(self) -> str:
        return stamp(self.generated_at, self.commit)


def parse_time(value: object, where: str) -> dt.datetime:
    """An ISO time from a results file (UTC when it has no zone); :class:`ResultsError` naming ``where``."""
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ResultsError(f"{where} {value!r} is not an ISO date") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def stamp(when: dt.datetime, commit: str) -> str:
    """``2026-11-26 12:00 UTC, commit abcdef1``: when and from what a figure or a proof came."""
    changes = " with uncommitted changes" if commit.endswith("-dirty") else ""
    return f"{when:%Y-%m-%d %H:%M} UTC, commit {commit[:7]}{changes}"


def load(path: Path) -> ResultFile | None:
    """The parsed file, or None when it does not exist (not measured yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    for field in ("generated_at", "commit", "machine"):
        if field not in data:
            raise ResultsError(f"{path}: missing provenance field {field!r}")
    generated = parse_time(data["generated_at"], f"{path}: generated_at")
    metrics: dict[str, Measurement] = {}
    for key, raw in (data.get("metrics") or {}).items():
        try:
            metrics[key] = Measurement(float(raw["value"]), str(raw["unit"]), raw.get("target"), raw.get("samples"))
        except (KeyError, TypeError, ValueError):
            raise ResultsError(f"{path}: metrics.{key} needs a numeric value and a unit") from None
    return ResultFile(path, generated, str(data["commit"]), dict(data["machine"]), metrics, data)
