"""Results for people (a rich table, colour when the terminal has it) and for machines (JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table

from checks.result import Result, Status
from checks.runner import PageRun
from checks.thresholds import Threshold, format_value

__all__ = ["overall", "results_json", "results_table", "run_report", "thresholds_table"]

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
