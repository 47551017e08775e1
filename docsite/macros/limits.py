"""Macros over ``checks/thresholds.yaml``: a limit's value, its rule, a runbook's limits, the alert table
and the rule file for the address the site is built for."""

from __future__ import annotations

from checks.thresholds import Threshold, format_value
from docsite.data import MacroSource
from scripts.alert_rules import render_rules

__all__ = ["LimitMacros"]


class LimitMacros(MacroSource):
    def _limit(self, key: str) -> Threshold:
        if key not in self.data.limits:
            raise self.data.error(
                f"unknown threshold key {key!r}; known keys are in checks/thresholds.yaml "
                f"({', '.join(sorted(self.data.limits))})"
            )
        return self.data.limits[key]

    def threshold(self, key: str) -> str:
        """The limit's value for prose: ``90.0 %``."""
        limit = self._limit(key)
        return format_value(limit.value, limit.unit)

    def threshold_rule(self, key: str) -> str:
        """The limit as a rule: ``> 90.0 % for 2m``."""
        limit = self._limit(key)
        return f"{limit.describe()} for {limit.for_}"

    def limits_for(self, slug: str) -> str:
        """A table of every threshold whose runbook is ``slug``."""
        rows = [t for t in self.data.limits.values() if t.runbook == slug]
        if not rows:
            return ""
        lines = ["| limit | fires when | for | severity |", "|---|---|---|---|"]
        lines += [f"| `{t.key}` | {t.describe()} | {t.for_} | {t.severity} |" for t in rows]
        return "\n".join(lines)

    def alert_table(self) -> str:
        """One row per generated alert: condition, for, severity, runbook, measured time to detect."""
        figures = self.data.test_runs.data.get("figures", {}) if self.data.test_runs else {}
        lines = [
            "| alert | fires when | for | severity | runbook | measured time to detect |",
            "|---|---|---|---|---|---|",
        ]
        for t in (t for t in self.data.limits.values() if t.alert):
            ttd = figures.get(f"alert.{t.alert}.ttd_seconds", {}).get("value")
            measured = f"{ttd:.1f} s (`make test`, this checkout)" if ttd is not None else "not measured by the tests"
            lines.append(
                f"| `{t.alert}` | `{t.key}` {t.describe()} | {t.for_} | {t.severity} | "
                f"[{t.runbook}](runbooks/{t.runbook}.md) | {measured} |"
            )
        return "\n".join(lines)

    def alert_rules_file(self) -> str:
        """The generated rule file as a YAML block, its ``runbook_url`` under this site's address."""
        return f"```yaml\n{render_rules(dict(self.data.limits), self.data.site_url)}```"
