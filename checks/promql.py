"""The few PromQL ideas the checks need, over parsed exposition text: sums, rates, histogram quantiles.

Pure functions over samples parsed by ``prometheus_client``'s parser; unit-tested against
hand-computed buckets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Snapshot", "Window", "histogram_quantile", "parse"]

Labels = Mapping[str, str]
LabelFilter = Callable[[Labels], bool]


def _any(labels: Labels) -> bool:
    return True


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """One scrape: every sample, and the monotonic time it was taken."""

    samples: tuple[tuple[str, dict[str, str], float], ...]
    taken_at: float

    def families(self) -> set[str]:
        return {name for name, _, _ in self.samples}

    def sum(self, name: str, where: LabelFilter = _any) -> float:
        return sum(value for n, labels, value in self.samples if n == name and where(labels))

    def has(self, name: str) -> bool:
        return any(n == name for n, _, _ in self.samples)

    def buckets(self, name: str, where: LabelFilter = _any) -> dict[float, float]:
        """Cumulative counts per upper bound ``le`` of histogram ``name``, summed over matching series."""
        out: dict[float, float] = {}
        for n, labels, value in self.samples:
            if n == f"{name}_bucket" and where(labels):
                le = float(labels["le"])
                out[le] = out.get(le, 0.0) + value
        return out


def parse(text: str, taken_at: float) -> Snapshot:
    """Parse exposition text; raises ValueError on malformed input."""
    samples = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.append((sample.name, dict(sample.labels), float(sample.value)))
    return Snapshot(tuple(samples), taken_at)


@dataclasses.dataclass(frozen=True)
class Window:
    """Two scrapes of the same target: what happened between them."""

    before: Snapshot
    after: Snapshot
    sampled: bool = False  # True: two live scrapes a short interval apart (the target keeps no history)

    @property
    def seconds(self) -> float:
        return max(self.after.taken_at - self.before.taken_at, 1e-9)

    @property
    def over(self) -> str:
        """How a reader should take the figure: ``in the last 60 s``, or the short sample it is."""
        if self.sampled:
            return f"in a {self.seconds:.1f} s sample (the backend keeps no metrics history)"
        return f"in the last {self.seconds:.0f} s"

    def increase(self, name: str, where: LabelFilter = _any) -> float:
        """Growth of a counter; a reset (the server restarted) counts from zero, as Prometheus does."""
        before, after = self.before.sum(name, where), self.after.sum(name, where)
        return after if after < before else after - before

    def rate(self, name: str, where: LabelFilter = _any) -> float:
        return self.increase(name, where) / self.seconds

    def bucket_increase(self, name: str, where: LabelFilter = _any) -> dict[float, float]:
        before, after = self.before.buckets(name, where), self.after.buckets(name, where)
        return {le: max(count - before.get(le, 0.0), 0.0) for le, count in after.items()}


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus' estimate: linear interpolation inside the bucket holding rank ``q * total``.

    ``buckets`` maps upper bound to cumulative count and must include ``+Inf``. Returns None when
    the histogram is empty. A rank in the ``+Inf`` bucket returns the highest finite bound.
    """
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return lower_bound
            inside = count - lower_count
            fraction = 0.0 if inside <= 0 else (rank - lower_count) / inside
            return lower_bound + (le - lower_bound) * fraction
        lower_bound, lower_count = le, count
    return lower_bound
