"""The shape every check returns, and how a reading becomes a status."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from checks.thresholds import Threshold, format_value

__all__ = ["Result", "Status", "judge", "skipped"]


class Status(enum.Enum):
    """ok: within limits · skip: not measured, the detail says which setting is missing (never read as
    health) · warn: a warning limit crossed · fail: a critical one crossed or the part is down ·
    error: the probe itself failed (the reason is in the detail)."""

    OK = "ok"
    SKIP = "skip"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return ("ok", "skip", "warn", "fail", "error").index(self.value)

    @property
    def found_something(self) -> bool:
        return self in (Status.WARN, Status.FAIL, Status.ERROR)


@dataclasses.dataclass(frozen=True)
class Result:
    """One row of the report."""

    check: str
    status: Status
    detail: str
    value: float | None = None
    unit: str = ""
    threshold: str = ""
    runbook: str = ""

    @property
    def reading(self) -> str:
        return "" if self.value is None else format_value(self.value, self.unit)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status.value,
            "value": self.value,
            "unit": self.unit,
            "threshold": self.threshold,
            "detail": self.detail,
            "runbook": self.runbook,
        }


def skipped(check: str, why: str) -> Result:
    """A row that could not be measured here, saying what to set or where to run it."""
    return Result(check, Status.SKIP, why)


def judge(check: str, reading: float, limit: Threshold, detail: str) -> Result:
    """Compare ``reading`` with ``limit``: ok, or warn/fail by the limit's severity."""
    if limit.breached(reading):
        status = Status.FAIL if limit.severity == "critical" else Status.WARN
        detail = f"{detail}; limit {limit.describe()} ({limit.key}): {limit.why}"
    else:
        status = Status.OK
    return Result(
        check, status, detail, reading, limit.unit, limit.describe(), "" if status is Status.OK else limit.runbook
    )
