"""Quick versions of fault drills on every `make test`: the first three of one instance (crash,
database, cache disk), and the three of several instances (one killed whole, the bus restarted empty,
the bus stopped and kept)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.drill.drills import DRILLS
from scripts.faults import FaultUnavailable


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "backend_crash",
        "database_disconnection",
        "cache_disk_failure",
        "instance_killed",
        "bus_restarted",
        "bus_stopped",
    ],
)
def test_quick_drill_meets_its_targets(name: str, tmp_path: Path) -> None:
    """Assert the drill meets every target: detection, recovery, nothing acknowledged lost or duplicated."""
    try:
        result = DRILLS[name](tmp_path, True)
    except FaultUnavailable as exc:
        pytest.fail(str(exc))
    missed = [target for target, met in result.targets.items() if not met]
    assert not missed, f"{name} missed {missed}: {result.to_json()}"
    assert result.writes_acked > 0 and result.ttd_seconds is not None and result.ttr_seconds is not None
