"""Unit tests of the benchmark statistics."""

from __future__ import annotations

import random

import pytest

from scripts.bench.stats import Latencies, compare, slope


def test_latency_percentiles_within_histogram_precision() -> None:
    """Assert p50/p99/max of 1..1000 ms come back within HdrHistogram's 3 significant digits."""
    lat = Latencies()
    lat.extend(ms / 1000 for ms in range(1, 1001))
    summary = lat.summary()
    assert summary["count"] == 1000
    assert summary["p50"] == pytest.approx(0.500, rel=1e-3)
    assert summary["p99"] == pytest.approx(0.990, rel=1e-3)
    assert summary["max"] == pytest.approx(1.000, rel=1e-3)


def test_slope_finds_growth_and_bounds_flat_noise() -> None:
    """Assert a 10 B/op leak is found, and flat noise gives a slope within two standard errors of zero."""
    rng = random.Random(3)
    growing = [(x, 1000 + 10 * x + rng.gauss(0, 5)) for x in range(100)]
    found, err = slope(growing)
    assert found == pytest.approx(10, abs=0.1) and err < 0.1
    flat = [(x, 1000 + rng.gauss(0, 5)) for x in range(100)]
    found, err = slope(flat)
    assert abs(found) < 2 * err + 1e-9


def test_compare_flags_only_beyond_tolerance_in_the_right_direction() -> None:
    """Assert a 30 % slower latency or a 30 % lower hit ratio is flagged; 10 % noise is not."""
    rows = {
        r.key: r
        for r in compare(
            {"lat": 1.3, "hit": 0.6, "noise": 1.1}, {"lat": 1.0, "hit": 0.9, "noise": 1.0}, higher_is_better={"hit"}
        )
    }
    assert rows["lat"].worse and rows["hit"].worse and not rows["noise"].worse
    assert rows["lat"].ratio == pytest.approx(1.3)
