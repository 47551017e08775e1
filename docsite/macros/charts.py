"""Chart macros over the benchmark results: latency percentiles, throughput, capacity, soak, history.

Drawing is in :mod:`docsite.svg`; here only which numbers go into which chart. A chart whose data
the results lack fails the build naming the page; with no results at all it shows the empty state.
"""

from __future__ import annotations

from typing import Any

from checks.thresholds import format_value
from docsite import svg
from docsite.data import MacroSource, SiteData, not_measured
from scripts import results

__all__ = ["ChartMacros", "rss_chart"]


def rss_chart(data: SiteData, source: results.ResultFile) -> str:
    """RSS against the work done since the start, from ``source``'s soak samples."""
    points = source.data.get("details", {}).get("memory.soak.rss")
    if not points:
        raise data.error(f"no memory.soak.rss samples in {source.path}")
    return svg.lines(
        "server RSS during the soak, after warm-up",
        {"RSS of the server process": [(x, y) for x, y in points]},
        "thousands of operations (requests + WebSocket cycles)",
        lambda v: f"{v / 2**20:.1f} MiB",
        lambda x: f"{x:,.0f}k",
    )


class ChartMacros(MacroSource):
    def _metrics(self) -> dict[str, Any]:
        return dict(self.data.baselines.data.get("metrics", {})) if self.data.baselines else {}

    def _details(self, key: str) -> Any:
        """A chart's points from the baselines' ``details``; a missing key fails the build."""
        details = self.data.baselines.data.get("details", {}) if self.data.baselines else {}
        if key not in details:
            raise self.data.error(f"no details {key!r} in {results.BASELINES}; rerun `make bench`")
        return details[key]

    def latency_chart(self, prefix: str) -> str:
        """Bars of p50/p95/p99/max under ``prefix`` (log scale: max is often 10x p99)."""
        if self.data.baselines is None:
            return not_measured("make bench")
        metrics = self._metrics()
        rows = [
            (q, metrics[f"{prefix}.{q}_seconds"]["value"])
            for q in ("p50", "p95", "p99", "max")
            if f"{prefix}.{q}_seconds" in metrics
        ]
        if not rows:
            raise self.data.error(f"no latency percentiles under {prefix!r}")
        return svg.bars(
            f"{prefix} latency percentiles, log scale",
            [(q, v, f"{v * 1000:.1f} ms") for q, v in rows],
            log=True,
            label_width=40,
        )

    def throughput_chart(self) -> str:
        """Requests per second under wrk: the framework's hello-world, then each endpoint with its ratio."""
        if self.data.baselines is None:
            return not_measured("make bench")
        metrics = self._metrics()
        if "api.throughput.hello_rps" not in metrics:
            raise self.data.error(f"no api.throughput figures in {results.BASELINES}")
        hello = metrics["api.throughput.hello_rps"]["value"]
        rows = [("hello-world (FastAPI)", hello, f"{hello:,.0f} req/s")]
        for key, m in metrics.items():
            if key.startswith("api.throughput.") and key.endswith("_rps") and key != "api.throughput.hello_rps":
                name = key.removeprefix("api.throughput.").removesuffix("_rps").replace("_", " ")
                rows.append((name, m["value"], f"{m['value']:,.0f} req/s ({m['value'] / hello:.0%})"))
        return svg.bars("requests per second under wrk, by endpoint", rows)

    def capacity_chart(self) -> str:
        """Open-loop p99 at each offered rate of the capacity searches (sharing the cores; the server
        and the generator each on its own; two instances sharing the server's), with the 25 ms line."""
        if self.data.baselines is None:
            return not_measured("make bench")
        series = {
            label: [(rate, p99) for rate, p99, *_ in self._details(key)]
            for label, key in (
                ("p99, generator and server sharing both cores", "api.capacity.steps"),
                ("p99, server on CPU 0, generator on CPU 1", "api.capacity_pinned.steps"),
                ("p99, two instances of a fleet on CPU 0, generator on CPU 1", "fleet.capacity_pinned.steps"),
            )
        }
        limit = float(self._metrics()["api.mixed.p99_seconds"]["target"])  # the run judged steps by it
        return svg.lines(
            "API p99 by offered rate (capacity search)",
            series,
            "offered rate (requests per second)",
            lambda v: f"{v * 1000:.0f} ms",
            lambda x: f"{x:,.0f}/s",
            limit=(limit, f"{limit * 1000:.0f} ms target"),
        )

    def hit_ratio_chart(self) -> str:
        """Steady-state hit ratio of the read-through cache by its size: LRU, W-TinyLFU and Belady's
        optimum offline over the recorded trace, and the live cache at the size it ran with."""
        if self.data.baselines is None:
            return not_measured("make bench")
        sweep = self._details("cache.trace.sweep")
        metrics = self._metrics()
        series = {
            name: [(row[0], row[i]) for row in sweep]
            for i, name in enumerate(
                ("LRU (simulated)", "Belady's optimum (simulated)", "W-TinyLFU, theine (simulated)"), start=1
            )
        }
        series["live backend (LRU)"] = [
            (metrics["cache.trace.size"]["value"], metrics["cache.trace.live_hit_ratio"]["value"])
        ]
        return svg.lines(
            "read-through cache: hit ratio by size, steady state",
            series,
            f"entries held (of {metrics['cache.trace.keys']['value']:,.0f} keys)",
            lambda v: f"{v:.0%}",
            lambda x: f"{x:,.0f}",
            limit=(0.9, "90 %"),
        )

    def soak_chart(self) -> str:
        """Server RSS after each measured phase of the latest `make bench` soak."""
        if self.data.baselines is None:
            return not_measured("make bench")
        return rss_chart(self.data, self.data.baselines)

    def soak_growth(self) -> str:
        """tracemalloc's lines that grew most over the soak's traced phases, as a list."""
        if self.data.baselines is None:
            return not_measured("make bench")
        return "\n".join(f"- `{line}`" for line in self._details("memory.soak.top_growth"))

    def history_chart(self, key: str) -> str:
        """``key`` across the recorded runs (oldest first), the latest run last."""
        try:
            unit = results.figure(key).unit
        except results.UnknownFigure as exc:
            raise self.data.error(str(exc)) from None
        baselines = self.data.baselines
        if baselines is None:
            return not_measured("make bench")
        runs = [
            *baselines.data.get("history", []),
            {
                "generated_at": baselines.data["generated_at"],
                "commit": baselines.commit,
                "metrics": {k: m["value"] for k, m in self._metrics().items()},
            },
        ]
        points = [(i + 1, run["metrics"][key]) for i, run in enumerate(runs) if key in run["metrics"]]
        if not points:
            raise self.data.error(f"{key!r} is in no recorded run")

        def run_label(x: float) -> str:
            run = runs[int(x) - 1]
            return f"{str(run.get('generated_at', ''))[:10]} {str(run.get('commit', ''))[:7]}"

        latest = f"{key}, latest {format_value(points[-1][1], unit)}"
        return svg.lines(
            f"{key} across runs",
            {latest: points},
            f"{len(runs)} runs, oldest to latest",
            lambda v: format_value(v, unit),
            run_label,
        )
