"""The site's macros (mkdocs-macros-plugin module): thresholds, baselines, drill and test results.

Pages never type a limit or a figure: they call these. Each macro fails the build with the page
and the key when asked for something that does not exist; a declared figure with no measurement
renders a "not measured yet" note with the command that measures it.

Before a page is rendered, :func:`on_pre_page_macros` protects every fenced code block from Jinja
(Prometheus' ``{{ $labels }}`` must reach the reader untouched, and the text Sybil tests must be
the text published) and puts the "verified" notice and the page's limits under a runbook's title.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml
from mkdocs.exceptions import PluginError

from backend.settings import SPECS
from checks.errors import CheckError
from checks.thresholds import Threshold, format_value
from checks.thresholds import load as load_thresholds
from scripts import charts, results
from scripts.hardening import FIXES
from scripts.result_keys import BASELINE_KEYS, RECOVERY_KEYS, KeySpec

__all__ = ["MacroError", "Macros", "define_env", "front_matter", "on_pre_page_macros", "protect_code_blocks"]

STALE_AFTER_DAYS = 30
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_H1 = re.compile(r"^# .*$", re.MULTILINE)


class MacroError(ValueError):
    """A page asked for something that does not exist; the message names the page and the key."""


class Env(Protocol):  # the part of mkdocs-macros' env object used here
    variables: Any
    markdown: str
    page: Any

    def macro(self, fn: Callable[..., Any], name: str = "") -> Any: ...


class Macros:
    """The macro implementations, over loaded data; ``page`` is asked for at call time for errors."""

    def __init__(self, limits: Mapping[str, Threshold], baselines: results.ResultFile | None,
                 recovery: results.ResultFile | None, test_runs: results.ResultFile | None,
                 page: Callable[[], str], now: dt.datetime | None = None,
                 soak: results.ResultFile | None = None) -> None:
        self.limits = limits
        self.baselines = baselines
        self.soak = soak
        self.recovery_file = recovery
        self.test_runs = test_runs
        self.page = page
        self.now = now or dt.datetime.now(dt.UTC)

    def _limit(self, key: str) -> Threshold:
        if key not in self.limits:
            raise MacroError(f"{self.page()}: unknown threshold key {key!r}; "
                             f"known keys are in checks/thresholds.yaml ({', '.join(sorted(self.limits))})")
        return self.limits[key]

    def threshold(self, key: str) -> str:
        """The limit's value for prose: ``90.0 %``."""
        limit = self._limit(key)
        return format_value(limit.value, limit.unit)

    def threshold_rule(self, key: str) -> str:
        """The limit as a rule: ``> 90.0 % for 2m``."""
        limit = self._limit(key)
        return f"{limit.describe()} for {limit.for_}"

    def _figure(self, key: str, keys: Mapping[str, KeySpec], file: results.ResultFile | None, kind: str) -> str:
        if key not in keys:
            raise MacroError(f"{self.page()}: unknown {kind} key {key!r}; declared keys are in "
                             f"scripts/result_keys.py")
        unit, what, command = keys[key]
        if file is None or key not in file.metrics:
            return f"*not measured yet: run `{command}`*"
        figure = file.metrics[key]
        text = f"{format_value(figure.value, unit)} ({file.stamp})"
        age = file.age_days(self.now)
        if age > STALE_AFTER_DAYS:
            text += f" :material-alert: *stale: measured {age:.0f} days ago; rerun `{command}`*"
        return text

    def baseline(self, key: str) -> str:
        return self._figure(key, BASELINE_KEYS, self.baselines, "baseline")

    def recovery(self, key: str) -> str:
        return self._figure(key, RECOVERY_KEYS, self.recovery_file, "recovery")

    def verified_notice(self, src_path: str) -> str:
        """Whether this page's diagnostics passed in the latest test run in this checkout."""
        if self.test_runs is None:
            return ('!!! warning "Diagnostics not run in this checkout"\n'
                    "    Run `make test` to prove every command on this page against a live backend.")
        pages = self.test_runs.data.get("pages", {})
        if src_path not in pages:
            return (f'!!! warning "Diagnostics not run in the latest test run ({self.test_runs.stamp})"\n'
                    "    This page was not part of it. Run `make test`.")
        row = pages[src_path]
        passed, total, skipped = int(row["passed"]), int(row["total"]), int(row.get("skipped", 0))
        skipped_text = f", {skipped} skipped with a reason" if skipped else ""
        if passed == total - skipped:
            return (f'!!! success "Diagnostics verified: {passed} of {total - skipped} blocks passed'
                    f'{skipped_text} · {self.test_runs.stamp}"\n'
                    "    Every command below ran against a live backend in the latest `make test`.")
        return (f'!!! failure "Diagnostics FAILED: {passed} of {total - skipped} blocks passed · '
                f'{self.test_runs.stamp}"\n'
                "    Some commands on this page did not print what the page says. Trust the output you see, "
                "and tell the page owner.")

    def limits_for(self, slug: str) -> str:
        """A table of every threshold whose runbook is ``slug``."""
        rows = [t for t in self.limits.values() if t.runbook == slug]
        if not rows:
            return ""
        lines = ["| limit | fires when | for | severity |", "|---|---|---|---|"]
        lines += [f"| `{t.key}` | {t.describe()} | {t.for_} | {t.severity} |" for t in rows]
        return "\n".join(lines)

    def _drills(self) -> dict[str, dict[str, Any]]:
        drills = self.recovery_file.data.get("drills", []) if self.recovery_file else []
        return {d["name"]: d for d in drills}

    def baseline_area(self, prefix: str) -> str:
        """Every recorded figure under ``prefix`` with its target and whether the run met it."""
        if self.baselines is None:
            return "*not measured yet: run `make bench`*"
        rows = {k: v for k, v in self.baselines.data.get("metrics", {}).items() if k.startswith(prefix)}
        if not rows:
            raise MacroError(f"{self.page()}: no baseline figures under {prefix!r} in {self.baselines.path}")
        lines = ["| figure | measured | samples | target | met |", "|---|---|---|---|---|"]
        for key, m in sorted(rows.items()):
            met = {True: ":material-check: yes", False: ":material-close: **missed**", None: ""}[m.get("met")]
            lines.append(f"| `{key}` | {format_value(m['value'], m['unit'])} | {m.get('samples', '')} | "
                         f"{_cell(m.get('target_text') or '')} | {met} |")
        return "\n".join(lines)

    def bench_provenance(self) -> str:
        if self.baselines is None:
            return "*not measured yet: run `make bench`*"
        tools = ", ".join(f"{k} {v}" for k, v in self.baselines.data.get("tools", {}).items())
        return f"Measured {self.baselines.stamp}, on {_machine(self.baselines)}; {tools}."

    def bench_findings(self) -> str:
        """The targets the latest run missed, as a list; or that it met them all."""
        if self.baselines is None:
            return "*not measured yet: run `make bench`*"
        missed = [(k, m) for k, m in self.baselines.data.get("metrics", {}).items() if m.get("met") is False]
        if not missed:
            return "Every figure with a target met it."
        return "\n".join(f"- `{k}`: {format_value(m['value'], m['unit'])}, target {m['target_text']}"
                         for k, m in missed)

    def _bench_metrics(self) -> dict[str, Any]:
        return dict(self.baselines.data.get("metrics", {})) if self.baselines else {}

    def _details(self, key: str) -> Any:
        """A chart's points from the baselines' ``details``; a missing key fails the build."""
        details = self.baselines.data.get("details", {}) if self.baselines else {}
        if key not in details:
            raise MacroError(f"{self.page()}: no details {key!r} in {results.BASELINES}; rerun `make bench`")
        return details[key]

    def latency_chart(self, prefix: str) -> str:
        """Bars of p50/p95/p99/max under ``prefix`` (log scale: max is often 10x p99)."""
        if self.baselines is None:
            return ""
        metrics = self._bench_metrics()
        values = [(q, metrics[f"{prefix}.{q}_seconds"]["value"]) for q in ("p50", "p95", "p99", "max")
                  if f"{prefix}.{q}_seconds" in metrics]
        rows = [(q, v, f"{v * 1000:.1f} ms") for q, v in values]
        if not rows:
            raise MacroError(f"{self.page()}: no latency percentiles under {prefix!r}")
        return charts.bars(f"{prefix} latency percentiles, log scale", rows, log=True, label_width=40)

    def throughput_chart(self) -> str:
        """Requests per second under wrk: the framework's hello-world, then each endpoint with its ratio."""
        if self.baselines is None:
            return ""
        metrics = self._bench_metrics()
        if "api.throughput.hello_rps" not in metrics:
            raise MacroError(f"{self.page()}: no api.throughput figures in {results.BASELINES}")
        hello = metrics["api.throughput.hello_rps"]["value"]
        rows = [("hello-world (FastAPI)", hello, f"{hello:,.0f} req/s")]
        for key, m in metrics.items():
            if key.startswith("api.throughput.") and key.endswith("_rps") and key != "api.throughput.hello_rps":
                name = key.removeprefix("api.throughput.").removesuffix("_rps").replace("_", " ")
                rows.append((name, m["value"], f"{m['value']:,.0f} req/s ({m['value'] / hello:.0%})"))
        return charts.bars("requests per second under wrk, by endpoint", rows)

    def capacity_chart(self) -> str:
        """Open-loop p99 at each offered rate of the capacity search, with the 25 ms line."""
        if self.baselines is None:
            return ""
        steps = self._details("api.capacity.steps")
        limit = float(self._bench_metrics()["api.mixed.p99_seconds"]["target"])  # the run judged steps by it
        return charts.lines("API p99 by offered rate (capacity search)",
                            {"p99, mixed scenario, open loop": [(rate, p99) for rate, p99, *_ in steps]},
                            "offered rate (requests per second)", lambda v: f"{v * 1000:.0f} ms",
                            lambda x: f"{x:,.0f}/s", limit=(limit, f"{limit * 1000:.0f} ms target"))

    def soak_chart(self) -> str:
        """Server RSS after each measured phase of the latest `make bench` soak."""
        return "" if self.baselines is None else self._rss_chart(self.baselines)

    def _rss_chart(self, source: results.ResultFile) -> str:
        """RSS against the work done since the start, from ``source``'s soak samples."""
        points = source.data.get("details", {}).get("memory.soak.rss")
        if not points:
            raise MacroError(f"{self.page()}: no memory.soak.rss samples in {source.path}")
        return charts.lines("server RSS during the soak, after warm-up",
                            {"RSS of the server process": [(x, y) for x, y in points]},
                            "thousands of operations (requests + WebSocket cycles)",
                            lambda v: f"{v / 2**20:.1f} MiB", lambda x: f"{x:,.0f}k")

    def soak_growth(self) -> str:
        """tracemalloc's lines that grew most over the soak's traced phases, as a list."""
        if self.baselines is None:
            return "*not measured yet: run `make bench`*"
        return "\n".join(f"- `{line}`" for line in self._details("memory.soak.top_growth"))

    def history_chart(self, key: str) -> str:
        """``key`` across the recorded runs (oldest first), the latest run last."""
        if self.baselines is None:
            return ""
        if key not in BASELINE_KEYS:
            raise MacroError(f"{self.page()}: unknown baseline key {key!r}; declared keys are in scripts/result_keys.py")
        unit = BASELINE_KEYS[key][0]
        runs = [*self.baselines.data.get("history", []),
                {"generated_at": self.baselines.data["generated_at"], "commit": self.baselines.commit,
                 "metrics": {k: m["value"] for k, m in self._bench_metrics().items()}}]
        points = [(i + 1, run["metrics"][key]) for i, run in enumerate(runs) if key in run["metrics"]]
        if not points:
            raise MacroError(f"{self.page()}: {key!r} is in no recorded run")

        def run_label(x: float) -> str:
            run = runs[int(x) - 1]
            return f"{str(run.get('generated_at', ''))[:10]} {str(run.get('commit', ''))[:7]}"

        latest = f"{key}, latest {format_value(points[-1][1], unit)}"
        return charts.lines(f"{key} across runs", {latest: points}, f"{len(runs)} runs, oldest to latest",
                            lambda v: format_value(v, unit), run_label)

    def soak_report(self) -> str:
        """The latest `make soak HOURS=N` run: its figures and RSS chart, or how to run it."""
        if self.soak is None:
            return "*not run yet: `make soak HOURS=8` runs it and writes `results/soak.json`*"
        lines = [f"{self.soak.data.get('hours')} hours, {self.soak.stamp}, on {_machine(self.soak)}.", "",
                 "| figure | measured |", "|---|---|"]
        lines += [f"| `{k}` | {format_value(m.value, m.unit)} |" for k, m in self.soak.metrics.items()]
        return "\n".join(lines) + "\n\n" + self._rss_chart(self.soak)

    def recovery_matrix(self) -> str:
        """The error-recovery matrix from the latest full `make drill` run."""
        if self.recovery_file is None:
            return "*not measured yet: run `make drill`*"
        lines = ["| scenario | fault used | detection | TTD | TTR | data lost | result |", "|---|---|---|---|---|---|---|"]
        for d in self._drills().values():
            lost = (f"{d['writes_lost']} of {d['writes_acked']} acknowledged writes, "
                    f"{d['ws_messages_lost']} broadcasts, {d['writes_duplicated']} duplicates")
            verdict = "**pass**" if d["passed"] else "**FAIL**: " + ", ".join(t for t, ok in d["targets"].items() if not ok)
            lines.append(f"| <a id=\"{d['name']}\"></a>{d['scenario']} | {d['fault']} | {d['detection']} | "
                         f"{_seconds(d['ttd_seconds'])} | {_seconds(d['ttr_seconds'])} | {lost} | {verdict} |")
        return "\n".join(lines) + f"\n\nMeasured {self.recovery_file.stamp}, on {_machine(self.recovery_file)}."

    def drill_result(self, name: str) -> str:
        """One drill's latest outcome, for the runbook of its scenario."""
        if name not in {key.split(".")[0] for key in RECOVERY_KEYS}:
            raise MacroError(f"{self.page()}: unknown drill {name!r}")
        drill = self._drills().get(name)
        if drill is None:
            return f"Fault drill `{name}`: *not measured yet: run `make drill`*."
        verdict = "passed" if drill["passed"] else "FAILED"
        return (f"Fault drill [{drill['scenario']}](../recovery.md#{name}) {verdict} "
                f"({self.recovery_file.stamp}): detected in {_seconds(drill['ttd_seconds'])}, "  # type: ignore[union-attr]
                f"recovered in {_seconds(drill['ttr_seconds'])}, {drill['writes_lost']} acknowledged writes lost.")

    def settings_table(self) -> str:
        """Every BACKEND_* variable from backend/settings.py: the docs cannot drift from the code."""
        lines = ["| variable | default | unit | what it is for |", "|---|---|---|---|"]
        for spec in SPECS:
            default = spec.default if spec.default != "" else "(empty)"
            if spec.field == "data_dir":
                default = "./.data"
            lines.append(f"| `{spec.env}` | `{default}` | {spec.unit} | {spec.doc} |")
        return "\n".join(lines)

    def _test_figure(self, key: str) -> Any:
        figures = self.test_runs.data.get("figures", {}) if self.test_runs else {}
        return figures.get(key, {}).get("value")

    def alert_table(self) -> str:
        """One row per generated alert: condition, for, severity, runbook, measured time to detect."""
        lines = ["| alert | fires when | for | severity | runbook | measured time to detect |",
                 "|---|---|---|---|---|---|"]
        for t in (t for t in self.limits.values() if t.alert):
            ttd = self._test_figure(f"alert.{t.alert}.ttd_seconds")
            measured = f"{ttd:.1f} s (`make test`, this checkout)" if ttd is not None else "not measured by the tests"
            lines.append(f"| `{t.alert}` | `{t.key}` {t.describe()} | {t.for_} | {t.severity} | "
                         f"[{t.runbook}](runbooks/{t.runbook}.md) | {measured} |")
        return "\n".join(lines)

    def runbook_index(self) -> str:
        """A table of the runbooks from their front matter: page, alerts, severity, component."""
        lines = ["| runbook | alerts | severity | component |", "|---|---|---|---|"]
        for path in sorted((results.REPO / "runbooks").glob("*.md")):
            if path.name == "index.md":
                continue
            meta = front_matter(path)
            alerts = ", ".join(f"`{a}`" for a in meta.get("alerts") or []) or "symptom"
            title = next((line[2:] for line in path.read_text().splitlines() if line.startswith("# ")), path.stem)
            lines.append(f"| [{title}]({path.name}) | {alerts} | {meta.get('severity', '')} | "
                         f"{meta.get('component', '')} |")
        return "\n".join(lines)

    def hardening_table(self) -> str:
        """One row per fix of the plan, its tests' latest results from the test run."""
        markers = (self.test_runs.data.get("markers", {}) if self.test_runs else {})
        lines = ["| fix | what | implemented by | proven by | latest result |", "|---|---|---|---|---|"]
        for fix in FIXES:
            row = markers.get(fix.marker)
            if row is None:
                result = "*not run in this checkout: `make test`*"
            else:
                mark = ":material-check:" if row["passed"] == row["total"] else ":material-close: **failed**"
                result = f"{mark} {row['passed']} of {row['total']} passed ({self.test_runs.stamp})"  # type: ignore[union-attr]
            lines.append(f"| {fix.code} | {fix.title} | {fix.implemented_by} | "
                         f"`pytest -m {fix.marker}` | {result} |")
        return "\n".join(lines)


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a bare ``|`` would end the cell."""
    return text.replace("|", "\\|")


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f} s"


def _machine(file: results.ResultFile) -> str:
    m = file.machine
    return f"{m.get('cores', '?')} cores, Python {m.get('python', '?')}, {m.get('os', '?')}"


def front_matter(path: Path) -> dict[str, Any]:
    """The YAML between the leading ``---`` lines of a page (empty when there is none)."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    data = yaml.safe_load(text[4:end]) if end != -1 else None
    return data if isinstance(data, dict) else {}


