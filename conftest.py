"""Root conftest: Sybil runs every page's blocks against one live, supervised backend (a fleet page's
against an instance on a real message bus), and the run's per-page and per-fix results are written to
``results/test-runs.json`` for the site to show."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from docsite.hardening import FIXES
from scripts import live, results
from scripts.redis_server import RedisServer
from tests.support.sybil_pages import fleet_sybil, page_sybil

pytest_collect_file = (page_sybil() + fleet_sybil()).pytest()

_MARKERS = {fix.marker for fix in FIXES}
_pages: dict[str, dict[str, int]] = {}
_markers: dict[str, dict[str, int]] = {}
_figures: dict[str, object] = {}  # measured by tests through record_property("figure:KEY", value)
_gamedays: dict[str, dict[str, object]] = {}  # page::fault -> what its game day found (tests/gameday)
_rehearsals: dict[str, dict[str, object]] = {}  # page::fault -> the same on the rehearsal host (tests/rehearsal)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--proof-dir",
        default=str(results.DEFAULT_DIR),
        metavar="DIR",
        help="where this run's per-page proof (test-runs.json) is merged (make publish: a fresh one)",
    )


@pytest.fixture(scope="session")
def live_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.Live]:
    """The throwaway backend the pages run against: supervised, no fault routes, like production."""
    with live.running(tmp_path_factory.mktemp("pages"), "supervise", faults_token="") as backend:
        yield backend


@pytest.fixture(scope="session")
def message_bus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server, configured as the fleet guide's bus (no persistence), for the fleet's pages."""
    bus = RedisServer(tmp_path_factory.mktemp("bus")).start()
    try:
        yield bus.url
    finally:
        bus.stop()


@pytest.fixture(scope="session")
def live_fleet_instance(tmp_path_factory: pytest.TempPathFactory, message_bus_url: str) -> Iterator[live.Live]:
    """An instance of several, as the fleet's pages meet it: supervised, reading the message bus."""
    with live.running(tmp_path_factory.mktemp("fleet"), "supervise", faults_token="", bus_url=message_bus_url) as one:
        yield one


def _count(table: dict[str, dict[str, int]], key: str, outcome: str) -> None:
    row = table.setdefault(key, {"passed": 0, "failed": 0, "skipped": 0, "total": 0})
    row[outcome] += 1
    row["total"] += 1


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each test once: its call, or its setup when setup failed or skipped it."""
    if report.when == "call" and report.passed:
        _figures.update(
            {
                name.removeprefix("figure:"): value
                for name, value in report.user_properties
                if name.startswith("figure:")
            }
        )
    if report.when == "call":
        for name, value in report.user_properties:
            if name in ("gameday", "rehearsal"):
                day = json.loads(str(value))
                (_gamedays if name == "gameday" else _rehearsals)[f"{day['page']}::{day['fault']}"] = day
            if name == "marker_counts":  # tests run outside pytest (node --test), counted under a fix's marker
                for marker, counts in json.loads(str(value)).items():
                    row = _markers.setdefault(marker, {"passed": 0, "failed": 0, "skipped": 0, "total": 0})
                    for key in ("passed", "failed", "total"):
                        row[key] += int(counts[key])
    if report.when != "call" and not (report.when == "setup" and not report.passed):
        return
    outcome = "passed" if report.passed else "skipped" if report.skipped else "failed"
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".md"):
        _count(_pages, path, outcome)
    for marker in _MARKERS & set(report.keywords):
        _count(_markers, marker, outcome)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Merge this run into results/test-runs.json: each page, fix and figure that ran gets this run's
    stamp; the others keep their own."""
    if not _pages and not _markers and not _figures and not _gamedays and not _rehearsals:
        return
    path = Path(session.config.getoption("proof_dir")) / results.TEST_RUNS
    with _merging(path.parent):
        _merge(path)


@contextlib.contextmanager
def _merging(directory: Path) -> Iterator[None]:
    """One session at a time reads, merges and writes the proof: ``make test`` runs the laboratory
    and the rehearsal side by side, and each merges its rows when it ends."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _merge(path: Path) -> None:
    try:
        previous = results.load(path)
    except results.ResultsError:
        previous = None
    before = previous.data if previous else {}
    stamp = results.provenance()
    recorded = {key: (float(value), results.figure(key).unit, 1) for key, value in _figures.items()}
    rows = {
        "pages": _pages,
        "markers": _markers,
        "gamedays": _gamedays,
        "rehearsals": _rehearsals,
        "figures": {key: {"value": value} for key, value in _figures.items()},
    }
    results.write(
        path,
        recorded,
        {key: results.merge_rows(before.get(key, {}), table, stamp) for key, table in rows.items()},
        history=0,
        stamp=stamp,
    )
