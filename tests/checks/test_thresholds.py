"""Unit tests of the thresholds file and its loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from checks.errors import ThresholdsError
from checks.thresholds import DEFAULT_PATH, format_value, load

PLAN_LIMITS = {  # the production-hardening plan's five alert thresholds
    "memory.rss_ratio": (">", 0.8),
    "ws.connections_ratio": (">", 0.9),
    "http.error_ratio": (">", 0.01),
    "http.p95_latency_seconds": (">", 1.0),
    "cache.hit_ratio": ("<", 0.85),
}


def test_packaged_file_loads_and_holds_the_plan_limits() -> None:
    """Assert the shipped thresholds load and carry the plan's five limits exactly."""
    limits = load()
    for key, (comparison, value) in PLAN_LIMITS.items():
        assert (limits[key].comparison, limits[key].value) == (comparison, value), key
    assert limits["cache.hit_ratio"].breached(0.84) and not limits["cache.hit_ratio"].breached(0.85)
    assert limits["memory.rss_ratio"].describe() == "> 80.0 %"


def test_a_limits_window_is_stated_once_for_the_rule_and_the_check() -> None:
    """Assert the crash-loop limit's window (seconds for the check) is the one its alert's PromQL uses."""
    from scripts.alert_rules import promql

    restarts = load()["process.restarts"]
    assert restarts.window_seconds == 600
    assert f"[{restarts.window}]" in promql(restarts) and "$" not in promql(restarts)


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "thresholds.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _valid() -> dict:
    return yaml.safe_load(DEFAULT_PATH.read_text())


def _mutate(key: str, field: str, value: object) -> dict:
    data = _valid()
    if value is KeyError:
        del data[key][field]
    else:
        data[key][field] = value
    return data


MALFORMED = [
    ("not yaml", "a: [unclosed", "not valid YAML"),
    ("empty", "", "expected a mapping of threshold keys"),
    ("list", [1, 2], "expected a mapping of threshold keys"),
    ("entry not mapping", {"x.y": 3}, "x.y: expected a mapping"),
    ("missing field", _mutate("cache.hit_ratio", "runbook", KeyError), "cache.hit_ratio: missing runbook"),
    ("unknown field", _mutate("cache.hit_ratio", "colour", "red"), "cache.hit_ratio: unknown field colour"),
    ("value text", _mutate("cache.hit_ratio", "value", "high"), "cache.hit_ratio.value: expected a number"),
    ("value bool", _mutate("cache.hit_ratio", "value", True), "cache.hit_ratio.value: expected a number"),
    ("comparison", _mutate("cache.hit_ratio", "comparison", "=="), "cache.hit_ratio.comparison: expected one of"),
    ("severity", _mutate("cache.hit_ratio", "severity", "page"), "cache.hit_ratio.severity: expected one of"),
    ("duration", _mutate("cache.hit_ratio", "for", "10 minutes"), "cache.hit_ratio.for: expected a duration"),
    ("slug", _mutate("cache.hit_ratio", "runbook", "Cache Page"), "cache.hit_ratio.runbook: expected a page slug"),
    (
        "alert without promql",
        _mutate("memory.shedding", "promql", KeyError),
        "memory.shedding.promql: expected the PromQL",
    ),
    (
        "window unused",
        _mutate("memory.shedding", "window", "5m"),
        "memory.shedding: window is set but the promql does not",
    ),
    ("window missing", _mutate("process.restarts", "window", KeyError), "process.restarts: promql uses $window but no"),
    (
        "window text",
        _mutate("process.restarts", "window", "ten minutes"),
        "process.restarts.window: expected a duration",
    ),
]


@pytest.mark.parametrize(("case", "data", "message"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_file_is_rejected_naming_file_key_and_expectation(
    tmp_path: Path, case: str, data: object, message: str
) -> None:
    """Assert each malformed file fails to load with the path, the key and what was expected."""
    path = _write(tmp_path, data)
    with pytest.raises(ThresholdsError) as info:
        load(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    """Assert a missing thresholds file is reported with its path."""
    with pytest.raises(ThresholdsError, match="thresholds file not found"):
        load(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.0123, "ratio", "1.2 %"),
        (108.8, "bytes", "109 B"),
        (30_100, "bytes", "29.4 KiB"),
        (3 * 2**20, "bytes", "3.0 MiB"),
        (0.0065, "seconds", "6.5 ms"),
        (1.94, "seconds", "1.94 s"),
        (11826.5, "per_second", "11,826/s"),
        (0.5, "per_second", "0.5/s"),
        (1.99609, "per_second", "2.0/s"),
        (0.0166667, "per_second", "0.017/s"),
        (0, "per_second", "0.0/s"),
        (1_000_000, "count", "1,000,000"),
        (3, "count", "3"),
        (2.5, "count", "2.5"),
    ],
)
def test_format_value_reads_for_people(value: float, unit: str, text: str) -> None:
    """Assert each unit's reading: percent, KiB/MiB, ms/s, rates and counts without exponents."""
    assert format_value(value, unit) == text
