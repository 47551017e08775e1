"""Result files under ``results/``: typed loading with provenance, and the provenance writers stamp.

``baselines.json`` (``make bench``) and ``recovery.json`` (``make drill``) are committed;
``test-runs.json`` is written by every ``make test`` and git-ignored. A malformed file is a
:class:`ResultsError` naming its path, so the site build fails instead of printing a wrong figure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["BASELINES", "RECOVERY", "REPO", "SOAK", "TEST_RUNS", "Measurement", "ResultFile", "ResultsError",
           "load", "provenance"]

REPO = Path(__file__).resolve().parent.parent
# Overridable so the site-build tests can feed the macros missing or malformed files.
RESULTS_DIR = Path(os.environ.get("RUNBOOK_RESULTS_DIR", REPO / "results"))
BASELINES = RESULTS_DIR / "baselines.json"
RECOVERY = RESULTS_DIR / "recovery.json"
SOAK = RESULTS_DIR / "soak.json"  # only from `make soak HOURS=N`
TEST_RUNS = RESULTS_DIR / "test-runs.json"


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
        changes = " with uncommitted changes" if self.commit.endswith("-dirty") else ""
        return f"{self.generated_at:%Y-%m-%d %H:%M} UTC, commit {self.commit[:7]}{changes}"


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
    try:
        generated = dt.datetime.fromisoformat(str(data["generated_at"]))
    except ValueError:
        raise ResultsError(f"{path}: generated_at {data['generated_at']!r} is not an ISO date") from None
    if generated.tzinfo is None:
        generated = generated.replace(tzinfo=dt.UTC)
    metrics: dict[str, Measurement] = {}
    for key, raw in (data.get("metrics") or {}).items():
        try:
            metrics[key] = Measurement(float(raw["value"]), str(raw["unit"]), raw.get("target"), raw.get("samples"))
        except (KeyError, TypeError, ValueError):
            raise ResultsError(f"{path}: metrics.{key} needs a numeric value and a unit") from None
    return ResultFile(path, generated, str(data["commit"]), dict(data["machine"]), metrics, data)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=False)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def provenance() -> dict[str, Any]:
    """What every results file carries: when, which commit (dirty or not), which machine."""
    dirty = _git("status", "--porcelain", "--untracked-files=no") not in ("", "unknown")
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD") + ("-dirty" if dirty else ""),
        "machine": {
            "node": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}",
        },
    }
