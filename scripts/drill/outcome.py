"""What a measurement over a fault found, judged by its targets: shared by the fault drills, the
client scenarios and the overload drill, and the shape ``results/recovery.json`` stores."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["DrillResult", "Judged"]


class Judged:
    """An outcome judged by its ``targets`` (target in words -> met): it passes when it has
    targets and met every one. Subclasses are dataclasses."""

    targets: dict[str, bool]

    @property
    def passed(self) -> bool:
        return bool(self.targets) and all(self.targets.values())

    def to_json(self) -> dict[str, Any]:
        if not dataclasses.is_dataclass(self) or isinstance(self, type):
            raise TypeError(f"{type(self).__name__} must be a dataclass to be judged")
        return {**dataclasses.asdict(self), "passed": self.passed}


@dataclasses.dataclass
class DrillResult(Judged):
    """What one drill measured, and which targets it met."""

    name: str
    scenario: str
    fault: str
    detection: str
    ttd_seconds: float | None = None
    ttr_seconds: float | None = None
    writes_acked: int = 0
    writes_lost: int = 0
    writes_duplicated: int = 0
    ws_messages_lost: int = 0
    client_errors: dict[str, int] = dataclasses.field(default_factory=dict)
    targets: dict[str, bool] = dataclasses.field(default_factory=dict)
    figures: dict[str, float] = dataclasses.field(default_factory=dict)
