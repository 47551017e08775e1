"""Typed loading of ``checks/thresholds.yaml``, the single source of every limit.

A malformed file is rejected at load time with the file, the key and what was expected, so a
typo can never silently disable an alert.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from checks.errors import ThresholdsError

__all__ = [
    "COMPARISONS",
    "DEFAULT_PATH",
    "SAFE_LOADER",
    "Threshold",
    "Thresholds",
    "duration_seconds",
    "format_value",
    "load",
]

DEFAULT_PATH = Path(__file__).with_name("thresholds.yaml")
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
SEVERITIES = ("critical", "warning")
UNITS = ("ratio", "seconds", "bytes", "count", "per_second")
FIELDS = {"value", "unit", "comparison", "severity", "for", "runbook", "why"}
OPTIONAL = {"alert", "promql", "window", "fixture"}
# libyaml's safe loader where PyYAML was built with it: the pure-Python one takes ~70 ms for this file
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DURATION = re.compile(r"^\d+[smh]$")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_ALERT = re.compile(r"^[A-Z][A-Za-z0-9]+$")


@dataclasses.dataclass(frozen=True)
class Threshold:
    """One limit: ``breached(reading)`` says whether a reading crosses it."""

    key: str
    value: float
    unit: str
    comparison: str
    severity: str
    for_: str
    runbook: str
    why: str
    alert: str = ""
    promql: str = ""  # with ``$window`` and ``$probes`` placeholders; see the thresholds file's header
    window: str = ""
    fixture_series: Mapping[str, str] = dataclasses.field(default_factory=dict)  # promtool: selector -> values
    fixture_value: float = 0.0  # what ``promql`` gives on ``fixture_series``

    @property
    def window_seconds(self) -> float:
        """The window in seconds (0 when the limit has none)."""
        return duration_seconds(self.window) if self.window else 0.0

    def breached(self, reading: float) -> bool:
        return COMPARISONS[self.comparison](reading, self.value)

    def describe(self) -> str:
        """``> 0.8 ratio``: the limit as a reader sees it next to a reading."""
        return f"{self.comparison} {format_value(self.value, self.unit)}"


Thresholds = Mapping[str, Threshold]


def duration_seconds(duration: str) -> float:
    """``10m`` → 600.0: a Prometheus-style duration of the thresholds file, in seconds."""
    return float(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def format_value(value: float, unit: str) -> str:
    """A reading for people: ratios as percent, bytes in MiB, seconds in ms below one second,
    rates and whole counts with thousands separators."""
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "bytes":
        if abs(value) < 1024:
            return f"{value:.0f} B"
        return f"{value / 2**20:.1f} MiB" if value >= 2**20 else f"{value / 1024:.1f} KiB"
    if unit == "seconds":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "per_second":
        if abs(value) >= 100:
            return f"{value:,.0f}/s"
        return f"{value:.1f}/s" if abs(value) >= 0.1 or value == 0 else f"{value:.2g}/s"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:g}"


def _entry(path: Path, key: str, raw: Any) -> Threshold:
    where = f"{path}: {key}"
    if not isinstance(raw, dict):
        raise ThresholdsError(f"{where}: expected a mapping with {sorted(FIELDS)}, found {type(raw).__name__}")
    missing, unknown = FIELDS - raw.keys(), raw.keys() - FIELDS - OPTIONAL
    if missing:
        raise ThresholdsError(f"{where}: missing {', '.join(sorted(missing))}")
    if unknown:
        raise ThresholdsError(f"{where}: unknown field {', '.join(sorted(map(str, unknown)))}")
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ThresholdsError(f"{where}.value: expected a number, found {value!r}")
    checks = [
        ("unit", raw["unit"] in UNITS, f"one of {', '.join(UNITS)}"),
        ("comparison", raw["comparison"] in COMPARISONS, f"one of {' '.join(COMPARISONS)}"),
        ("severity", raw["severity"] in SEVERITIES, f"one of {', '.join(SEVERITIES)}"),
        ("for", isinstance(raw["for"], str) and bool(_DURATION.match(raw["for"])), "a duration like 5m, 30s or 1h"),
        (
            "runbook",
            isinstance(raw["runbook"], str) and bool(_SLUG.match(raw["runbook"])),
            "a page slug like memory-high",
        ),
        ("why", isinstance(raw["why"], str) and raw["why"].strip() != "", "one line of text"),
    ]
    if "alert" in raw:
        checks.append(
            (
                "alert",
                isinstance(raw["alert"], str) and bool(_ALERT.match(raw["alert"])),
                "an alert name in CamelCase, like CacheDiskFailing",
            )
        )
        promql = raw.get("promql")
        checks.append(
            ("promql", isinstance(promql, str) and promql.strip() != "", "the PromQL the alert compares with the value")
        )
    if "alert" in raw:
        fixture = raw.get("fixture")
        series = fixture.get("series") if isinstance(fixture, dict) else None
        checks.append(
            (
                "fixture",
                isinstance(series, dict)
                and bool(series)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in series.items())
                and isinstance(fixture.get("value"), int | float),  # type: ignore[union-attr]  # fixture was checked to be a mapping two lines above
                "{value: N, series: {selector: 'promtool values'}}: the promtool test of the alert",
            )
        )
    if "window" in raw:
        checks.append(
            (
                "window",
                isinstance(raw["window"], str) and bool(_DURATION.match(raw["window"])),
                "a duration like 1m or 10m",
            )
        )
    uses_window = "$window" in str(raw.get("promql", ""))
    if "promql" in raw and uses_window != ("window" in raw):
        raise ThresholdsError(
            f"{where}: promql uses $window but no window is set"
            if uses_window
            else f"{where}: window is set but the promql does not use $window"
        )
    todo = [
        field
        for field, value in (("promql", raw.get("promql")), ("why", raw.get("why")), ("fixture", raw.get("fixture")))
        if "TODO" in str(value)
    ]
    if todo:
        raise ThresholdsError(f"{where}: fill in the placeholder in {', '.join(todo)} (make new-runbook left a TODO)")
    for field, ok, expected in checks:
        if not ok:
            raise ThresholdsError(f"{where}.{field}: expected {expected}, found {raw.get(field)!r}")
    fixture = raw.get("fixture") or {}
    return Threshold(
        key,
        float(value),
        raw["unit"],
        raw["comparison"],
        raw["severity"],
        raw["for"],
        raw["runbook"],
        raw["why"].strip(),
        raw.get("alert", ""),
        str(raw.get("promql", "")).strip(),
        raw.get("window", ""),
        dict(fixture.get("series", {})),
        float(fixture.get("value", 0)),
    )


def load(path: Path | None = None) -> dict[str, Threshold]:
    """Read and validate the thresholds file (the packaged one by default)."""
    path = path or DEFAULT_PATH
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    except FileNotFoundError:
        raise ThresholdsError(f"{path}: thresholds file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ThresholdsError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ThresholdsError(f"{path}:{line} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict) or not data:
        raise ThresholdsError(f"{path}: expected a mapping of threshold keys, found {type(data).__name__}")
    return {str(key): _entry(path, str(key), raw) for key, raw in data.items()}
