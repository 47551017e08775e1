"""Macros over the latest test run (``results/test-runs.json``): whether a page's commands passed,
and each hardening fix's tests. Every row shows the run that produced it, not the file's latest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from docsite.data import MacroSource
from docsite.hardening import FIXES
from docsite.proof import State, row_staleness
from scripts import results

__all__ = ["VerificationMacros"]

_STATE_TEXT = {
    State.PASSED: ":material-check: passed",
    State.STALE: ":material-clock-alert: **stale**",
    State.FAILED: ":material-close: **FAILED**",
    State.MISSING: ":material-help: not run",
}


def _row_stamp(row: Mapping[str, Any], file: results.ResultFile) -> str:
    """The time and commit of the run that produced ``row`` (older files carry only the file's)."""
    if "generated_at" not in row:
        return file.stamp
    when = results.parse_time(row["generated_at"], f"{file.path}: a row's generated_at")
    return results.stamp(when, str(row.get("commit", file.commit)))


class VerificationMacros(MacroSource):
    def _staleness(self, row: Mapping[str, Any], page: str) -> list[str]:
        assert self.data.test_runs is not None
        return row_staleness(row, self.data.test_runs, page, self.data.git, self.data.now, self.data.stale_after_days)

    def verified_notice(self, page: str) -> str:
        """Whether this page's diagnostics passed in the latest test run that ran it: green, red when
        a block failed, amber when the proof is too old or older than the page's last change."""
        runs = self.data.test_runs
        if runs is None:
            return (
                '!!! warning "Diagnostics not run in this checkout"\n'
                "    Run `make test` to prove every command on this page against a live backend."
            )
        pages = runs.data.get("pages", {})
        if page not in pages:
            return (
                f'!!! warning "Diagnostics not run in the latest test run ({runs.stamp})"\n'
                "    This page was not part of it. Run `make test`."
            )
        row = pages[page]
        passed, total, skipped = int(row["passed"]), int(row["total"]), int(row.get("skipped", 0))
        skipped_text = f", {skipped} skipped with a reason" if skipped else ""
        when = _row_stamp(row, runs)
        if passed != total - skipped:
            return (
                f'!!! failure "Diagnostics FAILED: {passed} of {total - skipped} commands passed · {when}"\n'
                "    Some commands on this page did not print what the page says. Trust the output you see, "
                "and tell the page owner."
            )
        if stale := self._staleness(row, page):
            return (
                f'!!! warning "Diagnostics STALE: {passed} of {total - skipped} commands passed{skipped_text} '
                f'· {when}"\n    This proof may no longer hold: {"; ".join(stale)}. '
                "Run `make test` (or `make publish`) to prove the page again."
            )
        return (
            f'!!! success "Diagnostics verified: {passed} of {total - skipped} commands passed'
            f'{skipped_text} · {when}"\n'
            "    Every command below ran against a live backend in the latest `make test`."
        )

    def _rows(self, table: str, page: str | None = None) -> list[dict[str, Any]]:
        """The rows of ``table`` (``gamedays``, ``rehearsals``) in the latest test run, of ``page`` if given."""
        runs = self.data.test_runs
        rows = runs.data.get(table, {}) if runs else {}
        return [row for row in rows.values() if page is None or row.get("page") == page]

    def _gamedays(self, page: str | None = None) -> list[dict[str, Any]]:
        return self._rows("gamedays", page)

    def gameday_notice(self, src_path: str) -> str:
        """Per fault the page is proven under: detected by doctor in X s, mitigated by the page in Y s."""
        runs = self.data.test_runs
        days = self._gamedays(src_path)
        if runs is None or not days:
            return (
                '!!! warning "Not proven under its fault in this checkout"\n'
                "    Run `make test` (or `make gameday PAGE=...`) to prove this page under its real faults."
            )
        failed = [d for d in days if not d.get("passed")]
        stale = sorted({reason for d in days for reason in self._staleness(d, src_path)})
        if failed:
            lines = ['!!! failure "Game day FAILED under ' + ", ".join(d["fault"] for d in failed) + '"']
        elif stale:
            lines = [
                '!!! warning "Game-day proof STALE: ' + ", ".join(d["fault"] for d in days) + '"',
                f"    This proof may no longer hold: {'; '.join(stale)}.",
                "",
            ]
        else:
            lines = ['!!! success "Proven under fault: ' + ", ".join(d["fault"] for d in days) + '"']
        for d in days:
            when = _row_stamp(d, runs)
            helped = (
                f"mitigated by this page in {d['mitigated_seconds']} s"
                if d.get("mitigated_seconds") is not None
                else "not mitigated"
            )
            stand_in = f" (a production-only step stood in for: {d['stand_in']})" if d.get("stand_in") else ""
            routed = (
                f"detected in {d['detected_seconds']} s by doctor"
                if d.get("routed")
                else f"doctor named {d.get('doctor_first') or 'nothing'} first"
            )
            diagnose = "{}/{}".format(*d.get("phases", {}).get("diagnose", [0, 0]))
            lines.append(
                f"    - `{d['fault']}`: {routed}, diagnose steps {diagnose} as shown, {helped}{stand_in} · {when}"
            )
        return "\n".join(lines)

    def rehearsals(self, page: str) -> list[dict[str, Any]]:
        """The rehearsal rows of ``page`` in the latest test run (a runbook's faults, a guide's build)."""
        return self._rows("rehearsals", page)

    def rehearsal_notice(self, src_path: str) -> str:
        """Whether the page was proven on the rehearsal host (a host built by the deployment guide,
        its alert from the published rules, its commands copied from the published page), or only in
        the laboratory (a backend the test suite started, production steps stood in for)."""
        runs = self.data.test_runs
        days = self.rehearsals(src_path)
        if runs is None or not days:
            return (
                '!!! info "Laboratory only"\n'
                "    Not rehearsed on a production host: proven against a backend the test suite started, with "
                "its production steps stood in for; "
                "`make rehearsal` meets the rehearsed runbooks on a host built by the deployment guide."
            )
        failed = [d for d in days if not d.get("passed")]
        stale = sorted({reason for d in days for reason in self._staleness(d, src_path)})
        faults = ", ".join(d["fault"] for d in days)
        when = _row_stamp(days[0], runs)
        if failed:
            title = f"Rehearsal FAILED on a production host: {', '.join(d['fault'] for d in failed)}"
            lines = [
                f'!!! failure "{title}"',
                f"    {'; '.join(str(f) for d in failed for f in d.get('problems', []))}",
            ]
        elif stale:
            lines = [
                f'!!! warning "Rehearsal STALE: {faults}"',
                f"    This proof may no longer hold: {'; '.join(stale)}.",
            ]
        else:
            lines = [
                f'!!! success "Rehearsed: {faults}"',
                "    On a production host built by the deployment guide (systemd, nginx, Prometheus, Alertmanager); "
                f"commands copied from the published page · {when}",
            ]
        for d in days:
            if d.get("fault") == "guide":
                lines.append(
                    f"    - every command of the host sections: {d['commands'][0]} of {d['commands'][1]} passed"
                )
                continue
            delivered = (
                f", delivered by Alertmanager after {d['delivered_seconds']} s" if d.get("delivered_seconds") else ""
            )
            mitigated = (
                f"mitigated by this page in {d['mitigated_seconds']} s"
                if d.get("mitigated_seconds")
                else "not mitigated"
            )
            sent = (
                f"{d['alert']} pending after {d.get('pending_seconds')} s{delivered}"
                if d.get("alert")
                else f"no alert of its own: `checks doctor` on the host named it after {d.get('pending_seconds')} s"
            )
            lines.append(f"    - `{d['fault']}`: {sent}, {mitigated}")
        return "\n".join(lines)

    def gameday_table(self) -> str:
        """Every game day of the latest test run: runbook, fault, doctor, diagnose, mitigation."""
        runs = self.data.test_runs
        days = sorted(self._gamedays(), key=lambda d: (d["page"], d["fault"]))
        if runs is None or not days:
            return "*not measured yet: run `make test`*"
        lines = [
            "| runbook | fault | doctor's first page | detected | diagnose | recovered by following the runbook "
            "| result |",
            "|---|---|---|---|---|---|---|",
        ]
        for d in days:
            slug = d["page"].removeprefix("runbooks/").removesuffix(".md")
            mitigated = "no" if d.get("mitigated_seconds") is None else f"{d['mitigated_seconds']} s"
            if d.get("stand_in"):
                mitigated += f" (stand-in: {d['stand_in']})"
            phases = d.get("phases", {}).get("diagnose", [0, 0])
            lines.append(
                f"| [{slug}](runbooks/{slug}.md) | `{d['fault']}` | {d.get('doctor_first') or 'none'} "
                f"{'(right)' if d.get('routed') else '(**wrong**)'} | {d.get('detected_seconds')} s | "
                f"{phases[0]}/{phases[1]} | {mitigated} | {'pass' if d.get('passed') else '**FAIL**'} |"
            )
        return "\n".join(lines) + f"\n\nFrom the test run of {runs.stamp}."

    def stale_after_days(self) -> str:
        """After how many days a proof is stale (``stale_after_days`` in ``mkdocs.yml``)."""
        return f"{self.data.stale_after_days:g}"

    def proof_status_table(self) -> str:
        """Every page with commands, oldest proof first: its state, blocks, game days, run and why."""
        proofs = [self.data.proof(page) for page in self.data.proven_pages]
        epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
        proofs.sort(key=lambda p: (p.when or epoch, list(State).index(p.state), p.page))
        lines = [
            "| page | state | commands passed | game days passed | rehearsed on a production host | proven at | why |",
            "|---|---|---|---|---|---|---|",
        ]
        for p in proofs:
            link = p.page.removeprefix("docs/")
            blocks = (
                f"{p.blocks[0]} of {p.blocks[1]}" + (f", {p.blocks[2]} skipped" if p.blocks[2] else "")
                if p.blocks
                else "-"
            )
            days = f"{p.gamedays[0]} of {p.gamedays[1]}" if p.gamedays[1] else "-"
            when = results.stamp(p.when, p.commit) if p.when else "never"
            state = _STATE_TEXT[p.state]
            lines.append(
                f"| [{p.page}]({link}) | {state} | {blocks} | {days} | {self._rehearsed(p.page)} | {when} "
                f"| {'; '.join(p.reasons)} |"
            )
        counts = {s: sum(p.state is s for p in proofs) for s in State}
        summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        return "\n".join(lines) + f"\n\n{len(proofs)} pages: {summary}."

    def _rehearsed(self, page: str) -> str:
        """One cell: passed, FAILED or stale on the rehearsal host, with when; "laboratory only" if never."""
        days = self.rehearsals(page)
        if not days or self.data.test_runs is None:
            return "laboratory only"
        passed = sum(bool(d.get("passed")) for d in days)
        stale = any(self._staleness(d, page) for d in days)
        state = "**FAILED**" if passed < len(days) else "**stale**" if stale else "passed"
        return f"{state}, {passed} of {len(days)} ({_row_stamp(days[0], self.data.test_runs)})"

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
            lines.append(f"| {fix.code} | {fix.title} | {fix.implemented_by} | `pytest -m {fix.marker}` | {result} |")
        return "\n".join(lines)