def protect_code_blocks(markdown: str) -> str:
    """Wrap each fenced block in ``{% raw %}`` so Jinja leaves its text exactly as written."""
    lines = markdown.split("\n")
    out: list[str] = []
    closing: re.Pattern[str] | None = None
    for line in lines:
        if closing is None:
            match = _FENCE.match(line)
            if match:
                fence = match["fence"]
                closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
                line = f"{match['indent']}{{% raw %}}{fence}{match['info']}"
        elif closing.match(line):
            closing = None
            line = line.rstrip() + "{% endraw %}"
        out.append(line)
    return "\n".join(out)


def _src_path(env: Env) -> str:
    page = getattr(env, "page", None)
    return str(page.file.src_path) if page is not None else "<no page>"


def _load(page: Callable[[], str]) -> Macros:
    return Macros(load_thresholds(), results.load(results.BASELINES), results.load(results.RECOVERY),
                  results.load(results.TEST_RUNS), page, soak=results.load(results.SOAK))


def define_env(env: Env) -> None:
    """mkdocs-macros entry point: register the macros. Unusable data stops the build in one line."""
    try:
        macros = _load(lambda: _src_path(env))
    except (results.ResultsError, CheckError) as exc:
        raise PluginError(f"site data: {exc}") from None
    env.variables["_macros"] = macros
    for fn in (macros.threshold, macros.threshold_rule, macros.baseline, macros.recovery,
               macros.verified_notice, macros.limits_for, macros.runbook_index, macros.hardening_table,
               macros.settings_table, macros.alert_table, macros.recovery_matrix, macros.drill_result,
               macros.baseline_area, macros.bench_provenance, macros.bench_findings, macros.latency_chart,
               macros.throughput_chart, macros.capacity_chart, macros.soak_chart, macros.soak_growth,
               macros.history_chart, macros.soak_report):
        env.macro(fn, fn.__name__)


def on_pre_page_macros(env: Env) -> None:
    """Protect code blocks; under a runbook's title, inject its verified notice and its limits."""
    src = _src_path(env)
    markdown = protect_code_blocks(env.markdown)
    if src.startswith("runbooks/") and not src.endswith("index.md"):
        slug = src.removeprefix("runbooks/").removesuffix(".md")
        alerts = (getattr(env.page, "meta", None) or {}).get("alerts") or []
        fired_by = ("Alerts: " + ", ".join(f"`{a}`" for a in alerts)) if alerts else "Symptom page: no alert."
        drill = (getattr(env.page, "meta", None) or {}).get("drill")
        drilled = f'\n\n{{{{ drill_result("{drill}") }}}}' if drill else ""
        header = (f'\n\n{fired_by}\n\n{{{{ verified_notice("{src}") }}}}{drilled}\n\n'
                  f'{{{{ limits_for("{slug}") }}}}\n')
        match = _H1.search(markdown)
        at = match.end() if match else 0
        markdown = markdown[:at] + header + markdown[at:]
    env.markdown = markdown
