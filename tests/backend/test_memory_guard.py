"""Unit tests of the memory guard's decision."""

from __future__ import annotations

import pytest

from backend.memory_guard import MemoryGuard

pytestmark = [pytest.mark.memory_bounded]


def test_guard_sheds_above_watermark_and_resumes_below_hysteresis() -> None:
    """Assert shedding starts above the watermark and stops only below resume_ratio of it."""
    guard = MemoryGuard(watermark_bytes=1000, resume_ratio=0.9)
    assert guard.update(1000) is False
    assert guard.update(1001) is True
    assert guard.update(950) is True  # between 900 and 1000: no flapping
    assert guard.update(899) is False
    assert guard.rss_bytes == 899
