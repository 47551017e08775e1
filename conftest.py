"""Root conftest: Sybil runs every page's blocks against one live, supervised backend, and the run's
per-page and per-fix results are written to ``results/test-runs.json`` for the site to show."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from scripts import live, results
from scripts.hardening import FIXES
from tests.pages import page_sybil

pytest_collect_file = page_sybil().pytest()

_MARKERS = {fix.marker for fix in FIXES}
_pages: dict[str, dict[str, int]] = {}
_markers: dict[str, dict[str, int]] = {}
_figures: dict[str, object] = {}  # measured by tests through record_property("figure:KEY", value)


@pytest.fixture(scope="session")
def live_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.Live]:
    """The throwaway backend the pages run against: supervised, no fault routes, like production."""
    with live.running(tmp_path_factory.mktemp("pages"), "supervise", faults_token="") as backend:
        yield backend


def _count(table: dict[str, dict[str, int]], key: str, outcome: str) -> None:
    row = table.setdefault(key, {"passed": 0, "failed": 0, "skipped": 0, "total": 0})
    row[outcome] += 1
    row["total"] += 1


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each test once: its call, or its setup when setup failed or skipped it."""
    if report.when == "call" and report.passed:
        _figures.update({name.removeprefix("figure:"): value for name, value in report.user_properties
                         if name.startswith("figure:")})
    if report.when != "call" and not (report.when == "setup" and not report.passed):
        return
    outcome = "passed" if report.passed else "skipped" if report.skipped else "failed"
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".md"):
        _count(_pages, path, outcome)
    for marker in _MARKERS & set(report.keywords):
        _count(_markers, marker, outcome)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Merge this run into results/test-runs.json: pages and fixes that ran get this run's stamp."""
    if not _pages and not _markers and not _figures:
        return
    stamp = results.provenance()
    try:
        previous = results.load(results.TEST_RUNS)
    except results.ResultsError:
        previous = None
    data = previous.data if previous else {}
    for table, key in ((_pages, "pages"), (_markers, "markers")):
        merged = dict(data.get(key, {}))
        merged.update({name: {**row, "generated_at": stamp["generated_at"], "commit": stamp["commit"]}
                       for name, row in table.items()})
        data[key] = merged
    figures = dict(data.get("figures", {}))
    figures.update({name: {"value": value, "generated_at": stamp["generated_at"], "commit": stamp["commit"]}
                    for name, value in _figures.items()})
    data["figures"] = figures
    data.update(stamp)
    results.TEST_RUNS.parent.mkdir(exist_ok=True)
    results.TEST_RUNS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
