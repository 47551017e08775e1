"""The one writer of result files: provenance, declared figures with their targets, and history.

Bench, soak, drills and the test run all write through :func:`write`, so every file carries the
same provenance (when, which commit, dirty or not, which machine) and every figure its declared
unit, target and verdict. A figure under an undeclared key, or with another unit than its
declaration, is refused: a page could not render it truthfully.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scripts.results.files import REPO, ResultsError, load
from scripts.results.schema import figure

__all__ = ["Recorded", "commit", "merge_rows", "provenance", "version", "write"]

Recorded = Mapping[str, tuple[float, str, int | None]]  # key -> (value, unit, samples)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=False)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def version() -> str:
    """The handbook's version, from ``pyproject.toml`` of this checkout (not an installed copy's)."""
    with (REPO / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def commit() -> str:
    """The checkout's commit, ``-dirty`` when tracked files have uncommitted changes; ``unknown`` without git."""
    dirty = _git("status", "--porcelain", "--untracked-files=no") not in ("", "unknown")
    return _git("rev-parse", "HEAD") + ("-dirty" if dirty else "")


def provenance() -> dict[str, Any]:
    """What every results file carries: when, which version and commit (dirty or not), which machine."""
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "version": version(),
        "machine": {
            "node": platform.node(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}",
        },
    }


def _metrics(recorded: Recorded) -> dict[str, dict[str, Any]]:
    out = {}
    for key, (value, unit, samples) in recorded.items():
        declared = figure(key)
        if unit != declared.unit:
            raise ResultsError(
                f"{key}: measured in {unit!r}, declared in {declared.unit!r} (scripts/results/schema.py)"
            )
        target = declared.target
        out[key] = {
            "value": value,
            "unit": unit,
            "samples": samples,
            "target": target[1] if target else None,
            "target_text": target[2] if target else None,
            "met": declared.met(value),
        }
    return out


def write(
    path: Path,
    recorded: Recorded,
    extra: Mapping[str, Any] | None = None,
    history: int = 50,
    stamp: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``path`` from this run: provenance (``stamp``, or taken now), ``recorded`` figures,
    ``extra`` fields, and the previous file's figures appended to its history (the last
    ``history`` runs kept)."""
    previous = load(path)
    past = list(previous.data.get("history", [])) if previous else []
    if previous and history:
        past.append(
            {
                "generated_at": previous.data["generated_at"],
                "commit": previous.commit,
                "metrics": {k: m.value for k, m in previous.metrics.items()},
            }
        )
    data = {
        **(stamp or provenance()),
        **(extra or {}),
        "metrics": _metrics(recorded),
        "history": past[-history:] if history else [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    written = path.with_name(f".{path.name}.{os.getpid()}")  # then renamed: a reader never sees half a file
    written.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(written, path)
    return data


def merge_rows(
    previous: Mapping[str, Mapping[str, Any]], rows: Mapping[str, Mapping[str, Any]], stamp: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Per-row results (pages, markers) of a partial run over the previous ones: each row keeps the
    time and commit of the run that produced it, so a notice never shows another row's stamp."""
    merged = {name: dict(row) for name, row in previous.items()}
    merged.update(
        {name: {**row, "generated_at": stamp["generated_at"], "commit": stamp["commit"]} for name, row in rows.items()}
    )
    return merged
