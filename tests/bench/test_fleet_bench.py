"""The fleet's bench figures: Redis's own ceiling measured for real, and each ratio taken against the
one-instance anchor of the same run, never silently without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.bench.fleet import anchors, ratios, xadd_per_second
from scripts.redis_server import RedisServer


def test_redis_benchmark_gives_the_bus_s_append_rate(tmp_path: Path) -> None:
    """Assert redis-benchmark's XADD rate comes back from a real redis-server, and its stream holds them."""
    bus = RedisServer(tmp_path / "redis").start()
    try:
        rate, appended = xadd_per_second(bus.url, 2000)
    finally:
        bus.stop()
    assert appended == 2000
    assert rate > 100  # loopback Redis appends thousands a second; under 100 is a broken parse


def test_a_bus_url_that_is_not_loopback_redis_is_refused() -> None:
    with pytest.raises(ValueError, match="not a loopback redis:// URL"):
        xadd_per_second("redis://10.0.0.5:6379/0", 10)


def _figures(fanout: int, anchor: float) -> dict[str, tuple[float, str, int]]:
    keys = {key for pair in anchors(fanout).values() for key in pair}
    return {key: (anchor if key.startswith(("ws.", "api.", "disk.", "bus.xadd")) else 2.0, "x", 7) for key in keys}


def test_each_fleet_figure_is_divided_by_its_one_instance_anchor() -> None:
    found = ratios(_figures(5, 4.0), 5)
    assert set(found) == set(anchors(5))
    assert found["fleet.broadcast_5.p99_ratio"] == (0.5, "ratio", 7)
    assert found["fleet.capacity_pinned_ratio"] == (0.5, "ratio", 7)


def test_a_ratio_without_its_anchor_stops_the_run() -> None:
    figures = _figures(5, 4.0)
    del figures["api.capacity_pinned_rps"]
    with pytest.raises(KeyError, match="api.capacity_pinned_rps"):
        ratios(figures, 5)
    with pytest.raises(ValueError, match="the anchor .* is 0.0"):
        ratios(_figures(5, 0.0), 5)
