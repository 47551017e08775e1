"""The one fault library: every fault a drill, a client scenario, a game day or a test makes,
under one kebab-case name, made in one place.

Drills, client scenarios and game days are measurements *over* these faults: they ask for a fault
by name (``FAULTS["server-killed"]``), give it its parameters, and measure what the backend and its
clients did. Grouped by what they break::

    process         server-killed, server-drained, hung-server, supervisor-gone, crash-loop, port-taken,
                    instance-killed, instance-stopped
    disk            cache-disk-full, cache-dir-deleted, data-disk-almost-full, data-volume-read-only
    database        db-write-lock, database-lost
    network         partition, connections-reset                      (through a Proxy)
    configuration   upgrade-dropped (through a Proxy), capacity-too-low, open-file-limit-too-low

A fault of the clients' path acts on a :class:`Proxy` the harness starts, or on a host's own nginx
(:class:`~scripts.faults.nginx_path.ClientsPath`, the rehearsal host's).
    load            overload, idle-connections, miss-storm, ws-drop-storm, slow-consumer-storm, near-capacity,
                    clients-growing, memory-from-load (drill route)
    injected        memory-pressure, injected-latency, error-spike, sockets-dropped   (drill routes)
    bus             bus-down, bus-reader-stalled (drill route)          (several instances' Redis)
"""

from __future__ import annotations

from scripts.faults import bus, configuration, database, disk, injected, load, network, process
from scripts.faults.base import Fault, FaultUnavailable, Lift, Target
from scripts.faults.proxy import Proxy

__all__ = ["FAULTS", "Fault", "FaultUnavailable", "Lift", "Proxy", "Target"]

FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault("server-killed", "process", "SIGKILL of the server process", process.server_killed),
        Fault("server-drained", "process", "SIGTERM of the server process: it drains", process.server_drained),
        Fault("hung-server", "process", "server alive but silent (SIGSTOP)", process.server_hung),
        Fault("supervisor-gone", "process", "the process we started killed; nothing listens", process.supervisor_gone),
        Fault("crash-loop", "process", "server killed three times in a row", process.crash_loop),
        Fault("instance-killed", "process", "supervisor and server SIGKILLed together", process.instance_killed),
        Fault(
            "instance-stopped",
            "process",
            "one instance of several stopped by its service manager, left stopped",
            process.instance_stopped,
        ),
        Fault(
            "port-taken",
            "process",
            "the server killed; another program takes its port before the restart",
            process.port_taken,
        ),
        Fault(
            "cache-disk-full",
            "disk",
            "the cache's own filesystem is full",
            disk.cache_disk_full,
            prepare=disk.cache_filesystem,
        ),
        Fault("cache-dir-deleted", "disk", "rm -rf of the cache directory", disk.cache_dir_deleted),
        Fault(
            "data-disk-almost-full",
            "disk",
            "a stray export fills the data volume to 92 %",
            disk.data_disk_almost_full,
            prepare=disk.data_filesystem,
        ),
        Fault(
            "data-volume-read-only",
            "disk",
            "the kernel takes the data volume read-only (as after an I/O error)",
            disk.data_volume_read_only,
            prepare=disk.data_volume,
        ),
        Fault("db-write-lock", "database", "another process holds SQLite's write lock", database.write_lock),
        Fault(
            "database-lost", "database", "the database file deleted; last night's backup exists", database.database_lost
        ),
        Fault(
            "partition",
            "network",
            "the network between the clients and the server drops packets (at least the answers)",
            network.partition,
            needs_proxy=True,
        ),
        Fault(
            "connections-reset",
            "network",
            "every connection on the path reset",
            network.connections_reset,
            needs_proxy=True,
        ),
        Fault(
            "upgrade-dropped",
            "configuration",
            "the proxy stops passing Upgrade; sockets dropped",
            configuration.upgrade_dropped,
            needs_proxy=True,
        ),
        Fault(
            "capacity-too-low",
            "configuration",
            "a configuration push sets the WebSocket capacity below the clients; the service restarts",
            configuration.capacity_too_low,
        ),
        Fault(
            "open-file-limit-too-low",
            "configuration",
            "a unit drop-in lowers LimitNOFILE below what the clients need; the service restarts",
            configuration.open_file_limit_too_low,
        ),
        Fault(
            "overload",
            "load",
            "clients keep asking for more than the instances serve, every request slowed",
            load.overload,
            drill_routes=True,
        ),
        Fault(
            "memory-from-load",
            "load",
            "requests in progress on every instance each hold a large buffer: RSS follows the load",
            load.memory_from_load,
            drill_routes=True,
        ),
        Fault("idle-connections", "load", "clients open connections and send nothing", load.idle_connections),
        Fault("miss-storm", "load", "every lookup asks for a key the cache never held", load.miss_storm),
        Fault(
            "ws-drop-storm",
            "load",
            "every socket cut by the server, again and again",
            load.ws_drop_storm,
            drill_routes=True,
        ),
        Fault("slow-consumer-storm", "load", "clients stop reading under a broadcast flood", load.slow_consumer_storm),
        Fault("near-capacity", "load", "idle clients hold most of the hub's places", load.near_capacity),
        Fault(
            "clients-growing",
            "load",
            "clients that come and go take most of every instance's places",
            load.clients_growing,
        ),
        Fault(
            "memory-pressure",
            "injected",
            "RSS past the watermark: new work is shed",
            injected.memory_pressure,
            drill_routes=True,
        ),
        Fault("injected-latency", "injected", "every API request slower", injected.injected_latency, drill_routes=True),
        Fault(
            "error-spike", "injected", "a share of the API requests answer 500", injected.error_spike, drill_routes=True
        ),
        Fault(
            "sockets-dropped",
            "injected",
            "the server closes every WebSocket once",
            injected.sockets_dropped,
            drill_routes=True,
        ),
        Fault("bus-down", "bus", "the instances' Redis killed; the lift starts it again", bus.bus_down, needs_bus=True),
        Fault(
            "bus-reader-stalled",
            "bus",
            "one instance's reader of the message bus stops reading",
            injected.bus_reader_stalled,
            drill_routes=True,
            needs_bus=True,
        ),
    )
}
