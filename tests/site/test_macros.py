"""Unit tests of the site macros: limits, figures, notices, protection of code blocks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from docsite.data import MacroError
from docsite.markdown import prepare
from scripts import results
from tests.support.site_data import NOW, macros, result_file, stamped


def test_threshold_comes_from_the_thresholds_file() -> None:
    """Assert limits render from checks/thresholds.yaml, and an unknown key names the page and key."""
    m = macros()
    assert m.threshold("ws.connections_ratio") == "90.0 %"
    assert m.threshold_rule("http.error_ratio") == "> 1.0 % for 2m"
    with pytest.raises(MacroError, match=r"runbooks/x.md: unknown threshold key 'ws.nope'"):
        m.threshold("ws.nope")


def test_baseline_states_not_measured_measured_stale_and_unknown(tmp_path: Path) -> None:
    """Assert a figure renders with provenance, a missing one says how to measure it, old ones are flagged."""
    assert macros().baseline("api.mixed.p95_seconds") == "*not measured yet: run `make bench`*"
    metric = {"metrics": {"api.mixed.p95_seconds": {"value": 0.0123, "unit": "seconds"}}}
    fresh = macros(baselines=result_file(tmp_path, "b.json", stamped(1, **metric)))
    assert fresh.baseline("api.mixed.p95_seconds") == "12.3 ms (2026-11-25 12:00 UTC, commit abcdef1)"
    old = macros(baselines=result_file(tmp_path, "o.json", stamped(90, **metric)))
    assert "stale: measured 90 days ago" in old.baseline("api.mixed.p95_seconds")
    with pytest.raises(MacroError, match=r"runbooks/x.md: figure 'api.p95' is not declared"):
        fresh.baseline("api.p95")


def test_verified_notice_reflects_the_latest_run(tmp_path: Path) -> None:
    """Assert the notice says not run, passed, or failed, with counts and the run's stamp."""
    assert "not run in this checkout" in macros().verified_notice("runbooks/x.md")
    runs = result_file(
        tmp_path,
        "t.json",
        stamped(
            0,
            pages={
                "runbooks/ok.md": {"passed": 5, "failed": 0, "skipped": 1, "total": 6},
                "runbooks/bad.md": {"passed": 3, "failed": 2, "skipped": 0, "total": 5},
            },
        ),
    )
    m = macros(test_runs=runs)
    ok = m.verified_notice("runbooks/ok.md")
    assert ok.startswith('!!! success "Diagnostics verified: 5 of 5 commands passed, 1 skipped')
    assert "2026-11-26 12:00 UTC, commit abcdef1" in ok
    assert m.verified_notice("runbooks/bad.md").startswith('!!! failure "Diagnostics FAILED: 3 of 5')
    assert "not run in the latest test run" in m.verified_notice("runbooks/other.md").lower()


def test_verified_notice_shows_its_own_rows_run_not_the_files_latest(tmp_path: Path) -> None:
    """Assert a page proven by an older run keeps that run's date and commit after a partial run
    re-stamped the file (the file is from today, the row from 5 days ago)."""
    old = (NOW - dt.timedelta(days=5)).isoformat()
    runs = result_file(
        tmp_path,
        "t.json",
        stamped(
            0,
            pages={
                "runbooks/ok.md": {
                    "passed": 2,
                    "failed": 0,
                    "skipped": 0,
                    "total": 2,
                    "generated_at": old,
                    "commit": "0123456789abc",
                }
            },
        ),
    )
    notice = macros(test_runs=runs).verified_notice("runbooks/ok.md")
    assert "2026-11-21 12:00 UTC, commit 0123456" in notice
    assert "abcdef1" not in notice


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{not json", "not readable JSON"),
        ('{"commit": "x", "machine": {}}', "missing provenance field 'generated_at'"),
        ('{"generated_at": "yesterday", "commit": "x", "machine": {}}', "is not an ISO date"),
        (
            '{"generated_at": "2026-01-01T00:00:00", "commit": "x", "machine": {}, "metrics": {"a": {"value": "x"}}}',
            "metrics.a needs a numeric value and a unit",
        ),
    ],
)
def test_malformed_results_file_names_its_path(tmp_path: Path, text: str, error: str) -> None:
    """Assert a malformed results file is rejected with its path and what is wrong."""
    path = tmp_path / "baselines.json"
    path.write_text(text)
    with pytest.raises(results.ResultsError, match=error) as info:
        results.load(path)
    assert str(info.value).startswith(str(path))


