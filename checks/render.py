"""Results for people (a rich table, colour when the terminal has it) and for machines (JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table

from checks.result import Result, Status
from checks.routing import instance_of, runbook_url, triage_url
from checks.runner import PageRun
from checks.thresholds import Threshold, format_value

__all__ = [
    "overall",
    "results_json",
    "results_plain",
    "results_table",
    "run_report",
    "thresholds_plain",
    "thresholds_table",
]

STYLE = {
    Status.OK: "green",
    Status.SKIP: "dim",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "magenta",
}


def overall(results: Sequence[Result]) -> Status:
    """The worst status found; a skipped row is not health, but not a finding either (it is counted)."""
    return max((r.status for r in results if r.status is not Status.SKIP), key=lambda s: s.rank, default=Status.OK)


def _first(results: Sequence[Result], site: str, target: str) -> str:
    """``open first: URL (row)`` for the top-ranked row that names a runbook, or nothing; the link
    carries the backend (``?instance=``) so the page's commands are filled in for it."""
    top = next((r for r in results if r.status.found_something and r.runbook), None)
    if top is None:
        found = next((r for r in results if r.status.found_something), None)
        return f"no page fits ({found.check} {found.status.value}): open {triage_url(site)}" if found else ""
    return f"open first: {runbook_url(site, top.runbook, instance_of(target))} ({top.check} {top.status.value})"


def _summary(results: Sequence[Result]) -> str:
    skips = sum(r.status is Status.SKIP for r in results)
    return f"overall: {overall(results).value}" + (f" ({skips} skipped: see their rows)" if skips else "")


def results_table(console: Console, target: str, results: Sequence[Result], site: str) -> None:
    if first := _first(results, site, target):
        console.print(first, style="bold", highlight=False)
    table = Table(title=f"checks against {target}", title_justify="left")
    for column in ("check", "status", "reading", "limit", "detail", "runbook"):
        table.add_column(column, overflow="fold")
    for r in results:
        runbook = runbook_url(site, r.runbook) if r.runbook else ""
        table.add_row(r.check, f"[{STYLE[r.status]}]{r.status.value}[/]", r.reading, r.threshold, r.detail, runbook)
    console.print(table)
    console.print(f"[{STYLE[overall(results)]}]{_summary(results)}[/]")


def results_plain(target: str, results: Sequence[Result], site: str) -> str:
    """One line per result, for pipes, logs and pages: ``status check reading limit detail [-> runbook]``,
    ranked (most likely cause first), under the runbook to open first."""
    lines = [f"checks against {target}"]
    if first := _first(results, site, target):
        lines.append(first)
    for r in results:
        runbook = f"  -> {runbook_url(site, r.runbook)}" if r.runbook else ""
        lines.append(f"{r.status.value:<5} {r.check:<18} {r.reading:>9} {r.threshold:<11} {r.detail}{runbook}".rstrip())
    lines.append(_summary(results))
    return "\n".join(lines)


def thresholds_plain(limits: Mapping[str, Threshold], site: str) -> str:
    """One line per limit, with the published page of its runbook (never a source path: it 404s there)."""
    lines = [
        f"{t.key:<28} {t.comparison} {format_value(t.value, t.unit):<10} for {t.for_:<4} {t.severity:<8} "
        f"{runbook_url(site, t.runbook)}"
        for t in limits.values()
    ]
    return "\n".join(lines)


def results_json(target: str, results: Sequence[Result], site: str) -> str:
    rows = [
        {
            **r.to_json(),
            "runbook_url": runbook_url(site, r.runbook) if r.runbook else "",
            "runbook_source": f"runbooks/{r.runbook}.md" if r.runbook else "",
        }
        for r in results
    ]
    first = next((r for r in results if r.status.found_something and r.runbook), None)
    return json.dumps(
        {
            "target": target,
            "status": overall(results).value,
            "first_runbook": first.runbook if first else "",
            "first_runbook_url": runbook_url(site, first.runbook, instance_of(target)) if first else "",
            "no_page_fits_url": triage_url(site),
            "skipped": sum(r.status is Status.SKIP for r in results),
            "results": rows,
        },
        indent=2,
    )


def thresholds_table(console: Console, limits: Mapping[str, Threshold], site: str) -> None:
    table = Table(title="thresholds (checks/thresholds.yaml)", title_justify="left")
    for column in ("key", "limit", "for", "severity", "runbook", "why"):
        table.add_column(column, overflow="fold")
    for t in limits.values():
        table.add_row(
            t.key,
            f"{t.comparison} {format_value(t.value, t.unit)}",
            t.for_,
            t.severity,
            runbook_url(site, t.runbook),
            t.why,
        )
    console.print(table)


def run_report(console: Console, run: PageRun) -> None:
    for outcome in run.outcomes:
        mark = (
            "[green]ok[/]"
            if outcome.passed
            else "[bold red]TIMEOUT[/]"
            if outcome.timed_out
            else "[bold red]DIFFERS[/]"
        )
        console.print(
            f"{mark} {run.path}:{outcome.step.line} $ {outcome.step.command.splitlines()[0]}",
            highlight=False,
            markup=True,
        )
        if not outcome.passed:
            console.print(outcome.report(run.path), highlight=False, markup=False)
    for line, reason in run.skipped:
        console.print(f"[yellow]skipped[/] {run.path}:{line} ({reason})", highlight=False)
    console.print(run.summary(), highlight=False, markup=False)
