"""Statistics for the benchmarks: latency histograms (HdrHistogram), RSS slopes, run-to-run comparison."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable, Mapping, Sequence

from hdrh.histogram import HdrHistogram

__all__ = ["Comparison", "Latencies", "compare", "slope"]

MICROS = 1_000_000


class Latencies:
    """Seconds recorded at microsecond resolution, 3 significant digits, from 1 µs to 10 minutes."""

    def __init__(self) -> None:
        self._hist = HdrHistogram(1, 600 * MICROS, 3)

    def record(self, seconds: float) -> None:
        self._hist.record_value(max(1, round(seconds * MICROS)))

    def extend(self, values: Iterable[float]) -> None:
        for value in values:
            self.record(value)

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def percentile(self, q: float) -> float:
        """The value at percentile ``q`` (0-100), in seconds."""
        return float(self._hist.get_value_at_percentile(q)) / MICROS

    def summary(self) -> dict[str, float]:
        return {
            "p50": self.percentile(50),
            "p95": self.percentile(95),
            "p99": self.percentile(99),
            "max": self._hist.get_max_value() / MICROS,
            "count": self.count,
        }


def slope(points: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Least-squares slope of y over x, and its standard error (so "zero" can be stated with a bound)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    fit = statistics.linear_regression(xs, ys)
    residuals = [y - (fit.slope * x + fit.intercept) for x, y in points]
    spread = sum((x - statistics.fmean(xs)) ** 2 for x in xs)
    stderr = (sum(r * r for r in residuals) / max(len(points) - 2, 1) / spread) ** 0.5 if spread else float("inf")
    return fit.slope, stderr


@dataclasses.dataclass(frozen=True)
class Comparison:
    key: str
    current: float
    baseline: float
    ratio: float
    worse: bool


def compare(
    current: Mapping[str, float], baseline: Mapping[str, float], higher_is_better: set[str], tolerance: float = 0.25
) -> list[Comparison]:
    """Each shared figure as current/baseline; ``worse`` only beyond ``tolerance``, so noise is not a failure."""
    rows = []
    for key in sorted(current.keys() & baseline.keys()):
        if not baseline[key]:
            continue
        ratio = current[key] / baseline[key]
        worse = ratio < 1 - tolerance if key in higher_is_better else ratio > 1 + tolerance
        rows.append(Comparison(key, current[key], baseline[key], ratio, worse))
    return rows