def test_code_blocks_are_protected_from_jinja_and_keep_their_text() -> None:
    """Assert fenced blocks (indented ones too) are wrapped in raw, so Jinja renders them verbatim."""
    import jinja2

    page = (
        "Limit {{ x }}\n\n1. Step\n\n    ```yaml\n    summary: '{{ $labels.instance }}'\n    ```\n\n"
        "~~~console\n$ docker ps --format '{{.Names}}'\n~~~\n"
    )
    rendered = (
        jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        .from_string(prepare(page, Path("docs/x.md")))
        .render(x="90 %")
    )
    assert rendered == page.replace("{{ x }}", "90 %")


def test_gameday_notice_says_proven_or_failed_with_its_own_run(tmp_path: Path) -> None:
    """Assert a runbook's game-day notice names each fault with doctor's seconds and the page's
    mitigation seconds, turns red when one failed, and says "not proven" without a run."""

    def day(fault: str, passed: bool) -> dict:
        return {
            "page": "runbooks/x.md",
            "fault": fault,
            "passed": passed,
            "routed": passed,
            "doctor_first": "x" if passed else "y",
            "detected_seconds": 1.5,
            "mitigated_seconds": 2.25,
            "stand_in": "",
            "phases": {"diagnose": [2, 2]},
            "generated_at": "2026-11-25T12:00:00+00:00",
            "commit": "0123456789",
        }

    good = result_file(tmp_path, "g.json", stamped(0, gamedays={"runbooks/x.md::hang": day("hang", True)}))
    notice = macros(test_runs=good).gameday_notice("runbooks/x.md")
    assert notice.startswith('!!! success "Proven under fault: hang"')
    assert "detected in 1.5 s by doctor" in notice and "mitigated by this page in 2.25 s" in notice
    assert "2026-11-25 12:00 UTC, commit 0123456" in notice
    bad = result_file(tmp_path, "b.json", stamped(0, gamedays={"runbooks/x.md::hang": day("hang", False)}))
    failed = macros(test_runs=bad).gameday_notice("runbooks/x.md")
    assert failed.startswith('!!! failure "Game day FAILED under hang"') and "doctor named y first" in failed
    assert "Not proven under its fault" in macros().gameday_notice("runbooks/x.md")


