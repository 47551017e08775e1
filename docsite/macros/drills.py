"""Macros over the fault drills (``results/recovery.json``): the recovery matrix and one drill's line."""

from __future__ import annotations

from typing import Any

from docsite.data import MacroSource, not_measured
from docsite.macros.figures import machine
from scripts import results

__all__ = ["DrillMacros"]


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f} s"


def _missed(row: dict[str, Any]) -> str:
    """The targets a drill's row missed, in words ("" when it met them all)."""
    return ", ".join(t for t, ok in row["targets"].items() if not ok)


def _verdict(row: dict[str, Any]) -> str:
    return "**pass**" if row["passed"] else f"**FAIL**: {_missed(row)}"


class DrillMacros(MacroSource):
    def _drills(self) -> dict[str, dict[str, Any]]:
        drills = self.data.recovery.data.get("drills", []) if self.data.recovery else []
        return {d["name"]: d for d in drills}

    def recovery_matrix(self) -> str:
        """The error-recovery matrix from the latest full `make drill` run."""
        recovery = self.data.recovery
        if recovery is None:
            return not_measured("make drill")
        lines = [
            "| scenario | fault used | detection | TTD | TTR | data lost | client: outage shown after "
            "| client: live again after | client: missed | result |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        clients = self._clients()
        for d in self._drills().values():
            view = clients.get(results.CLIENT_VIEW.get(d["name"], ""))
            client = (
                (
                    f"{_seconds(view['outage_shown_seconds'])} | {_seconds(view['live_again_seconds'])} | "
                    f"{view['missed']} of {view['acknowledged']}"
                )
                if view
                else "- | - | -"
            )
            lost = (
                f"{d['writes_lost']} of {d['writes_acked']} acknowledged writes, "
                f"{d['ws_messages_lost']} broadcasts, {d['writes_duplicated']} duplicates"
            )
            verdict = _verdict(d)
            lines.append(
                f'| <a id="{d["name"]}"></a>{d["scenario"]} | {d["fault"]} | {d["detection"]} | '
                f"{_seconds(d['ttd_seconds'])} | {_seconds(d['ttr_seconds'])} | {lost} | {client} | {verdict} |"
            )
        return "\n".join(lines) + f"\n\nMeasured {recovery.stamp}, on {machine(recovery)}."

    def _clients(self) -> dict[str, dict[str, Any]]:
        clients = self.data.recovery.data.get("clients", []) if self.data.recovery else []
        return {c["name"]: c for c in clients}

    def client_view_table(self) -> str:
        """What the reference client's status page showed through each outage (the latest `make drill`)."""
        clients = self._clients()
        if self.data.recovery is None or not clients:
            return not_measured("make drill")
        lines = [
            "| outage | outage shown after | live again after | missed | duplicated, out of order "
            "| connection attempts | result |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in results.CLIENT_SCENARIOS:
            c = clients.get(name)
            if c is None:
                lines.append(f"| {name.replace('_', ' ')} | {not_measured('make drill')} | | | | | |")
                continue
            attempts = (
                f"{c['attempts']} (policy allows {c['attempts_bound']})"
                if c.get("attempts_bound")
                else str(c.get("attempts") or "-")
            )
            missed = f"{c['missed']} of {c['acknowledged']}"
            if c.get("gone"):
                missed = (
                    f"{c['missed']} of the {c['acknowledged'] - c['gone']} still held; {c['gone']} older than "
                    f"the replay buffer{', gap shown and view reloaded' if c.get('gap_shown') else ''}"
                )
            verdict = _verdict(c)
            lines.append(
                f"| {name.replace('_', ' ')} | {_seconds(c['outage_shown_seconds'])} | "
                f"{_seconds(c['live_again_seconds'])} | {missed} | {c['duplicated']}, {c['out_of_order']} | "
                f"{attempts} | {verdict} |"
            )
        return "\n".join(lines) + f"\n\nMeasured {self.data.recovery.stamp}, in headless Chromium."

    def overload_table(self) -> str:
        """The overload drill: the same load with and without admission control, from the latest `make drill`."""
        recovery = self.data.recovery
        runs = recovery.data.get("overload", []) if recovery else []
        if recovery is None or not runs:
            return not_measured("make drill")
        lines = [
            "| admission control | offered | served (p99) | refused (p99) | failed | latency normal again after "
            "| peak RSS | acknowledged writes lost | result |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in runs:
            on = "on (`BACKEND_MAX_IN_FLIGHT`)" if r["mode"] == "admission" else "off (`BACKEND_MAX_IN_FLIGHT=0`)"
            verdict = _verdict(r) if r["mode"] == "admission" else _missed(r) or "-"
            lines.append(
                f"| {on} | {r['offered_rps']:,.0f}/s (sent {r['sent_rps']:,.0f}/s) | "
                f"{r['admitted']:,} ({r['admitted_p99_seconds'] * 1000:.1f} ms) | "
                f"{r['refused']:,} ({r['refused_p99_seconds'] * 1000:.1f} ms) | {r['failed']:,} | "
                f"{_seconds(r['recovered_seconds'])} | {r['rss_max_bytes'] / 2**20:.0f} MiB | "
                f"{r['writes_lost']} of {r['writes_acked']:,} | {verdict} |"
            )
        return (
            "\n".join(lines) + f"\n\nMeasured {recovery.stamp}, on {machine(recovery)}; "
            "without admission control, the targets it misses are listed."
        )

    def drill_result(self, name: str) -> str:
        """One drill's latest outcome, for the runbook of its scenario."""
        if name not in results.DRILLS:
            raise self.data.error(f"unknown drill {name!r}; the drills are {', '.join(results.DRILLS)}")
        drill = self._drills().get(name)
        if drill is None or self.data.recovery is None:
            return f"Fault drill `{name}`: {not_measured('make drill')}."
        verdict = "passed" if drill["passed"] else "FAILED"
        return (
            f"Fault drill [{drill['scenario']}](../recovery.md#{name}) {verdict} "
            f"({self.data.recovery.stamp}): detected in {_seconds(drill['ttd_seconds'])}, "
            f"recovered in {_seconds(drill['ttr_seconds'])}, {drill['writes_lost']} acknowledged writes lost."
        )
