"""Macros over the latest test run (``results/test-runs.json``): whether a page's commands passed,
and each hardening fix's tests. Every row shows the run that produced it, not the file's latest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docsite.data import SiteData
from docsite.hardening import FIXES
from scripts import results

__all__ = ["VerificationMacros"]


def _row_stamp(row: Mapping[str, Any], file: results.ResultFile) -> str:
    """The time and commit of the run that produced ``row`` (older files carry only the file's)."""
    if "generated_at" not in row:
        return file.stamp
    when = results.parse_time(row["generated_at"], f"{file.path}: a row's generated_at")
    return results.stamp(when, str(row.get("commit", file.commit)))


class VerificationMacros:
    def __init__(self, data: SiteData) -> None:
        self.data = data

    def verified_notice(self, src_path: str) -> str:
        """Whether this page's diagnostics passed in the latest test run that ran it."""
        runs = self.data.test_runs
        if runs is None:
            return ('!!! warning "Diagnostics not run in this checkout"\n'
                    "    Run `make test` to prove every command on this page against a live backend.")
        pages = runs.data.get("pages", {})
        if src_path not in pages:
            return (f'!!! warning "Diagnostics not run in the latest test run ({runs.stamp})"\n'
                    "    This page was not part of it. Run `make test`.")
        row = pages[src_path]
        passed, total, skipped = int(row["passed"]), int(row["total"]), int(row.get("skipped", 0))
        skipped_text = f", {skipped} skipped with a reason" if skipped else ""
        when = _row_stamp(row, runs)
        if passed == total - skipped:
            return (f'!!! success "Diagnostics verified: {passed} of {total - skipped} blocks passed'
                    f'{skipped_text} · {when}"\n'
                    "    Every command below ran against a live backend in the latest `make test`.")
        return (f'!!! failure "Diagnostics FAILED: {passed} of {total - skipped} blocks passed · {when}"\n'
                "    Some commands on this page did not print what the page says. Trust the output you see, "
                "and tell the page owner.")

    def hardening_table(self) -> str:
        """One row per fix of the plan, its tests' latest results from the test run."""
        runs = self.data.test_runs
        markers = runs.data.get("markers", {}) if runs else {}
        lines = ["| fix | what | implemented by | proven by | latest result |", "|---|---|---|---|---|"]
        for fix in FIXES:
            row = markers.get(fix.marker)
            if row is None or runs is None:
                result = "*not run in this checkout: `make test`*"
            else:
                mark = ":material-check:" if row["passed"] == row["total"] else ":material-close: **failed**"
                result = f"{mark} {row['passed']} of {row['total']} passed ({_row_stamp(row, runs)})"
            lines.append(f"| {fix.code} | {fix.title} | {fix.implemented_by} | "
                         f"`pytest -m {fix.marker}` | {result} |")
        return "\n".join(lines)
