"""Unit tests of rates and histogram quantiles over parsed exposition text."""

from __future__ import annotations

import math

import pytest

from checks.promql import Window, histogram_quantile, parse

EXPOSITION = """\
# TYPE t_seconds histogram
t_seconds_bucket{route="/a",le="0.1"} {a1}
t_seconds_bucket{route="/a",le="1.0"} {a2}
t_seconds_bucket{route="/a",le="+Inf"} {a3}
t_seconds_count{route="/a"} {a3}
t_seconds_sum{route="/a"} 1.0
# TYPE r_total counter
r_total{status="200"} {ok}
r_total{status="500"} {bad}
"""


def snap(t: float, a1: int, a2: int, a3: int, ok: int, bad: int):
    text = EXPOSITION
    for name, value in {"a1": a1, "a2": a2, "a3": a3, "ok": ok, "bad": bad}.items():
        text = text.replace("{" + name + "}", str(value))
    return parse(text, t)


def test_quantile_interpolates_inside_the_bucket() -> None:
    """Assert p50 of 100 observations, 50 under 0.1 s and 50 in (0.1, 1], is 0.1 and p95 is 0.91."""
    buckets = {0.1: 50.0, 1.0: 100.0, math.inf: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.1 + 0.9 * 0.9)
    assert histogram_quantile(0.95, {0.1: 0.0, math.inf: 0.0}) is None
    assert histogram_quantile(0.99, {0.1: 1.0, 1.0: 1.0, math.inf: 5.0}) == 1.0  # in +Inf: highest finite bound


def test_window_rates_and_bucket_increase() -> None:
    """Assert increases, rates and per-window buckets, and that a counter reset counts from zero."""
    window = Window(snap(0.0, 10, 20, 20, 100, 1), snap(2.0, 10, 30, 31, 140, 3))
    assert window.increase("r_total") == 42 and window.rate("r_total") == 21
    assert window.increase("r_total", lambda labels: labels["status"] == "500") == 2
    assert window.bucket_increase("t_seconds") == {0.1: 0.0, 1.0: 10.0, math.inf: 11.0}
    restarted = Window(snap(0.0, 0, 0, 0, 500, 0), snap(1.0, 0, 0, 0, 7, 0))
    assert restarted.increase("r_total") == 7
