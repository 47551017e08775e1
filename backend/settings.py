"""Every knob of the backend, read once from the environment.

Each setting is declared once in ``SPECS`` with its environment variable, default, unit and a
one-line reason. The deployment guide renders its environment table from this list, so the docs
cannot drift from the code. A bad value is rejected at start-up with a one-line
:class:`SettingsError` naming the variable, what was found and what was expected.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backend.setting_specs import SPECS, SettingSpec

__all__ = ["SPECS", "Settings", "SettingsError", "SettingSpec"]


class SettingsError(ValueError):
    """Raised by :meth:`Settings.from_env` when a variable cannot be used."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """The parsed configuration; build it with :meth:`from_env`."""

    host: str
    port: int
    data_dir: Path
    instance_dir: Path
    max_body_bytes: int
    max_in_flight: int
    shed_loop_lag: float
    max_header_bytes: int
    http_header_timeout: float
    ws_max_connections: int
    ws_max_message_bytes: int
    ws_max_messages_per_second: int
    ws_send_queue: int
    ws_replay_buffer: int
    ws_ping_interval: float
    ws_ping_timeout: float
    ws_idle_timeout: float
    cache_memory_items: int
    cache_disk_bytes: int
    cache_probe_interval: float
    db_write_batch: int
    db_write_batch_wait: float
    read_cache_items: int
    db_busy_timeout: float
    memory_watermark_bytes: int
    memory_check_interval: float
    shutdown_grace: float
    supervisor_max_starts: int
    supervisor_window: float
    supervisor_backoff_max: float
    supervisor_health_interval: float
    supervisor_health_timeout: float
    supervisor_health_failures: int
    metrics_history_interval: float
    metrics_history_seconds: float
    error_log_interval: float
    ready_timeout: float
    bus_url: str
    faults_token: str
    log_level: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every ``BACKEND_*`` variable, falling back to the documented default."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in SPECS:
            raw = environ.get(spec.env)
            if raw is None or raw == "":
                values[spec.field] = spec.default
                continue
            try:
                value = spec.parse(raw.strip())
            except ValueError:
                raise SettingsError(f"{spec.env}={raw!r}: expected {spec.kind} ({spec.unit})") from None
            if spec.minimum is not None and value < spec.minimum:
                raise SettingsError(f"{spec.env}={raw!r}: must be at least {spec.minimum:g} {spec.unit}")
            values[spec.field] = value
        if values["port"] > 65535:
            raise SettingsError(f"BACKEND_PORT={values['port']}: must be at most 65535")
        values["data_dir"] = Path(values["data_dir"]).resolve()
        values["instance_dir"] = Path(values["instance_dir"] or values["data_dir"]).resolve()
        return cls(**values)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        return {spec.env: str(getattr(self, spec.field)) for spec in SPECS}
