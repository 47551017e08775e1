"""Quick versions of the first three fault drills, on every `make test`: crash, database, cache disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.drill.drills import DRILLS
from scripts.faults import FaultUnavailable


@pytest.mark.slow
@pytest.mark.parametrize("name", ["backend_crash", "database_disconnection", "cache_disk_failure"])
def test_quick_drill_meets_its_targets(name: str, tmp_path: Path) -> None:
    """Assert the drill meets every target: detection, recovery, nothing acknowledged lost or duplicated."""
    try:
        result = DRILLS[name](tmp_path, True)
    except FaultUnavailable as exc:
        pytest.fail(str(exc))
    missed = [target for target, met in result.targets.items() if not met]
    assert not missed, f"{name} missed {missed}: {result.to_json()}"
    assert result.writes_acked > 0 and result.ttd_seconds is not None and result.ttr_seconds is not None
