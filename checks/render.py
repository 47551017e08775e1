"""Results for people (a rich table, colour when the terminal has it) and for machines (JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table

from checks.result import Result, Status
from checks.runner import PageRun
from checks.thresholds import Threshold, format_value

__all__ = ["overall", "results_json", "results_plain", "results_table", "run_report", "thresholds_plain",
           "thresholds_table"]

STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.ERROR: "magenta"}


def overall(results: Sequence[Result]) -> Status:
    return max((r.status for r in results), key=lambda s: s.rank, default=Status.OK)


def results_table(console: Console, target: str, results: Sequence[Result]) -> None:
    table = Table(title=f"checks against {target}", title_justify="left")
    for column in ("check", "status", "reading", "limit", "detail", "runbook"):
        table.add_column(column, overflow="fold")
    for r in results:
        runbook = f"runbooks/{r.runbook}.md" if r.runbook else ""
        table.add_row(r.check, f"[{STYLE[r.status]}]{r.status.value}[/]", r.reading, r.threshold, r.detail, runbook)
    console.print(table)
    console.print(f"overall: [{STYLE[overall(results)]}]{overall(results).value}[/]")


def results_plain(target: str, results: Sequence[Result]) -> str:
    """One line per result, for pipes, logs and pages: ``status check reading limit detail [-> runbook]``."""
    lines = [f"checks against {target}"]
    for r in results:
        runbook = f"  -> runbooks/{r.runbook}.md" if r.runbook else ""
        lines.append(f"{r.status.value:<5} {r.check:<18} {r.reading:>9} {r.threshold:<11} {r.detail}{runbook}".rstrip())
    lines.append(f"overall: {overall(results).value}")
    return "\n".join(lines)


def thresholds_plain(limits: Mapping[str, Threshold]) -> str:
    lines = [f"{t.key:<28} {t.comparison} {format_value(t.value, t.unit):<10} for {t.for_:<4} {t.severity:<8} "
             f"runbooks/{t.runbook}.md" for t in limits.values()]
    return "\n".join(lines)


def results_json(target: str, results: Sequence[Result]) -> str:
    return json.dumps({"target": target, "status": overall(results).value,
                       "results": [r.to_json() for r in results]}, indent=2)


def thresholds_table(console: Console, limits: Mapping[str, Threshold]) -> None:
    table = Table(title="thresholds (checks/thresholds.yaml)", title_justify="left")
    for column in ("key", "limit", "for", "severity", "runbook", "why"):
        table.add_column(column, overflow="fold")
    for t in limits.values():
        table.add_row(t.key, f"{t.comparison} {format_value(t.value, t.unit)}", t.for_, t.severity,
                      t.runbook, t.why)
    console.print(table)


def run_report(console: Console, run: PageRun) -> None:
    for outcome in run.outcomes:
        mark = "[green]ok[/]" if outcome.passed else "[bold red]DIFFERS[/]"
        console.print(f"{mark} {run.path}:{outcome.step.line} $ {outcome.step.command.splitlines()[0]}",
                      highlight=False, markup=True)
        if not outcome.passed:
            console.print(outcome.report(run.path), highlight=False, markup=False)
    for line, reason in run.skipped:
        console.print(f"[yellow]skipped[/] {run.path}:{line} ({reason})", highlight=False)
    console.print(run.summary(), highlight=False, markup=False)
