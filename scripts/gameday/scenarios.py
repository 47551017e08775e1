"""The game days: each runbook fault as a scenario over the fault library.

A scenario names a fault of :data:`scripts.faults.FAULTS` (its name is the fault's, and the name a
runbook's front matter lists), the runbook ``checks doctor`` must send the reader to first, the
backend settings and fault parameters its game day runs with, the doctor rows a window still holds
after a good mitigation, and what the harness does in place of each Mitigate step the page marks
``skip`` (a production step: a rollback, a failover, systemd). Stand-ins are declared here, in
the order of the page's skipped steps; the game day fails when the page and the declaration differ.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts import live
from scripts.faults import FAULTS, Fault
from scripts.faults.database import backup_of

__all__ = ["SCENARIOS", "Scenario", "StandIn"]


class StandIn(enum.Enum):
    """What the harness does in place of a skipped Mitigate step."""

    LIFT = "lift"  # end the fault's cause (what the rollback, failover or throttle would do)
    STOP_SERVICE = "stop-service"  # `systemctl stop backend`: the supervisor we started stops
    START_SERVICE = "start-service"  # `systemctl start backend`: a new supervisor on the same port and data


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One runbook fault, as its game day makes it."""

    name: str  # the fault's name in scripts.faults, and in the page's `faults:`
    runbook: str
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    params: dict[str, Any] = dataclasses.field(default_factory=dict)  # the fault's own parameters
    # rows allowed to stay not ok after a successful mitigation, and why (a window still holds the fault)
    lingering: dict[str, str] = dataclasses.field(default_factory=dict)
    stand_ins: tuple[StandIn, ...] = ()  # one per skipped Mitigate step, in page order
    stand_in_does: str = ""  # what LIFT means for this fault, in words for the report
    # variables the page's commands need beyond BACKEND_* (where the backup is), given the backend
    env: Callable[[live.Reachable], dict[str, str]] | None = None
    # doctor rows whose claim this fault breaks: none of them may say ok while it holds ("no false ok")
    broken: tuple[str, ...] = ()
    # what "No page fits" (docs/triage.md), followed alone under this fault, prints that names its
    # cause: patterns, each of which must be found in that output (one line each, ``re.MULTILINE``)
    triage: tuple[str, ...] = ()
    # why acknowledged writes may be gone after the page's mitigation (a restore of an older backup)
    writes_may_go: str = ""
    # the WebSocket clients of the game day's traffic: a fault seen only in how many sockets end (a
    # partition) needs enough of them to pass the alert's rate, as a real host's clients would
    clients: int = 5
    # other instances on the same bus and database: the traffic reaches the first of them, as nginx
    # would send it elsewhere while this instance is the one at fault
    companions: int = 0

    @property
    def fault(self) -> Fault:
        return FAULTS[self.name]

    @property
    def what(self) -> str:
        return self.fault.what

    @property
    def on_fleet(self) -> bool:
        """Met on several instances sharing a message bus: its fault acts on the bus, or on one of them."""
        return self.fault.needs_bus or self.companions > 0


def _backup(backend: live.Reachable) -> dict[str, str]:
    return {"BACKEND_BACKUP": str(backup_of(backend.data_dir))}


def _archive(backend: live.Reachable) -> dict[str, str]:
    """Where the page moves what does not belong on the data volume: another filesystem."""
    archive: Path = backend.data_dir.parent / "archive"
    archive.mkdir(exist_ok=True)
    return {"ARCHIVE_DIR": str(archive)}


