"""Every runbook proven under its own real faults: detect (doctor names the page first), diagnose
(the page's failing outputs), mitigate (the page's own steps), verify (healthy again).

The selected game days (``-k hung-server`` selects one) run in parallel, each on a backend of its
own, once per test session; each scenario is then one test, whose result the page's notice shows
(``results/test-runs.json``, ``gamedays``).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
from pathlib import Path

import pytest

from pages import CONSOLE, as_published, read_page
from scripts.faults import FAULTS, FaultUnavailable
from scripts.gameday.runner import GameDay, run
from scripts.gameday.scenarios import SCENARIOS

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = sorted(p for p in (REPO / "runbooks").glob("*.md") if p.name != "index.md")
# Game days mostly wait on their backends, but each runs doctor in a loop and doctor takes SQLite's
# write lock for a moment: four at a time on two shared cores left one doctor holding it past the
# backend's 0.5 s /ready probe now and then (a "database error" after recovery). Three at a time,
# once the fleet's game days came (two instances, Redis, traffic of their own in this process), left
# one game day's idle clients late on their keepalive pongs in CI (1011 closes after recovery): two.
PARALLEL = 2

# the first test's setup runs every selected game day (27, two at a time): minutes, not the default 180 s
pytestmark = [pytest.mark.slow, pytest.mark.gameday, pytest.mark.timeout(900)]


def _page_of(name: str) -> Path:
    return REPO / "runbooks" / f"{SCENARIOS[name].runbook}.md"


@pytest.fixture(scope="session")
def gamedays(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, GameDay | str]:
    """The game day of every scenario this session selected (or why this machine could not make its fault)."""
    selected = list(
        dict.fromkeys(
            item.callspec.params["name"]
            for item in request.session.items
            if getattr(item, "originalname", "") in USES_GAMEDAYS
        )
    )

    def one(name: str) -> GameDay | str:
        try:
            return run(
                _page_of(name).relative_to(REPO), SCENARIOS[name], tmp_path_factory.mktemp(name), say=lambda line: None
            )
        except FaultUnavailable as exc:
            return str(exc)

    tmp_path_factory.getbasetemp()  # made once here: four threads making it at once each made their own
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        return dict(zip(selected, pool.map(one, selected), strict=True))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_runbook_handles_its_fault(
    name: str, gamedays: dict[str, GameDay | str], record_property: pytest.RecordProperty
) -> None:
    """Assert doctor names the page first, its failing outputs are what the reader sees, its own
    mitigation restores service, and its verify steps pass."""
    day = gamedays[name]
    if isinstance(day, str):
        pytest.fail(f"{name}: this machine cannot make the fault: {day}")
    record_property("gameday", json.dumps(day.to_json()))
    assert day.routed, f"doctor named {day.doctor_first!r} first, not {day.runbook!r}"
    failures = [f"{s.phase} {s.report}" for s in day.steps if not s.passed]
    assert not failures, "\n\n".join(failures)
    assert not day.problems, day.problems
    assert day.passed


@pytest.mark.parametrize("name", [name for name, scenario in SCENARIOS.items() if scenario.broken])
def test_no_row_says_ok_while_the_fault_breaks_its_claim(name: str, gamedays: dict[str, GameDay | str]) -> None:
    """Assert that when doctor named the page, every row whose claim the fault breaks (the database
    takes a write, handshakes are not refused, ...) said so: none was ok, none was missing."""
    day = gamedays[name]
    if isinstance(day, str):
        pytest.fail(f"{name}: this machine cannot make the fault: {day}")
    said = {row: day.doctor_rows.get(row, "missing") for row in SCENARIOS[name].broken}
    false = {row: status for row, status in said.items() if status not in ("warn", "fail", "error")}
    assert not false, f"{name}: doctor said {false} while the fault breaks what they claim (first: {day.doctor_said})"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_page_fits_followed_alone_names_the_cause(name: str, gamedays: dict[str, GameDay | str]) -> None:
    """Assert "No page fits" (docs/triage.md), its commands run in order while the fault held, printed
    what names the fault's cause (the scenario's patterns), as a reader with no other page reads it."""
    declared = SCENARIOS[name].triage
    assert declared, f"{name}: declare what the triage page shows of it (scripts/gameday/scenarios.py: triage)"
    day = gamedays[name]
    if isinstance(day, str):
        pytest.fail(f"{name}: this machine cannot make the fault: {day}")
    missing = [p for p in declared if not re.search(p, day.triage, re.MULTILINE)]
    assert not missing, f"{name}: the triage page's output shows nothing matching {missing}:\n{day.triage[-4000:]}"


USES_GAMEDAYS = (
    "test_runbook_handles_its_fault",
    "test_no_row_says_ok_while_the_fault_breaks_its_claim",
    "test_no_page_fits_followed_alone_names_the_cause",
)


@pytest.mark.parametrize("page", RUNBOOKS, ids=[p.name for p in RUNBOOKS])
def test_every_runbook_names_faults_it_is_proven_under(page: Path) -> None:
    """Assert each runbook lists at least one known fault in its front matter, and each scenario's
    runbook lists it back."""
    faults = read_page(page).meta.get("faults") or []
    assert faults, f"{page.name}: no `faults:` in its front matter"
    unknown = [f for f in faults if f not in SCENARIOS]
    assert not unknown, f"{page.name}: unknown faults {unknown}; known: {sorted(SCENARIOS)}"
    assert all(SCENARIOS[f].runbook == page.stem for f in faults)


def _copy(page: str, tmp: Path, *changes: tuple[str, str]) -> Path:
    """A scratch copy of a runbook (same file name, so doctor must still name it) with some changes."""
    text = (REPO / "runbooks" / page).read_text()
    for old, new in changes:
        assert old in text, f"{page} no longer holds {old!r}; update this test"
        text = text.replace(old, new, 1)
    copy = tmp / page
    copy.write_text(text)
    return copy


def test_a_page_run_under_a_fault_it_is_not_for_fails(tmp_path: Path) -> None:
    """Assert the latency page under an error spike fails: doctor names another page first."""
    day = run(
        Path("runbooks/api-latency-high.md"),
        SCENARIOS["error-spike"],
        tmp_path,
        say=lambda line: None,
        detect_deadline=8,
        healthy_deadline=5,
    )
    assert not day.routed and day.doctor_first == "api-error-rate-high" and not day.passed


def test_a_diagnose_block_showing_the_healthy_output_fails_under_its_fault(tmp_path: Path) -> None:
    """Assert a diagnose step whose expected output is the healthy one fails against the sick backend."""
    page = _copy(
        "api-error-rate-high.md",
        tmp_path,
        (
            "    fail  errors.ratio ... of ... API requests were 5xx",
            "    ok    errors.ratio ... of ... API requests were 5xx",
        ),
    )
    day = run(page, SCENARIOS["error-spike"], tmp_path / "run", say=lambda line: None)
    failed = [s for s in day.steps if not s.passed]
    assert day.routed and not day.passed
    assert [s.phase for s in failed] == ["diagnose"] and "checks errors" in failed[0].command


def test_a_mitigation_that_does_not_restore_service_fails(tmp_path: Path) -> None:
    """Assert a mitigation that only pretends (keeps the evidence, never restarts) leaves the game day red."""
    page = _copy(
        "memory-high.md",
        tmp_path,
        ('kill -TERM "$server"; ', ""),
        ("$ timeout 30 sh -c 'until curl", "$ timeout 3 sh -c 'until curl"),
    )
    day = run(page, SCENARIOS["memory-pressure"], tmp_path / "run", say=lambda line: None, healthy_deadline=8)
    assert day.routed and not day.passed and day.mitigated_seconds is None
    assert any("waiting for /ready 200, doctor clean" in p for p in day.problems), day.problems


PAGES = sorted([*REPO.glob("docs/*.md"), *REPO.glob("runbooks/*.md")])


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_fault_block_is_run_by_a_game_day(page: Path) -> None:
    """Assert the healthy run's skip of a fault block is honest: each one sits where a game day runs
    it (a console block in Diagnose, Mitigate or Verify of a runbook) under a fault its page names."""
    document = read_page(page)
    faults = document.meta.get("faults") or []
    unreached = []
    for block in document.blocks:
        if not block.is_fault_block:
            continue
        if (
            page.parent.name != "runbooks"
            or block.language != "console"
            or block.section not in ("Diagnose", "Mitigate", "Verify")
            or not any(block.shows_fault(f) for f in faults)
        ):
            unreached.append(
                f"{page.name}:{block.start} ({block.language} in {block.section or 'no section'}, "
                f"for {block.directive.faults or 'every fault'}; the page names {faults})"
            )
    assert not unreached, "fault blocks no game day runs: " + "; ".join(unreached)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_scenario_is_a_fault_of_the_library_with_a_stand_in_per_skipped_step(name: str) -> None:
    """Assert a game day names a library fault (one naming scheme), and declares exactly one stand-in
    for each Mitigate step its page skips under that fault, so no stand-in is chosen by page text."""
    scenario = SCENARIOS[name]
    assert name in FAULTS, f"{name} is not a fault of scripts/faults; known: {sorted(FAULTS)}"
    page = as_published(REPO / "runbooks" / f"{scenario.runbook}.md", REPO / "docs")
    mitigate = [b for b in page if b.section == "Mitigate" and b.language == CONSOLE]
    skipped = [b for b in mitigate if b.shows_fault(name) and b.skipped_here]
    assert len(skipped) == len(scenario.stand_ins), (
        f"{scenario.runbook}.md skips {[b.where for b in skipped]} under {name}; "
        f"the scenario declares {[s.value for s in scenario.stand_ins]}"
    )