def test_rehearsal_notice_says_rehearsed_failed_or_laboratory_only(tmp_path: Path) -> None:
    """Assert a runbook rehearsed on the production host says so with the alert, its seconds to
    pending and to delivery (or, for a symptom page, doctor's naming it), the mitigation and the
    run; red with the problem when it failed; and
    "Laboratory only" when the run has no rehearsal of the page."""

    def day(passed: bool) -> dict:
        return {
            "page": "runbooks/x.md",
            "fault": "hang",
            "where": "rehearsal",
            "passed": passed,
            "alert": "BackendDown",
            "pending_seconds": 14.9,
            "delivered_seconds": 95.0,
            "mitigated_seconds": 1.6,
            "problems": [] if passed else ["after mitigation, doctor on the host still finds db.ready: locked"],
            "generated_at": "2026-11-25T12:00:00+00:00",
            "commit": "0123456789",
        }

    good = result_file(tmp_path, "g.json", stamped(0, rehearsals={"runbooks/x.md::hang": day(True)}))
    notice = macros(test_runs=good).rehearsal_notice("runbooks/x.md")
    assert notice.startswith('!!! success "Rehearsed: hang"')
    assert (
        "production host built by the deployment guide (systemd, nginx, Prometheus, Alertmanager)" in notice
        and "2026-11-25 12:00 UTC, commit 0123456" in notice
    )
    assert (
        "BackendDown pending after 14.9 s, delivered by Alertmanager after 95.0 s, mitigated by this page in 1.6 s"
        in notice
    )
    symptom = {**day(True), "fault": "cut", "alert": "", "delivered_seconds": None, "pending_seconds": 52.3}
    entered = result_file(tmp_path, "s.json", stamped(0, rehearsals={"runbooks/x.md::cut": symptom}))
    assert (
        "`cut`: no alert of its own: `checks doctor` on the host named it after 52.3 s, mitigated by this page in 1.6 s"
        in macros(test_runs=entered).rehearsal_notice("runbooks/x.md")
    )
    bad = result_file(tmp_path, "b.json", stamped(0, rehearsals={"runbooks/x.md::hang": day(False)}))
    failed = macros(test_runs=bad).rehearsal_notice("runbooks/x.md")
    assert failed.startswith('!!! failure "Rehearsal FAILED on a production host: hang"') and "db.ready" in failed
    assert macros(test_runs=good).rehearsal_notice("runbooks/y.md").startswith('!!! info "Laboratory only')


def _git(*args: str) -> str:
    import subprocess

    return subprocess.run(["git", *args], cwd=results.REPO, capture_output=True, text=True, check=True).stdout.strip()


def test_a_proof_is_stale_when_old_or_older_than_the_pages_last_change(tmp_path: Path) -> None:
    """Assert amber for a proof past stale_after_days, amber for a proof run on a commit before the
    page's last change (from git), green for one on a commit containing it, red for a failed one,
    each saying why."""
    page = "runbooks/backend-down.md"
    changed = _git("log", "-1", "--format=%H", "--", page)
    before = _git("rev-parse", f"{changed}^")
    row = {"passed": 4, "failed": 0, "skipped": 0, "total": 4}

    def notice(days_old: float, commit: str, **extra: int) -> str:
        when = (NOW - dt.timedelta(days=days_old)).isoformat()
        runs = result_file(
            tmp_path, "t.json", stamped(0, pages={page: {**row, **extra, "generated_at": when, "commit": commit}})
        )
        return macros(test_runs=runs).verified_notice(page)

    assert notice(1, changed).startswith('!!! success "Diagnostics verified: 4 of 4')
    old = notice(45, changed)
    assert old.startswith('!!! warning "Diagnostics STALE: 4 of 4') and "proven 45 days ago (limit 30)" in old
    behind = notice(1, before)
    assert behind.startswith('!!! warning "Diagnostics STALE')
    assert f"the page changed in commit {changed[:7]}, after the proof's commit {before[:7]}" in behind
    assert notice(45, before, passed=3, failed=1).startswith('!!! failure "Diagnostics FAILED: 3 of 4')


