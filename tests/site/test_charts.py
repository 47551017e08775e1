"""The site's SVG charts: what they plot, in proportion, and a clear error when there is nothing to plot."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from docsite import svg as charts
from docsite.data import MacroError
from tests.support.site_data import macros, result_file, stamped

SVG = "{http://www.w3.org/2000/svg}"


def _widths(svg: str) -> list[float]:
    return [float(rect.get("width", 0)) for rect in ET.fromstring(svg).iter(f"{SVG}rect")]


def test_bars_are_proportional_and_labelled() -> None:
    """Assert a value twice as large draws a bar twice as long, with its label and text, as valid SVG."""
    svg = charts.bars("rps", [("hello", 10_000, "10,000 req/s"), ("cache read", 5_000, "5,000 req/s (50%)")])
    first, second = _widths(svg)
    assert first == pytest.approx(2 * second, rel=0.01)
    assert "cache read" in svg and "5,000 req/s (50%)" in svg and 'aria-label="rps"' in svg


def test_log_bars_keep_order_and_empty_charts_fail() -> None:
    """Assert log-scale bars still grow with the value, and a chart of nothing raises naming the chart."""
    widths = _widths(charts.bars("lat", [("p50", 0.001, ""), ("p99", 0.01, ""), ("max", 0.1, "")], log=True))
    assert widths == sorted(widths) and widths[0] > 0
    with pytest.raises(ValueError, match="'empty' has no rows"):
        charts.bars("empty", [])
    with pytest.raises(ValueError, match="'none' has no points"):
        charts.lines("none", {"a": []}, "x", str)


def test_lines_plot_points_in_x_order_with_limit_line() -> None:
    """Assert a line chart draws each point (x sorted), axis labels from the formatters, and the limit."""
    svg = charts.lines(
        "p99",
        {"p99": [(2000, 0.02), (1000, 0.004)]},
        "rate",
        lambda v: f"{v * 1000:.0f} ms",
        lambda x: f"{x:,.0f}/s",
        limit=(0.025, "25 ms target"),
    )
    root = ET.fromstring(svg)
    xs = [float(p.split(",")[0]) for p in root.find(f"{SVG}polyline").get("points").split()]
    assert xs == sorted(xs) and len(xs) == 2
    assert "1,000/s" in svg and "2,000/s" in svg and "25 ms target" in svg and "stroke-dasharray" in svg


def test_chart_macros_draw_from_the_results(tmp_path: Path) -> None:
    """Assert the throughput, capacity, soak and history charts take their numbers from the results file."""
    data = stamped(
        0,
        metrics={
            "api.throughput.hello_rps": {"value": 10_000, "unit": "per_second"},
            "api.throughput.cache_read_rps": {"value": 4_500, "unit": "per_second"},
            "api.mixed.p99_seconds": {"value": 0.0065, "unit": "seconds", "target": 0.025},
        },
        details={
            "api.capacity.steps": [[1000, 0.004, 1000, 0], [1500, 0.03, 1490, 0]],
            "api.capacity_pinned.steps": [[1000, 0.003, 1000, 0], [2500, 0.05, 2400, 3]],
            "fleet.capacity_pinned.steps": [[1000, 0.004, 1000, 0], [2750, 0.06, 2600, 0]],
            "memory.soak.rss": [[100, 60e6], [200, 60.1e6]],
            "memory.soak.top_growth": ["x.py:1: +64 B"],
        },
        history=[
            {"generated_at": "2026-11-20T00:00:00+00:00", "commit": "1", "metrics": {"api.mixed.p99_seconds": 0.0071}}
        ],
    )
    m = macros(baselines=result_file(tmp_path, "b.json", data))
    assert "cache read" in m.throughput_chart() and "4,500 req/s (45%)" in m.throughput_chart()
    capacity = m.capacity_chart()
    assert "25 ms target" in capacity and "2,750/s" in capacity  # the x axis spans every search
    assert "sharing both cores" in capacity and "server on CPU 0, generator on CPU 1" in capacity
    assert "two instances of a fleet on CPU 0" in capacity
    assert "60.2 MiB" in m.soak_chart()  # the y axis tops out 5 % over the highest sample, 60.1e6 bytes
    assert m.soak_growth() == "- `x.py:1: +64 B`"
    history = m.history_chart("api.mixed.p99_seconds")
    assert "latest 6.5 ms" in history and "7.5 ms" in history  # the y axis tops out 5 % over 7.1 ms
    assert "2026-11-20 1" in history and "abcdef1" in history  # x axis: first and latest run, date and commit
    assert "make soak HOURS=8" in m.soak_report()


def test_chart_macros_fail_on_missing_data_naming_page_and_key(tmp_path: Path) -> None:
    """Assert a chart asked for points the results do not have stops the build with page and key."""
    m = macros(baselines=result_file(tmp_path, "b.json", stamped(0, metrics={})))
    with pytest.raises(MacroError, match=r"runbooks/x.md: no details 'api.capacity.steps'"):
        m.capacity_chart()
    with pytest.raises(MacroError, match=r"runbooks/x.md: no api.throughput figures"):
        m.throughput_chart()
    with pytest.raises(MacroError, match=r"runbooks/x.md: figure 'api.nope' is not declared"):
        m.history_chart("api.nope")
    assert macros().throughput_chart() == "*not measured yet: run `make bench`*"
    assert re.search(r"not measured yet", macros().soak_growth())


def test_soak_report_renders_a_timed_soak_file(tmp_path: Path) -> None:
    """Assert `make soak HOURS=N`'s file shows its hours, provenance, figures and RSS chart."""
    soak = result_file(
        tmp_path,
        "soak.json",
        stamped(
            0,
            hours=8,
            metrics={
                "memory.soak.slope_bytes_per_kop": {"value": 12.5, "unit": "bytes"},
                "memory.soak.requests": {"value": 80_000_000, "unit": "count"},
            },
            details={"memory.soak.rss": [[1000, 62e6], [90000, 62.1e6]]},
        ),
    )
    report = macros(soak=soak).soak_report()
    assert report.startswith("8 hours, 2026-11-26 12:00 UTC, commit abcdef1, on 2 cores")
    assert (
        "| `memory.soak.requests` | 80,000,000 |" in report and "| `memory.soak.slope_bytes_per_kop` | 12 B |" in report
    )
    assert "<svg" in report and "90,000k" in report


def test_baseline_table_keeps_a_pipe_inside_its_cell(tmp_path: Path) -> None:
    """Assert a target text with ``|`` in it (``|slope|``) is escaped, so the table keeps five columns."""
    data = stamped(
        0,
        metrics={
            "memory.soak.slope_bound_bytes_per_kop": {
                "value": 132,
                "unit": "bytes",
                "target_text": "ours: |slope| + 2 SE <= 1 KiB",
                "met": True,
            }
        },
    )
    table = macros(baselines=result_file(tmp_path, "b.json", data)).baseline_area("memory.soak.")
    row = table.splitlines()[-1]
    assert row.replace("\\|", "").count("|") == 6, row
