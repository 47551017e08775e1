"""The drills of several instances (docs/fleet.md): three supervised instances sharing a Redis bus
behind nginx, as the guide's files make them (:mod:`scripts.instances`), under a thousand clients.

* ``instance_killed``: one instance SIGKILLed whole (supervisor and server). Its clients resume
  through nginx on the other two; every client must have every acknowledged broadcast once.
* ``bus_restarted``: Redis, run as the guide runs it (no persistence), killed and started again
  empty. Every instance sees the new epoch and closes its sockets with 1012; each client resumes and
  is told that what it missed is unknown; what is acknowledged after must reach every client.
* ``bus_stopped``: Redis with ``appendfsync always`` (the other safe way to run the bus) stopped
  for 30 s. Broadcasts are refused meanwhile (503, none acknowledged), sockets stay open, and after
  it the numbering goes on where it was: nothing missed, no gap at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from scripts import live
from scripts.drill.accounting import DRILL_SETTINGS, account, settle
from scripts.drill.outcome import DrillResult
from scripts.drill.traffic import Traffic, traffic
from scripts.faults import FAULTS, Target
from scripts.instances import running_instances
from scripts.live import Live

__all__ = ["FLEET_DRILLS", "bus_restarted", "bus_stopped", "instance_killed"]

CLIENTS, QUICK_CLIENTS = 1000, 60
PAUSE = 0.25  # between broadcasts: 4 a second to a thousand clients is what one Python loop keeps up with


def _clients(quick: bool) -> int:
    return QUICK_CLIENTS if quick else CLIENTS


def _held(members: list[Live]) -> list[int]:
    return [int(member.metric("backend_ws_connections_active")) for member in members]


def _all_back(parts: Traffic, since: float, timeout: float) -> float | None:
    """Seconds from ``since`` until every client holds a socket again."""
    back = live.seconds_until(lambda: all(parts.fleet.connected), timeout)
    return None if back is None else round(time.monotonic() - since, 3)


def instance_killed(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "instance_killed",
        "One of three instances killed under clients",
        "SIGKILL of one instance's supervisor and server (real), nginx least_conn in front",
        "its clients' sockets end; nginx skips the dead instance",
    )
    size = _clients(quick)
    with running_instances(tmp, connections=4 * size, settings=DRILL_SETTINGS) as fleet:
        with traffic(fleet.members[0], fleet.url, fleet_size=size, pause=PAUSE) as parts:
            before = _held(fleet.members)
            reconnects = len(parts.fleet.reconnects)
            killed = time.monotonic()
            with FAULTS["instance-killed"](Target(fleet.members[1])):  # one-shot: dead from here on
                pass
            live.seconds_until(lambda: len(parts.fleet.reconnects) > reconnects, 10)
            first = parts.fleet.reconnects[reconnects] if len(parts.fleet.reconnects) > reconnects else None
            result.ttd_seconds = None if first is None else round(first - killed, 3)
            live.seconds_until(lambda: len(parts.fleet.reconnects) - reconnects >= before[1], 30)
            result.ttr_seconds = _all_back(parts, killed, 30)
            settle(parts, result)
            after = _held([fleet.members[0], fleet.members[2]])
            duplicates = parts.fleet.duplicates
        account(result, parts)
    result.figures.update({"clients": size, "held_before": sum(before), "held_after": sum(after)})
    result.targets.update(
        {
            "least_conn spread the clients (no instance under half its share)": min(before) >= size / 6,
            "every client back, on the two others": result.ttr_seconds is not None and sum(after) == size,
            "0 acknowledged broadcasts missing": result.ws_messages_lost == 0,
            "0 broadcasts delivered twice": duplicates == 0,
        }
    )
    return result


def _bus_down(
    tmp: Path, quick: bool, result: DrillResult, persistent: bool, outage: float
) -> tuple[Traffic, dict[str, float]]:
    """Stop the bus for ``outage`` s under clients and start it again (empty, or from its file)."""
    size = _clients(quick)
    with running_instances(tmp, connections=4 * size, bus_durable=persistent, settings=DRILL_SETTINGS) as fleet:
        with traffic(fleet.members[0], fleet.url, fleet_size=size, pause=PAUSE) as parts:
            with FAULTS["bus-down"](Target(fleet.members[0], bus=fleet.bus)) as lift:
                result.ttd_seconds = live.seconds_until(
                    lambda: all(m.metric("backend_bus_up") == 0 for m in fleet.members), 15
                )
                # counted from the first broadcast sent once the bus was down: the one in flight as
                # it died may have been appended before, and acknowledged after (counted as "while
                # down" once, in CI)
                sent = _attempts(parts)
                live.seconds_until(lambda: _attempts(parts) > sent, 10)
                acked = _acknowledged(parts)
                time.sleep(outage)  # the outage lasts, as the drill's scenario says
                held = sum(parts.fleet.connected)
                acked_while_down = _acknowledged(parts) - acked
                refused = parts.publisher.errors.get("HTTP 503 bus_unavailable", 0)
                restarted, acked = time.monotonic(), _acknowledged(parts)
                lift()
            result.ttr_seconds = live.seconds_until(lambda: _acknowledged(parts) > acked and _flowing(parts), 30)
            settle(parts, result)
            figures = {
                "clients": size,
                "clients_connected_at_end_of_outage": held,
                "broadcasts_refused_while_down": refused,
                "broadcasts_acknowledged_while_down": acked_while_down,
                "clients_told_of_new_numbering": sum(parts.fleet.renumbered),
                "back_after_restart_seconds": round(time.monotonic() - restarted, 3),
            }
        account(result, parts)
    result.figures.update(figures)
    return parts, figures


def _acknowledged(parts: Traffic) -> int:
    """Broadcasts acknowledged so far, under every numbering."""
    return len(parts.publisher.earlier) + len(parts.publisher.acked)


def _attempts(parts: Traffic) -> int:
    """Broadcasts the publisher has had an answer for: acknowledged, refused or failed."""
    return _acknowledged(parts) + sum(parts.publisher.errors.values())


def _flowing(parts: Traffic) -> bool:
    """Broadcasts acknowledged again, and every client has the newest."""
    return bool(parts.publisher.acked) and parts.fleet.all_have(parts.publisher.acked[-1], parts.publisher.epoch)


def bus_restarted(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "bus_restarted",
        "Message bus restarted without its data",
        "SIGKILL of Redis run as the guide runs it (no persistence), started again empty",
        "each instance's backend_bus_up 0; a new epoch when it is back",
    )
    parts, figures = _bus_down(tmp, quick, result, persistent=False, outage=1 if quick else 3)
    result.targets.update(
        {
            "no broadcast acknowledged while the bus was down": figures["broadcasts_acknowledged_while_down"] == 0,
            "every client told of the new numbering (1012, then a gap notice)": (
                figures["clients_told_of_new_numbering"] == figures["clients"]
            ),
            "0 broadcasts acknowledged after the restart missing": result.ws_messages_lost == 0,
            "broadcasts flow again": result.ttr_seconds is not None,
        }
    )
    return result


def bus_stopped(tmp: Path, quick: bool) -> DrillResult:
    result = DrillResult(
        "bus_stopped",
        "Message bus stopped for 30 s",
        "SIGKILL of Redis with appendfsync always, started again from its file after 30 s",
        "each instance's backend_bus_up 0; broadcasts refused with 503 bus_unavailable",
    )
    parts, figures = _bus_down(tmp, quick, result, persistent=True, outage=3 if quick else 30)
    result.targets.update(
        {
            "broadcasts refused, none acknowledged while the bus was down": (
                figures["broadcasts_refused_while_down"] > 0 and figures["broadcasts_acknowledged_while_down"] == 0
            ),
            "every client kept its socket through the outage": (
                figures["clients_connected_at_end_of_outage"] == figures["clients"]
            ),
            "the same numbering after it (no client told of a new one)": figures["clients_told_of_new_numbering"] == 0,
            "0 acknowledged broadcasts missing, no gap": result.ws_messages_lost == 0 and parts.fleet.gaps == 0,
        }
    )
    return result


FLEET_DRILLS: dict[str, Callable[[Path, bool], DrillResult]] = {
    "instance_killed": instance_killed,
    "bus_restarted": bus_restarted,
    "bus_stopped": bus_stopped,
}
