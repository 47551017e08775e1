"""The table of every backend setting: its environment variable, default, unit, parser and the
one-line reason it exists. :mod:`backend.settings` reads the environment through it; the deployment
guide renders its table from it, so the docs cannot drift from the code."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SPECS", "SettingSpec"]

MiB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class SettingSpec:
    """One environment variable: where it goes, its default, and why it exists."""

    field: str
    env: str
    default: Any
    unit: str
    doc: str
    parse: Callable[[str], Any]
    minimum: float | None = None

    @property
    def kind(self) -> str:
        """What a value must look like, for the error that refuses one."""
        return "an integer" if self.parse is _positive_int else "a number" if self.parse is _number else "text"


def _positive_int(raw: str) -> int:
    return int(raw, 10)


def _number(raw: str) -> float:
    value = float(raw)
    if value != value:  # NaN
        raise ValueError("NaN")
    return value


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("host", "BACKEND_HOST", "127.0.0.1", "address", "Address the server binds.", str),
    SettingSpec("port", "BACKEND_PORT", 8080, "port", "TCP port of HTTP and WebSocket.", _positive_int, 1),
    SettingSpec(
        "data_dir",
        "BACKEND_DATA_DIR",
        Path(".data"),
        "path",
        "Holds the SQLite database, the disk cache and the supervisor lock.",
        Path,
    ),
    SettingSpec(
        "instance_dir",
        "BACKEND_INSTANCE_DIR",
        "",
        "path",
        "Holds this instance's disk cache and supervisor lock, when several instances share the "
        "database of BACKEND_DATA_DIR; empty = BACKEND_DATA_DIR.",
        str,
    ),
    SettingSpec(
        "max_body_bytes",
        "BACKEND_MAX_BODY_BYTES",
        1 * MiB,
        "bytes",
        "Largest request body; bigger bodies get 413 before they are read.",
        _positive_int,
        1,
    ),
    SettingSpec(
        "max_in_flight",
        "BACKEND_MAX_IN_FLIGHT",
        128,
        "requests",
        "Admission control: API requests served at once; one more is refused at once with 503 and "
        "Retry-After instead of queueing (probes are never refused); 0 turns it off.",
        _positive_int,
        0,
    ),
    SettingSpec(
        "shed_loop_lag",
        "BACKEND_SHED_LOOP_LAG",
        0.002,
        "seconds",
        "Admission by queue time: once the event loop has run later than this for 0.1 s in a row, a "
        "growing share of new API requests is refused with 503 and Retry-After; 0 turns it off.",
        _number,
        0.0,
    ),
    SettingSpec(
        "max_header_bytes",
        "BACKEND_MAX_HEADER_BYTES",
        16 * 1024,
        "bytes",
        "Largest request line plus headers; a bigger head gets 414 (the path) or 431 (the headers).",
        _positive_int,
        256,
    ),
    SettingSpec(
        "http_header_timeout",
        "BACKEND_HTTP_HEADER_TIMEOUT",
        10.0,
        "seconds",
        "A connection must deliver a whole request head this soon after it opens or starts a request; "
        "idle and slow-header (slowloris) connections are closed with 408.",
        _number,
        0.1,
    ),
    SettingSpec(
        "ws_max_connections",
        "BACKEND_WS_MAX_CONNECTIONS",
        1000,
        "connections",
        "WebSocket capacity; one more is closed with 1013 (try again later).",
        _positive_int,
        1,
    ),
    SettingSpec(
        "ws_max_message_bytes",
        "BACKEND_WS_MAX_MESSAGE_BYTES",
        64 * 1024,
        "bytes",
        "Largest client WebSocket message; bigger ones close the socket with 1009.",
        _positive_int,
        1,
    ),
    SettingSpec(
        "ws_max_messages_per_second",
        "BACKEND_WS_MAX_MESSAGES_PER_SECOND",
        100,
        "messages/s",
        "Messages one client may send per second (a burst of as many is allowed); a faster client "
        "(a ping flood) is closed with 1008.",
        _positive_int,
        1,
    ),
    SettingSpec(
        "ws_send_queue",
        "BACKEND_WS_SEND_QUEUE",
        256,
        "messages",
        "Per-connection send queue; a client that lets it fill is dropped as a slow consumer.",
        _positive_int,
        1,
    ),
    SettingSpec(
        "ws_replay_buffer",
        "BACKEND_WS_REPLAY_BUFFER",
        1000,
        "messages",
        "Broadcasts kept for clients that reconnect with ?since=N.",
        _positive_int,
        1,
    ),
    SettingSpec(
        "ws_ping_interval",
        "BACKEND_WS_PING_INTERVAL",
        20.0,
        "seconds",
        "Protocol-level ping interval (heartbeat) that finds dead peers.",
        _number,
        0.1,
    ),
    SettingSpec(
        "ws_ping_timeout",
        "BACKEND_WS_PING_TIMEOUT",
        20.0,
        "seconds",
        "A peer that does not answer a ping within this is disconnected.",
        _number,
        0.1,
    ),
    SettingSpec(
        "ws_idle_timeout",
        "BACKEND_WS_IDLE_TIMEOUT",
        300.0,
        "seconds",
        "A client that sends no message for this long is closed (1000, 'idle timeout').",
        _number,
        0.1,
    ),
    SettingSpec(
        "cache_memory_items",
        "BACKEND_CACHE_MEMORY_ITEMS",
        10_000,
        "items",
        "Size of the in-memory LRU tier.",
        _positive_int,
        1,
    ),
    SettingSpec(
        "cache_disk_bytes",
        "BACKEND_CACHE_DISK_BYTES",
        1024 * MiB,
        "bytes",
        "Size limit of the disk tier (diskcache culls beyond it).",
        _positive_int,
        1,
    ),
    SettingSpec(
        "cache_probe_interval",
        "BACKEND_CACHE_PROBE_INTERVAL",
        2.0,
        "seconds",
        "How often a degraded disk tier is re-tested so it recovers by itself.",
        _number,
        0.05,
    ),
    SettingSpec(
        "db_write_batch",
        "BACKEND_DB_WRITE_BATCH",
        64,
        "writes",
        "Group commit: most writes committed by one transaction (one fsync).",
        _positive_int,
        1,
    ),
    SettingSpec(
        "db_write_batch_wait",
        "BACKEND_DB_WRITE_BATCH_WAIT",
        0.0005,
        "seconds",
        "Group commit: how long the writer waits for more writes after the first (a lone write "
        "waits this long); 0 takes only what queued during the previous commit.",
        _number,
        0.0,
    ),
    SettingSpec(
        "read_cache_items",
        "BACKEND_READ_CACHE_ITEMS",
        1000,
        "counters",
        "Counters kept in the read-through LRU in front of SQLite; an increment invalidates its entry. "
        "Off with BACKEND_BUS_URL: another instance's increment could not invalidate it.",
        _positive_int,
        1,
    ),
    SettingSpec(
        "db_busy_timeout",
        "BACKEND_DB_BUSY_TIMEOUT",
        5.0,
        "seconds",
        "How long a query waits for a lock before the request gets 503.",
        _number,
        0.0,
    ),
    SettingSpec(
        "memory_watermark_bytes",
        "BACKEND_MEMORY_WATERMARK_BYTES",
        512 * MiB,
        "bytes",
        "RSS above which new work is shed with 503 + Retry-After and /ready fails.",
        _positive_int,
        1,
    ),
    SettingSpec(
        "memory_check_interval",
        "BACKEND_MEMORY_CHECK_INTERVAL",
        1.0,
        "seconds",
        "How often the memory guard samples RSS.",
        _number,
        0.05,
    ),
    SettingSpec(
        "shutdown_grace",
        "BACKEND_SHUTDOWN_GRACE",
        10.0,
        "seconds",
        "On SIGTERM, in-flight requests get this long to finish.",
        _number,
        0.0,
    ),
    SettingSpec(
        "supervisor_max_starts",
        "BACKEND_SUPERVISOR_MAX_STARTS",
        5,
        "starts",
        "Crash loop: this many starts inside the window makes the supervisor give up.",
        _positive_int,
        1,
    ),
    SettingSpec(
        "supervisor_window", "BACKEND_SUPERVISOR_WINDOW", 60.0, "seconds", "The crash-loop window.", _number, 0.1
    ),
    SettingSpec(
        "supervisor_backoff_max",
        "BACKEND_SUPERVISOR_BACKOFF_MAX",
        10.0,
        "seconds",
        "Cap of the exponential restart backoff.",
        _number,
        0.0,
    ),
    SettingSpec(
        "supervisor_health_interval",
        "BACKEND_SUPERVISOR_HEALTH_INTERVAL",
        2.0,
        "seconds",
        "Watchdog: how often the supervisor asks its server's /health once it is ready.",
        _number,
        0.05,
    ),
    SettingSpec(
        "supervisor_health_timeout",
        "BACKEND_SUPERVISOR_HEALTH_TIMEOUT",
        2.0,
        "seconds",
        "Watchdog: a /health answer slower than this counts as a failed probe.",
        _number,
        0.05,
    ),
    SettingSpec(
        "supervisor_health_failures",
        "BACKEND_SUPERVISOR_HEALTH_FAILURES",
        3,
        "probes",
        "Watchdog: this many failed probes in a row and the hung server is killed and restarted "
        "(defaults: a hang is caught within 3 x (2 + 2) = 12 s).",
        _positive_int,
        1,
    ),
    SettingSpec(
        "metrics_history_interval",
        "BACKEND_METRICS_HISTORY_INTERVAL",
        5.0,
        "seconds",
        "How often the server keeps a copy of its own /metrics for GET /metrics?ago=S.",
        _number,
        0.05,
    ),
    SettingSpec(
        "error_log_interval",
        "BACKEND_ERROR_LOG_INTERVAL",
        10.0,
        "seconds",
        "The journal gets one line per kind of error per component at most this often; the lines "
        "held back are counted on the next one (GET /ready always shows the newest error).",
        _number,
        0.01,
    ),
    SettingSpec(
        "metrics_history_seconds",
        "BACKEND_METRICS_HISTORY_SECONDS",
        660.0,
        "seconds",
        "How far back /metrics?ago=S reaches: the longest alert window (10m) and a margin.",
        _number,
        1.0,
    ),
    SettingSpec(
        "ready_timeout",
        "BACKEND_READY_TIMEOUT",
        30.0,
        "seconds",
        "How long the supervisor waits for a new server's /ready before it counts as failed.",
        _number,
        0.1,
    ),
    SettingSpec(
        "bus_url",
        "BACKEND_BUS_URL",
        "",
        "url",
        "Redis of the message bus that several instances share (redis://HOST:PORT/DB): every broadcast "
        "goes through its stream to every instance; empty = one instance, broadcasts kept in SQLite.",
        str,
    ),
    SettingSpec(
        "faults_token",
        "BACKEND_FAULTS_TOKEN",
        "",
        "secret",
        "Enables the /_faults drill routes, which then require this token; empty = no routes.",
        str,
    ),
    SettingSpec("log_level", "BACKEND_LOG_LEVEL", "info", "level", "Log level of the server.", str),
)
