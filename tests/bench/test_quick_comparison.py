"""`make bench-quick` prints its figures against the committed baselines and flags, without failing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.bench.__main__ import print_comparison

FIGURES = {
    "api.mixed.p99_seconds": (0.013, "seconds", 100),  # 2x the baseline latency: worse
    "api.throughput.cache_read_rps": (2000.0, "per_second", 1),  # half the baseline rate: worse
    "api.throughput.cache_read_p99_seconds": (0.011, "seconds", 1),  # 10 % slower: noise
    "cache.zipf.hit_ratio": (0.99, "ratio", 100),  # same
    "api.mixed.achieved_rps": (300.0, "per_second", 3000),  # quick offers 300/s: set by size, not compared
}


def _baselines(path: Path) -> None:
    metrics = {
        "api.mixed.p99_seconds": 0.0065,
        "api.throughput.cache_read_rps": 4000.0,
        "api.mixed.achieved_rps": 1000.0,
        "api.throughput.cache_read_p99_seconds": 0.010,
        "cache.zipf.hit_ratio": 0.99,
    }
    path.write_text(
        json.dumps(
            {
                "generated_at": "2026-11-26T21:35:45+00:00",
                "commit": "7a54ea9",
                "machine": {"cpus": 2},
                "metrics": {k: {"value": v, "unit": "x"} for k, v in metrics.items()},
            }
        )
    )


def test_quick_comparison_flags_regressions_in_the_right_direction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Assert a doubled p99 and a halved rate are flagged, 10 % noise and an equal figure are not, a
    size-bound figure is not compared, and it never fails."""
    _baselines(tmp_path / "baselines.json")
    print_comparison(FIGURES, tmp_path)
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(("api.", "cache."))}
    assert "2.00x" in lines["api.mixed.p99_seconds"] and "worse" in lines["api.mixed.p99_seconds"]
    assert "0.50x" in lines["api.throughput.cache_read_rps"] and "worse" in lines["api.throughput.cache_read_rps"]
    assert "worse" not in lines["api.throughput.cache_read_p99_seconds"]
    assert "worse" not in lines["cache.zipf.hit_ratio"]
    assert "api.mixed.achieved_rps" not in lines  # a lower offered rate is not a regression
    assert "2026-11-26 21:35 UTC, commit 7a54ea9" in out


def test_quick_comparison_without_baselines_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Assert a checkout with no baselines file prints the command that makes one, and still never fails."""
    print_comparison(FIGURES, tmp_path)
    assert "run `make bench`" in capsys.readouterr().out