def test_proof_status_lists_every_page_oldest_first_with_its_state(tmp_path: Path) -> None:
    """Assert the status table orders pages by the age of their oldest proof, never-run pages first,
    and gives each its state: a failed game day fails its page."""
    head = _git("rev-parse", "HEAD")
    when = {name: (NOW - dt.timedelta(days=days)).isoformat() for name, days in (("new", 1), ("old", 40))}
    runs = result_file(
        tmp_path,
        "t.json",
        stamped(
            0,
            pages={
                "docs/index.md": {"passed": 2, "failed": 0, "total": 2, "generated_at": when["new"], "commit": head},
                "runbooks/memory-high.md": {
                    "passed": 5,
                    "failed": 0,
                    "total": 5,
                    "generated_at": when["old"],
                    "commit": head,
                },
                "runbooks/backend-down.md": {
                    "passed": 4,
                    "failed": 0,
                    "total": 4,
                    "generated_at": when["new"],
                    "commit": head,
                },
            },
            gamedays={
                "runbooks/backend-down.md::hung-server": {
                    "page": "runbooks/backend-down.md",
                    "fault": "hung-server",
                    "passed": False,
                    "generated_at": when["new"],
                    "commit": head,
                }
            },
        ),
    )
    m = macros(test_runs=runs)
    m.data.proven_pages = [
        "docs/index.md",
        "runbooks/backend-down.md",
        "runbooks/memory-high.md",
        "runbooks/network-partition.md",
    ]
    table = m.proof_status_table()
    rows = [line for line in table.splitlines() if line.startswith("| [")]
    assert [r.split("]")[0].removeprefix("| [") for r in rows] == [
        "runbooks/network-partition.md",
        "runbooks/memory-high.md",
        "runbooks/backend-down.md",
        "docs/index.md",
    ]
    assert "not run" in rows[0] and "**stale**" in rows[1] and "proven 40 days ago" in rows[1]
    assert "**FAILED**" in rows[2] and "0 of 1" in rows[2] and "passed" in rows[3]
    assert table.endswith("4 pages: 1 failed, 1 not run, 1 stale, 1 passed.")


def _soak_metrics(slope: float, bound: float, requests: float) -> dict:
    return {
        "metrics": {
            "memory.soak.slope_bytes_per_kop": {"value": slope, "unit": "bytes"},
            "memory.soak.slope_bound_bytes_per_kop": {"value": bound, "unit": "bytes"},
            "memory.soak.requests": {"value": requests, "unit": "count"},
            "memory.soak.ws_cycles": {"value": 0, "unit": "count"},
        }
    }


def test_the_8_hour_projection_multiplies_each_runs_bound_and_says_it_is_one(tmp_path: Path) -> None:
    """28.8 M operations x 100 B per 1,000 = 2.7 MiB; x 10 B = 281.2 KiB; labelled a projection."""
    baselines = result_file(tmp_path, "b.json", stamped(1, **_soak_metrics(50, 100, 2_000_000)))
    soak = result_file(tmp_path, "s.json", stamped(1, hours=1, **_soak_metrics(-4, 10, 9_000_000)))
    table = macros(baselines=baselines, soak=soak).soak_projection()
    assert "**projection**" in table and "28.8 M operations" in table
    compressed, timed = [line for line in table.splitlines() if line.startswith("| ") and "soak" in line]
    assert "2.00 M" in compressed and compressed.endswith("| 2.7 MiB |")
    assert "1-hour soak" in timed and "9.00 M" in timed and timed.endswith("| 281.2 KiB |")
    assert macros().soak_projection() == "*not measured yet: run `make bench`*"


def test_the_hit_ratio_chart_draws_the_policies_and_the_live_point(tmp_path: Path) -> None:
    metrics = {
        name: {"value": value, "unit": unit}
        for name, value, unit in (
            ("cache.trace.size", 500, "count"),
            ("cache.trace.keys", 1000, "count"),
            ("cache.trace.live_hit_ratio", 0.8, "ratio"),
        )
    }
    baselines = result_file(
        tmp_path,
        "b.json",
        stamped(1, metrics=metrics, details={"cache.trace.sweep": [[100, 0.5, 0.7, 0.6], [500, 0.8, 0.9, 0.85]]}),
    )
    chart = macros(baselines=baselines).hit_ratio_chart()
    for legend in (
        "LRU (simulated)",
        "Belady&#x27;s optimum (simulated)",
        "W-TinyLFU, theine (simulated)",
        "live backend (LRU)",
        "of 1,000 keys",
    ):
        assert legend in chart, legend
    without = result_file(tmp_path, "n.json", stamped(1, metrics=metrics))
    with pytest.raises(MacroError, match="no details 'cache.trace.sweep'"):
        macros(baselines=without).hit_ratio_chart()
