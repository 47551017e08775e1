"""The guide's several instances (docs/fleet.md) with its exact files, ports and paths aside: three
supervised instances as ``backend@.service`` starts them, Redis as ``redis-bus.conf`` configures it,
nginx with ``nginx.conf`` and ``fleet.conf``; real WebSocket clients through nginx while one
instance dies whole (SIGKILL to its supervisor and its server, what a host losing the unit does)."""

from __future__ import annotations

from pathlib import Path

from scripts.drill.traffic import traffic
from scripts.faults import FAULTS, Target
from scripts.instances import GUIDE, GUIDE_PORTS, running_instances, template_environment
from scripts.live import wait_for


def test_the_guides_files_agree_on_the_bus_and_the_instances() -> None:
    """Assert the template reaches Redis where redis-bus.conf puts it, gives each instance a directory
    of its own under the shared data directory, and fleet.conf sends to exactly the guide's instances."""
    bus = dict(line.split(" ", 1) for line in (GUIDE / "redis-bus.conf").read_text().splitlines() if line[:1].isalpha())
    env = template_environment(8082)
    assert env["BACKEND_BUS_URL"] == f"redis://{bus['bind'].split()[0]}:{bus['port']}/0"
    assert bus["save"] == '""' and bus["appendonly"] == "no"  # the bus is safe only without persistence
    assert env["BACKEND_PORT"] == "8082"
    assert Path(env["BACKEND_INSTANCE_DIR"]).parent.parent == Path(env["BACKEND_DATA_DIR"])
    upstream = (GUIDE / "fleet.conf").read_text()
    assert "least_conn;" in upstream
    assert [f"127.0.0.1:{port}" in upstream for port in GUIDE_PORTS] == [True] * 3


def test_clients_ride_one_instance_dying_whole_with_nothing_missing(tmp_path: Path) -> None:
    """Assert least_conn spreads 30 clients over the three instances; after one instance is SIGKILLed
    whole, its clients resume through nginx on the other two, and every client has every acknowledged
    broadcast exactly once (or was told of a gap), every acknowledged write reads back."""
    with running_instances(tmp_path) as fleet, traffic(fleet.members[0], fleet.url, fleet_size=30, pause=0.05) as parts:
        instances = fleet.members
        held = [instance.metric("backend_ws_connections_active") for instance in instances]
        assert sum(held) == 30 and min(held) >= 5, f"least_conn should spread the clients: {held}"
        reconnects_before, acked_before = len(parts.fleet.reconnects), len(parts.publisher.acked)
        with FAULTS["instance-killed"](Target(instances[1])):  # one-shot: dead from here on
            pass
        wait_for(
            lambda: len(parts.fleet.reconnects) - reconnects_before >= held[1] and all(parts.fleet.connected),
            30,
            f"the {held[1]:.0f} clients of the dead instance to be back",
        )
        survivors = [
            instances[0].metric("backend_ws_connections_active"),
            instances[2].metric("backend_ws_connections_active"),
        ]
        problems = parts.unaccounted()
        duplicates = parts.fleet.duplicates
    assert sum(survivors) == 30, survivors
    assert not problems, problems
    assert duplicates == 0
    assert len(parts.publisher.acked) - acked_before >= 3 and parts.writer.acked  # broadcasts after the kill too