_WINDOW = "over the alert's 1-minute window"
LIFT = (StandIn.LIFT,)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "hung-server",
            "backend-down",
            {"supervisor_health_failures": 1000},  # the watchdog is slower than the reader here
            lingering={"latency.p95": f"requests that waited out the hang, {_WINDOW}"},
            triage=(r"/health did not answer within .*: the server accepts connections but is hung",),
        ),
        Scenario(
            "supervisor-gone",
            "backend-down",
            stand_ins=(StandIn.START_SERVICE,),
            triage=(r"connection refused.*; nothing listens on port",),
        ),
        # doctor cannot run its rows (the port answers, but not as the backend): its one line names the owner
        Scenario(
            "port-taken",
            "backend-down",
            stand_ins=(StandIn.START_SERVICE,),
            triage=(r"is held by pid .*-m http\.server .*, not the backend",),
        ),
        # doctor cannot run its rows (every connection closed unanswered): its one line names the limit
        Scenario(
            "open-file-limit-too-low",
            "backend-down",
            {"supervisor_health_failures": 1000},  # the watchdog's kill would only restart into the same limit
            stand_ins=LIFT,
            stand_in_does="the drop-in is moved aside, systemd reloaded and the service restarted",
            triage=(
                r"takes no connection: .*which has 64 files open of the 64 its limit allows",
                r"^Max open files +64 ",
            ),
        ),
        Scenario(
            "crash-loop",
            "backend-crash-looping",
            stand_ins=(StandIn.START_SERVICE,),
            lingering={"process.restarts": "counts restarts over the alert's 10-minute window"},
            broken=("process.restarts",),
            triage=(r"^(warn|fail) +process\.restarts .* supervisor restarts in the last",),
        ),
        Scenario(
            "db-write-lock",
            "database-unavailable",
            lingering={
                "errors.ratio": f"the writes refused during the lock, {_WINDOW}",
                "db.errors": f"the same refusals, {_WINDOW}",
                "latency.p95": f"writes waited out the busy timeout, {_WINDOW}",
            },
            broken=("db.ready", "db.lock_wait"),
            triage=(r"^database: locked .*database locked for more than",),
        ),
        Scenario(
            "database-lost",
            "database-unavailable",
            env=_backup,
            writes_may_go="the page restores last night's backup: the writes since are gone, as it says",
            stand_ins=(StandIn.STOP_SERVICE, StandIn.START_SERVICE),
            lingering={
                "errors.ratio": f"the writes refused while the file was gone, {_WINDOW}",
                "db.errors": f"the same refusals, {_WINDOW}",
            },
            broken=("db.ready",),
            triage=(r"^database: unavailable .*backend\.sqlite3 is missing",),
        ),
        Scenario(
            "data-volume-read-only",
            "database-unavailable",
            stand_ins=(StandIn.STOP_SERVICE, StandIn.START_SERVICE),
            lingering={
                "errors.ratio": f"the writes refused while the volume was read-only, {_WINDOW}",
                "db.errors": f"the same refusals, {_WINDOW}",
            },
            broken=("db.ready", "host.data_volume"),
            triage=(r"^(warn|fail) +host\.data_volume .*Read-only file system", r"^database: readonly "),
        ),
        Scenario(
            "cache-disk-full",
            "cache-disk-failure",
            broken=("cache.disk_tier",),
            triage=(r"^cache: disk .*No space left on device",),
        ),
        Scenario(
            "cache-dir-deleted",
            "cache-disk-failure",
            broken=("cache.disk_tier",),
            triage=(r"^cache: disk .*/cache is missing",),
        ),
        Scenario(
            "idle-connections",
            "connections-timed-out",
            {"http_header_timeout": 1.0},
            stand_ins=LIFT,
            stand_in_does="the clients are blocked at the firewall (load lifted)",
            lingering={"http.refused": f"the refused connections, {_WINDOW}"},
            broken=("http.refused",),
            triage=(r"^(warn|fail) +http\.refused .*connections closed before a whole request",),
        ),
        # on a fleet: three instances of 16 places, 52 clients through nginx, each request 0.2 s on
        # every instance; the page's mitigation adds a fourth (64 places, 13 clients each)
        Scenario(
            "overload",
            "overloaded",
            {"max_in_flight": 16},
            params={"clients": 52},
            stand_ins=LIFT,
            stand_in_does="an instance is added (load lifted)",
            lingering={
                "http.shed": f"the refusals, {_WINDOW}",
                "errors.ratio": f"the 503 refusals, {_WINDOW}",
                "latency.p95": "each request still costs the slow dependency's 0.2 s, on the new instance too",
            },
            companions=1,
            broken=("http.shed",),
            triage=(r"^(warn|fail) +http\.shed .*refused by admission control",),
        ),
        Scenario(
            "upgrade-dropped",
            "clients-not-reconnecting",
            stand_ins=LIFT,
            stand_in_does="the proxy's config is rolled back (Upgrade passes again)",
            lingering={"ws.handshakes": f"the refused handshakes, {_WINDOW}"},
            broken=("ws.handshakes",),
            triage=(r"^(warn|fail) +ws\.handshakes .*without the Upgrade header \(426\)",),
        ),
        Scenario(
            "data-disk-almost-full",
            "data-disk-almost-full",
            env=_archive,
            broken=("host.disk_free",),
            triage=(r"^(warn|fail) +host\.disk_free ",),
        ),
        Scenario(
            "memory-pressure",
            "memory-high",
            {"memory_watermark_bytes": 150 * 2**20},
            params={"megabytes": 160},
            lingering={"errors.ratio": f"the requests shed with 503, {_WINDOW}"},
            broken=("process.shedding",),
            triage=(r"^memory: shedding .*over the .* watermark",),
        ),
        # on a fleet: 3 x 30 clients through nginx, each request holding its buffer for 1 s; RSS near
        # 0.86 of the watermark on each; the page's mitigation adds a fourth (about 0.7 each).
        # Admission by queue time off: beside another game day on two cores (CI) the loop ran late
        # often enough to refuse 23 of 1,842 requests, and doctor rightly named the 503s first; a
        # quiet machine refused none. What this game day proves is the memory.
        Scenario(
            "memory-from-load",
            "memory-high",
            {"shed_loop_lag": 0},
            stand_ins=LIFT,
            stand_in_does="an instance is added (the load spreads)",
            lingering={
                "latency.p95": "each request still waits the slow dependency's 1 s, on the new instance too",
                "ws.broadcast_rtt": "the probe's broadcast is an API request, as slow",
            },
            companions=1,
            broken=("process.rss",),
            triage=(r"^warn +process\.rss .*MiB of a .*MiB watermark",),
        ),
        Scenario(
            "ws-drop-storm",
            "websocket-disconnect-storm",
            lingering={"ws.disconnects": f"counts closes {_WINDOW}"},
            stand_ins=LIFT,
            stand_in_does="the component cutting the sockets is stopped (storm lifted)",
            broken=("ws.disconnects",),
            triage=(r"^(warn|fail) +ws\.disconnects .* by server\)",),
        ),
        Scenario(
            "slow-consumer-storm",
            "websocket-disconnect-storm",
            # the flood blocks the loop for seconds at a time; the watchdog is not what this proves
            {"ws_send_queue": 4, "max_body_bytes": 2**20, "ws_replay_buffer": 50},
            lingering={
                "ws.disconnects": f"counts closes {_WINDOW}",
                "ws.slow_consumers": f"counts drops {_WINDOW}",
            },
            stand_ins=LIFT,
            stand_in_does="the flooding publisher is slowed down (storm lifted)",
            broken=("ws.slow_consumers",),
            triage=(r"^(warn|fail) +ws\.slow_consumers .*slow consumers dropped",),
        ),
        Scenario(
            "injected-latency",
            "api-latency-high",
            params={"seconds": 1.5},
            lingering={
                "latency.p95": "p95 over the alert's 1-minute window",
                "ws.broadcast_rtt": "the probe's broadcast is an API request",
            },
            stand_ins=LIFT,
            stand_in_does="the slow dependency is failed over (latency fault lifted)",
            broken=("ws.broadcast_rtt",),  # a live probe: the 1-minute p95 catches up later
            triage=(r"^(warn|fail) +latency\.p95 .*API p95",),
        ),
        Scenario(
            "error-spike",
            "api-error-rate-high",
            params={"ratio": 0.5},
            lingering={"errors.ratio": "5xx share over the alert's 1-minute window"},
            stand_ins=LIFT,
            stand_in_does="the bad deploy is rolled back (error fault lifted)",
            broken=("errors.ratio",),
            triage=(r"^(warn|fail) +errors\.ratio .*API requests were 5xx",),
        ),
        Scenario(
            "miss-storm",
            "cache-hit-rate-low",
            lingering={"cache.hit_ratio": "hit ratio over the alert's 5-minute window"},
            stand_ins=LIFT,
            stand_in_does="the client asking for new-format keys is rolled back (storm lifted)",
            broken=("cache.hit_ratio",),
            triage=(r"^(warn|fail) +cache\.hit_ratio .* 0 hits of",),
        ),
        Scenario(
            "partition",
            "network-partition",
            clients=60,  # 60 ends within the window: 1/s, twice the disconnect threshold
            lingering={"ws.disconnects": f"counts the cut sockets {_WINDOW}"},
            stand_ins=LIFT,
            stand_in_does="traffic is failed over to a healthy path (the proxy passes again)",
            broken=("ws.disconnects",),
            triage=(r"^(warn|fail) +ws\.disconnects .*the path between clients and server is broken",),
        ),
        # one instance of several: doctor reads the bus ($BACKEND_BUS_URL) to tell it from "Backend down"
        *(
            Scenario(
                name,
                "instance-down",
                companions=1,
                stand_ins=(StandIn.START_SERVICE,),
                triage=(r"one instance of several: .* read the bus and serve its clients",),
            )
            for name in ("instance-killed", "instance-stopped")
        ),
        Scenario(
            "bus-down",
            "message-bus-down",
            stand_ins=LIFT,
            stand_in_does="Redis is started again, empty (systemctl start redis-server)",
            lingering={
                "errors.ratio": f"the broadcasts refused with 503 bus_unavailable, {_WINDOW}",
                "ws.disconnects": f"the 1012 closes of the new numbering, {_WINDOW}",
            },
            broken=("bus.up",),
            triage=(r"^(warn|fail) +bus\.up .*cannot read the message bus",),
        ),
        Scenario(
            "bus-reader-stalled",
            "instance-lagging-bus",
            companions=1,
            stand_ins=(StandIn.START_SERVICE,),
            # the probe's own broadcast never comes; bus.lag judges the count against the alert's
            # limit, which a stuck reader passes only some seconds later
            broken=("ws.connect",),
            triage=(r"^(warn|fail) +bus\.lag .*broadcasts behind the bus",),
        ),
        Scenario(
            "capacity-too-low",
            "websocket-connections-near-capacity",
            params={"capacity": 3},  # below the game day's five clients
            stand_ins=LIFT,
            stand_in_does="the previous capacity is pushed back and the service restarted",
            lingering={
                "ws.handshakes": f"the clients refused with 1013, {_WINDOW}",
                "ws.disconnects": f"each refusal is a 1013 close, {_WINDOW}",
            },
            broken=("ws.handshakes", "ws.capacity"),
            triage=(r"settings given: .*BACKEND_WS_MAX_CONNECTIONS=3\b", r"^websocket: capacity .*refused with 1013"),
        ),
        # on a fleet: three instances of 40 places, 132 clients through nginx, each holding its socket
        # 4 to 12 s; the page's mitigation adds a fourth (33 each, under the alert's 36)
        Scenario(
            "clients-growing",
            "websocket-connections-near-capacity",
            {"ws_max_connections": 40},
            stand_ins=LIFT,
            stand_in_does="an instance is added (the clients leave)",
            lingering={"ws.handshakes": f"clients refused with 1013 while every place was taken, {_WINDOW}"},
            broken=("ws.capacity",),
            triage=(r"^(warn|fail) +ws\.capacity .*connections in use",),
            companions=1,
        ),
        Scenario(
            "near-capacity",
            "websocket-connections-near-capacity",
            {"ws_max_connections": 40},
            params={"share": 0.93},
            stand_ins=LIFT,
            stand_in_does="capacity is raised or idle clients are cut (the idle clients leave)",
            broken=("ws.capacity",),
            triage=(r"^(warn|fail) +ws\.capacity .*connections in use",),
        ),
    )
}
