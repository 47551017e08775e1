"""Result files and macros over them, at a fixed ``NOW``, for the site's unit tests."""

from __future__ import annotations

import datetime as dt
import json
import types
from pathlib import Path

from checks.thresholds import load as load_thresholds
from docsite.data import SiteData
from docsite.macros import collect
from scripts import results

__all__ = ["NOW", "macros", "result_file", "stamped"]

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def result_file(tmp_path: Path, name: str, data: dict) -> results.ResultFile:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    loaded = results.load(path)
    assert loaded is not None
    return loaded


def stamped(days_old: float, **extra: object) -> dict:
    when = NOW - dt.timedelta(days=days_old)
    return {"generated_at": when.isoformat(), "commit": "abcdef1234567", "machine": {"cores": 2}, **extra}


def macros(baselines=None, test_runs=None, soak=None, recovery=None) -> types.SimpleNamespace:
    """Every macro by name, over the given result files, rendering ``runbooks/x.md`` at ``NOW``."""
    data = SiteData(load_thresholds(), baselines, recovery, soak, test_runs, now=NOW, page="runbooks/x.md")
    return types.SimpleNamespace(**collect(data), data=data)
