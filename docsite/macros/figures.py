"""Macros over measured figures (``results/baselines.json``, ``recovery.json``, ``soak.json``):
one figure with its provenance, an area's table with targets, the run's provenance and misses."""

from __future__ import annotations

from checks.thresholds import format_value
from docsite.data import MacroSource, not_measured
from docsite.macros.charts import rss_chart
from scripts import results

__all__ = ["FigureMacros", "machine"]


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a bare ``|`` would end the cell."""
    return text.replace("|", "\\|")


def machine(file: results.ResultFile) -> str:
    m = file.machine
    return f"{m.get('cores', '?')} cores, Python {m.get('python', '?')}, {m.get('os', '?')}"


class FigureMacros(MacroSource):
    def _figure(self, key: str, file: results.ResultFile | None, command: str) -> str:
        try:
            declared = results.figure(key)
        except results.UnknownFigure as exc:
            raise self.data.error(str(exc)) from None
        if declared.command != command:
            raise self.data.error(f"{key!r} is measured by `{declared.command}`, not `{command}`")
        if file is None or key not in file.metrics:
            return not_measured(command)
        text = f"{format_value(file.metrics[key].value, declared.unit)} ({file.stamp})"
        if self.data.is_stale(file):
            text += (
                f" :material-alert: *stale: measured {file.age_days(self.data.now):.0f} days ago; rerun `{command}`*"
            )
        return text

    def baseline(self, key: str) -> str:
        """One benchmark figure with when and where it was measured."""
        return self._figure(key, self.data.baselines, "make bench")

    def recovery(self, key: str) -> str:
        """One fault-drill figure with when and where it was measured."""
        return self._figure(key, self.data.recovery, "make drill")

    def baseline_area(self, prefix: str) -> str:
        """Every recorded figure under ``prefix`` with its target and whether the run met it."""
        if self.data.baselines is None:
            return not_measured("make bench")
        rows = {k: v for k, v in self.data.baselines.data.get("metrics", {}).items() if k.startswith(prefix)}
        if not rows:
            raise self.data.error(f"no baseline figures under {prefix!r} in {self.data.baselines.path}")
        lines = ["| figure | measured | samples | target | met |", "|---|---|---|---|---|"]
        for key, m in sorted(rows.items()):
            met = {True: ":material-check: yes", False: ":material-close: **missed**", None: ""}[m.get("met")]
            lines.append(
                f"| `{key}` | {format_value(m['value'], m['unit'])} | {m.get('samples', '')} | "
                f"{_cell(m.get('target_text') or '')} | {met} |"
            )
        return "\n".join(lines)

    def bench_provenance(self) -> str:
        """When, on what machine and with which tools the benchmarks ran."""
        if self.data.baselines is None:
            return not_measured("make bench")
        tools = ", ".join(f"{k} {v}" for k, v in self.data.baselines.data.get("tools", {}).items())
        return f"Measured {self.data.baselines.stamp}, on {machine(self.data.baselines)}; {tools}."

    def bench_findings(self) -> str:
        """The targets the latest run missed, as a list; or that it met them all."""
        if self.data.baselines is None:
            return not_measured("make bench")
        metrics = self.data.baselines.data.get("metrics", {})
        missed = [(k, m) for k, m in metrics.items() if m.get("met") is False]
        if not missed:
            return "Every figure with a target met it."
        return "\n".join(
            f"- `{k}`: {format_value(m['value'], m['unit'])}, target {m['target_text']}" for k, m in missed
        )

    def soak_projection(self, hours: float = 8, rate: float = 1000) -> str:
        """What each recorded soak's slope bound says about ``hours`` at ``rate`` requests per second:
        growth = bound (bytes per 1,000 operations) x the operations, labelled a projection."""
        operations = hours * 3600 * rate
        runs = [
            (f"compressed soak, `make bench` ({self.data.baselines.stamp})", self.data.baselines)
            if self.data.baselines
            else None,
            (f"{self.data.soak.data.get('hours')}-hour soak, `make soak` ({self.data.soak.stamp})", self.data.soak)
            if self.data.soak
            else None,
        ]
        lines = [
            f"Projected RSS growth over {hours:g} hours at {rate:,.0f} requests per second "
            f"({operations / 1e6:.1f} M operations): a **projection** from each run's slope bound "
            "(|slope| + 2 standard errors), not a measurement of that many hours.",
            "",
            "| from the run | operations measured | slope per 1,000 operations | bound | projected growth |",
            "|---|---|---|---|---|",
        ]
        for label, run in filter(None, runs):
            metrics = run.metrics
            if "memory.soak.slope_bound_bytes_per_kop" not in metrics:
                raise self.data.error(f"no memory.soak.slope_bound_bytes_per_kop in {run.path}")
            bound = metrics["memory.soak.slope_bound_bytes_per_kop"].value
            done = metrics["memory.soak.requests"].value + metrics["memory.soak.ws_cycles"].value
            lines.append(
                f"| {label} | {done / 1e6:.2f} M | "
                f"{format_value(metrics['memory.soak.slope_bytes_per_kop'].value, 'bytes')} | "
                f"{format_value(bound, 'bytes')} | {format_value(bound * operations / 1000, 'bytes')} |"
            )
        if len(lines) == 4:
            return not_measured("make bench")
        return "\n".join(lines)

    def soak_report(self) -> str:
        """The latest `make soak HOURS=N` run: its figures and RSS chart, or how to run it."""
        soak = self.data.soak
        if soak is None:
            return not_measured("make soak HOURS=8")
        lines = [
            f"{soak.data.get('hours')} hours, {soak.stamp}, on {machine(soak)}.",
            "",
            "| figure | measured |",
            "|---|---|",
        ]
        lines += [f"| `{k}` | {format_value(m.value, m.unit)} |" for k, m in soak.metrics.items()]
        return "\n".join(lines) + "\n\n" + rss_chart(self.data, soak)
