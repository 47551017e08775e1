"""The results module: every figure declared once, one writer with provenance and history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from scripts import results
from scripts.drill.drills import DRILLS
from scripts.drill.outcome import DrillResult

REPO = Path(__file__).resolve().parents[2]


def test_drill_names_and_figures_are_the_drills_that_exist() -> None:
    """Assert the schema's drills are exactly `make drill`'s, in order, and each declared drill figure
    is a field every drill result has."""
    assert list(results.DRILLS) == list(DRILLS)
    fields = DrillResult.__dataclass_fields__
    assert set(results.DRILL_FIGURES) <= set(fields)
    for drill in DRILLS:
        for name, (unit, _) in results.DRILL_FIGURES.items():
            assert results.figure(f"{drill}.{name}").unit == unit


def test_every_committed_figure_is_declared_with_its_unit() -> None:
    """Assert each figure in the committed result files has a declaration with the same unit."""
    for name in (results.BASELINES, results.RECOVERY, results.SOAK):
        file = results.load(results.DEFAULT_DIR / name)
        for key, measurement in (file.metrics if file else {}).items():
            assert results.figure(key).unit == measurement.unit, f"{name}: {key}"


def test_a_family_covers_its_members_and_nothing_else() -> None:
    """Assert ``api.throughput.*_rps`` covers an endpoint and a typo is refused naming the schema."""
    assert results.figure("api.throughput.item_write_rps").higher_is_better is True
    assert results.figure("api.throughput.item_write_p99_seconds").higher_is_better is False
    with pytest.raises(results.UnknownFigure, match="'api.thruput.x' is not declared in scripts/results/schema.py"):
        results.figure("api.thruput.x")


def test_writer_stamps_judges_and_keeps_history(tmp_path: Path) -> None:
    """Assert a second write keeps the first run's figures in history, and each figure carries its
    declared target and verdict."""
    path = tmp_path / "baselines.json"
    results.write(path, {"api.mixed.p99_seconds": (0.010, "seconds", 100)}, {"tools": {"x": "1"}})
    results.write(path, {"api.mixed.p99_seconds": (0.030, "seconds", 100)})
    data = json.loads(path.read_text())
    assert data["metrics"]["api.mixed.p99_seconds"] == {
        "value": 0.030,
        "unit": "seconds",
        "samples": 100,
        "target": 0.025,
        "target_text": "ours: p99 < 25 ms at 1,000 req/s, open loop",
        "met": False,
    }
    assert [run["metrics"] for run in data["history"]] == [{"api.mixed.p99_seconds": 0.010}]
    loaded = results.load(path)
    assert loaded is not None and loaded.commit and "cores" in loaded.machine
    assert dt.datetime.now(dt.UTC) - loaded.generated_at < dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("recorded", "message"),
    [
        ({"api.p99": (1.0, "seconds", 1)}, "'api.p99' is not declared"),
        ({"api.mixed.p99_seconds": (10.0, "ms", 1)}, "measured in 'ms', declared in 'seconds'"),
    ],
)
def test_writer_refuses_what_a_page_could_not_render_truthfully(tmp_path: Path, recorded: dict, message: str) -> None:
    """Assert an undeclared key or a unit other than the declaration's is refused, and nothing is written."""
    path = tmp_path / "baselines.json"
    with pytest.raises((results.UnknownFigure, results.ResultsError), match=message):
        results.write(path, recorded)
    assert not path.exists()


def test_merged_rows_keep_the_stamp_of_the_run_that_made_them() -> None:
    """Assert a partial run re-stamps only its own rows."""
    old = {"runbooks/a.md": {"passed": 1, "generated_at": "2026-11-01T00:00:00+00:00", "commit": "aaa"}}
    merged = results.merge_rows(
        old, {"runbooks/b.md": {"passed": 2}}, {"generated_at": "2026-11-27T00:00:00+00:00", "commit": "bbb"}
    )
    assert merged["runbooks/a.md"]["commit"] == "aaa"
    assert merged["runbooks/b.md"] == {"passed": 2, "generated_at": "2026-11-27T00:00:00+00:00", "commit": "bbb"}
